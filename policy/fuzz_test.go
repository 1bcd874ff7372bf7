package policy_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/policy"
)

// seedPolicies adds every policy file of the package as a seed.
func seedPolicies(f *testing.F, add func(data []byte)) {
	for _, pattern := range []string{"examples/*.yaml", "testdata/*/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			add(data)
		}
	}
	add([]byte("version: 1\nimages: [{match: '**', action: mirror, tags: {semver: '>=1'}}]\n"))
	add([]byte("version: 1\na: &x [*x]\n"))
	add([]byte("{"))
}

// checkResult holds Parse and Load to their contract on any input: a
// policy or an *Error whose problems are one line each and point into the
// file; a policy answers Decide and InScope.
func checkResult(t *testing.T, file string, data []byte, p *policy.Policy, err error) {
	t.Helper()
	if (p == nil) == (err == nil) {
		t.Fatalf("got policy %v and error %v: want exactly one", p != nil, err)
	}
	if err != nil {
		var perr *policy.Error
		if !errors.As(err, &perr) || len(perr.Problems) == 0 {
			t.Fatalf("error %T %q is not a *policy.Error with problems", err, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, pr := range perr.Problems {
			if pr.File != file || pr.Message == "" || strings.Contains(pr.Message, "\n") || pr.Line < 0 || pr.Line > lines+1 || pr.Column < 0 {
				t.Fatalf("bad problem %q (file has %d lines)", pr, lines)
			}
		}
		return
	}
	for _, s := range []string{"nginx:1.27", "ngnix@sha256:" + strings.Repeat("0", 64), "quay.io/a/b/c:v1.2.3", "bitnami/redis:7.2-alpine"} {
		ref, err := imageref.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(ref, policy.Subject{Cluster: "prod", Service: "web", Family: "web"})
		if d.Rule == "" {
			t.Fatalf("Decide(%s) names no rule: %+v", s, d)
		}
	}
	p.InScope(policy.Subject{Cluster: "c"})
}

func FuzzParse(f *testing.F) {
	seedPolicies(f, func(data []byte) { f.Add(data) })
	file := filepath.Join(f.TempDir(), "policy.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(file, data)
		checkResult(t, file, data, p, err)
	})
}

func FuzzLoad(f *testing.F) {
	seedPolicies(f, func(data []byte) { f.Add(data) })
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := policy.Load(file)
		checkResult(t, file, data, p, err)
	})
}

func FuzzParseCustomization(f *testing.F) {
	for _, s := range []string{"VOLUME /data", "ENV A=\"b c\"", "DIR /x 1750", "env K='v'\\ w", "DIR /a\\ b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := policy.ParseCustomization(line)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, p := range c.Paths {
			if !strings.HasPrefix(p, "/") || p == "/" {
				t.Fatalf("%q: accepted path %q", line, p)
			}
		}
		if c.Instruction == policy.CustomizeEnv && c.Key == "" {
			t.Fatalf("%q: ENV without a key", line)
		}
	})
}
