package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "--version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "pullheal ") || !strings.HasPrefix(lines[1], "commit: ") ||
		lines[2] != "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("--version printed:\n%s", stdout)
	}
}

func TestRootWithoutCommand(t *testing.T) {
	if code, stdout, _ := runCLI(t, ""); code != 0 || !strings.Contains(stdout, "healthcheck") {
		t.Errorf("no arguments: exit %d, want 0 and the help listing the commands:\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "", "bogus"); code != 2 || !strings.Contains(stderr, `unknown command "bogus"`) {
		t.Errorf("unknown command: exit %d, stderr %q; want 2 naming it", code, stderr)
	}
}
