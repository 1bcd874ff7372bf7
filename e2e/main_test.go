//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	path, cleanup, err := findBinary()
	if err != nil {
		return 0, err
	}
	defer cleanup()
	binary = path
	return m.Run(), nil
}

// findBinary returns the binary `make build` leaves in bin/, or builds one
// into a temporary directory when there is none.
func findBinary() (string, func(), error) {
	if p := os.Getenv("PULLHEAL_E2E_BINARY"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", nil, fmt.Errorf("PULLHEAL_E2E_BINARY %q: %w", p, err)
		}
		return abs, func() {}, nil
	}
	built, err := filepath.Abs(filepath.Join("..", "bin", "pullheal"))
	if err != nil {
		return "", nil, err
	}
	if st, err := os.Stat(built); err == nil && !st.IsDir() {
		return built, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "pullheal-e2e-")
	if err != nil {
		return "", nil, err
	}
	out := filepath.Join(dir, "pullheal")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/pullheal")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build pullheal: %w", err)
	}
	return out, func() { os.RemoveAll(dir) }, nil
}
