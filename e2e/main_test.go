//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

// binary is the pullheal executable every test runs.
var binary string

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	path, cleanup, err := proctest.FindBinary("..")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	binary = path
	return m.Run(), nil
}
