package mirror_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the engine a library: no policy model, no metrics
// library, no test bed. Callers adapt (a Transform, a Gauge).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/pullheal/pullheal/policy",
			"github.com/pullheal/pullheal/internal/testbed",
			"github.com/prometheus/",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("internal/mirror depends on %s", dep)
			}
		}
	}
}
