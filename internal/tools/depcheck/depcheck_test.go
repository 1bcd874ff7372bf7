package depcheck_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const (
	module  = "github.com/pullheal/pullheal"
	testbed = module + "/internal/testbed"
)

// Packages that may import the test bed: the test bed itself, the suites
// that drive it, the tools, and the CLI (whose `local` and `demo` commands
// serve it; the image's binary is checked separately with its build tag).
var mayImport = []string{testbed, module + "/e2e", module + "/internal/tools", module + "/cmd/pullheal"}

// TestProductDoesNotImportTestBed lists every package of the module and
// fails for any product package whose non-test dependencies include the
// test bed.
func TestProductDoesNotImportTestBed(t *testing.T) {
	pkgs := goList(t, "./...")
	checked := 0
	for _, pkg := range pkgs {
		if allowed(pkg) {
			continue
		}
		checked++
		for _, dep := range goList(t, "-deps", pkg) {
			if dep == testbed || strings.HasPrefix(dep, testbed+"/") {
				t.Errorf("%s imports the test bed (%s)", pkg, dep)
			}
		}
	}
	// The guard must be looking at something: agent, policy, the mirror
	// engine and the rest of internal/.
	if checked < 10 {
		t.Fatalf("only %d product packages checked; go list found %v", checked, pkgs)
	}
}

func allowed(pkg string) bool {
	for _, p := range mayImport {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}}"}, args...)...)
	cmd.Dir = "../../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v: %s", args, err, stderr.String())
	}
	return strings.Fields(string(out))
}
