package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestReviewCommandsRefuseBadInput: flags and arguments are checked before
// any AWS call, each with exit 2 and one line naming what is wrong.
func TestReviewCommandsRefuseBadInput(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "ecs.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"revisions", "extra"}, "revisions takes no arguments"},
		{[]string{"revisions", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"approve", "--service", "web"}, "--cluster and --service are required"},
		{[]string{"approve", "--cluster", "prod", "--service", "web", "a", "b"}, "at most one REVISION"},
		{[]string{"revert", "--cluster", "prod"}, "--cluster and --service are required"},
		{[]string{"revert", "--cluster", "prod", "--service", "web", "web:2"}, "revert takes no arguments"},
		{[]string{"scan", "--apply", "deploy"}, `--apply "deploy"`},
		{[]string{"scan", "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"scan", "--policy", filepath.Join(full, "missing.yaml")}, "missing.yaml"},
		{[]string{"demo", "--state", full}, "directory is not empty"},
	} {
		code, _, stderr := runCLI(t, "", tc.args...)
		if code != exitInput || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("pullheal %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

func TestTextFitsWidth(t *testing.T) {
	long := "container \"web\" image: nginx:1.27 -> 123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27@sha256:" + strings.Repeat("ab", 32)
	for _, text := range []string{long, strings.Repeat("x", 350), "short"} {
		out := wrapIndented("    ", text, textWidth)
		joined := ""
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if n := utf8.RuneCountInString(l); n > textWidth {
				t.Errorf("line of %d columns: %q", n, l)
			}
			joined += strings.TrimSpace(l)
		}
		if strings.ReplaceAll(joined, " ", "") != strings.ReplaceAll(text, " ", "") {
			t.Errorf("wrapping lost text:\n%s\nfrom %q", out, text)
		}
	}
	if got := fit("prod-cluster-with-a-very-long-name/service-with-a-long-name", 30); utf8.RuneCountInString(got) != 30 ||
		!strings.HasPrefix(got, "prod-cluster") || !strings.HasSuffix(got, "long-name") {
		t.Errorf("fit = %q", got)
	}
}
