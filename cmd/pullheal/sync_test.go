package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/imagesync"
)

// syncPolicy is the policy imagesync's own tests sync: plain images by
// exact tag, glob and semver, a customised redis, and names it refuses.
const syncPolicy = "../../internal/imagesync/testdata/sync.yaml"

func TestSyncCommand(t *testing.T) {
	srv := testBed(t)
	// No --registry and none in the policy: the ECR token names it.
	code, stdout, stderr := runCLI(t, "", "sync", "--policy", syncPolicy, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep imagesync.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	want := imagesync.Summary{Copied: 5, Customized: 1, Skipped: 4}
	if d := cmp.Diff(want, rep.Summary); d != "" || rep.Registry != srv.RegistryHost() {
		t.Errorf("registry %s, summary (-want +got):\n%s", rep.Registry, d)
	}
	for _, im := range rep.Images {
		if im.Action == imagesync.Copied && im.Digest != im.SourceDigest {
			t.Errorf("%s: digest %s in ECR, %s upstream", im.Source, im.Digest, im.SourceDigest)
		}
	}
	pulls := srv.Hub.Pulls().Total

	code, stdout, stderr = runCLI(t, "", "sync", "--policy", syncPolicy, "--registry", srv.RegistryHost())
	if code != 0 {
		t.Fatalf("second sync: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want 10 images and a summary:\n%s", len(lines), stdout)
	}
	for _, l := range lines[:10] {
		if !strings.HasPrefix(l, "already mirrored docker.io/") && !strings.HasPrefix(l, "skipped docker.io/") {
			t.Errorf("second sync: %q", l)
		}
	}
	for _, want := range []string{
		"already mirrored docker.io/library/redis:7.2 -> " + srv.RegistryHost() + "/mirror/library/redis:7.2@sha256:",
		"skipped docker.io/library/ngnix:1.27: typosquat: possible typosquat of docker.io/library/nginx (distance 2)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if got, want := lines[10], "synced into "+srv.RegistryHost()+": 0 copied, 0 customized, 6 already mirrored, 4 skipped, 0 failed"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got := srv.Hub.Pulls().Total; got != pulls {
		t.Errorf("the second sync made %d pulls", got-pulls)
	}
}

func TestSyncDryRun(t *testing.T) {
	srv := testBed(t)
	code, stdout, stderr := runCLI(t, "", "sync", "--policy", syncPolicy, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"would sync docker.io/library/nginx:1.27 -> " + srv.RegistryHost() + "/mirror/library/nginx:1.27 (dry run)\n",
		"would sync docker.io/library/redis:7.2 -> " + srv.RegistryHost() + "/mirror/library/redis:7.2 (ENV FOO=bar; VOLUME /data; DIR /data 0750; dry run)\n",
		"dry run: 6 to sync, 4 skipped, 0 failed\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if got := srv.Hub.Pulls().Total; got != 0 {
		t.Errorf("dry run made %d pulls", got)
	}
}

func TestSyncExitCodes(t *testing.T) {
	srv := testBed(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := write("missing.yaml", "version: 1\nimages:\n  - match: [nosuchimage, nginx]\n    tags: {exact: [\"1.26\"]}\n    action: mirror\n")
	invalid := write("invalid.yaml", "version: 1\nimages:\n  - match: [nginx]\n    action: mirrror\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"an image fails", []string{"--policy", missing}, 1, "pullheal: sync: 1 of 2 images failed"},
		{"no policy", nil, 2, "pullheal: sync needs --policy FILE"},
		{"policy not found", []string{"--policy", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml"},
		{"invalid policy", []string{"--policy", invalid}, 2, "invalid.yaml:4:13"},
		{"bad output", []string{"--policy", missing, "--output", "yaml"}, 2, `--output "yaml": want json or text`},
		{"negative reserve", []string{"--policy", missing, "--reserve", "-1"}, 2, "--reserve -1: must not be negative"},
		{"bad endpoints", []string{"--policy", missing, "--registry-endpoints", "docker.io"}, 2, "--registry-endpoints"},
		{"bad registry", []string{"--policy", missing, "--registry", "not a host"}, 2, "registry"},
		{"an argument", []string{"--policy", missing, "nginx"}, 2, `sync takes no arguments, got "nginx"`},
		{"unknown flag", []string{"--polcy", missing}, 2, "polcy"},
	} {
		code, stdout, stderr := runCLI(t, "", append([]string{"sync"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", tc.name, code, stderr, tc.code, tc.stderr)
		}
		if tc.code == 1 && !strings.Contains(stdout, "failed docker.io/library/nosuchimage:1.26 -> "+srv.RegistryHost()+"/mirror/library/nosuchimage:1.26: ") {
			t.Errorf("%s: stdout lacks the failed image:\n%s", tc.name, stdout)
		}
	}
}
