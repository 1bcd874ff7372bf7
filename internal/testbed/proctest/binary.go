package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// FindBinary returns the pullheal binary a suite runs: PULLHEAL_E2E_BINARY
// when set, else the one `make build` leaves in root/bin, else one built
// from root into a temporary directory that cleanup removes.
func FindBinary(root string) (path string, cleanup func(), err error) {
	if p := os.Getenv("PULLHEAL_E2E_BINARY"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", nil, fmt.Errorf("PULLHEAL_E2E_BINARY %q: %w", p, err)
		}
		return abs, func() {}, nil
	}
	built, err := filepath.Abs(filepath.Join(root, "bin", "pullheal"))
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
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build pullheal: %w", err)
	}
	return out, func() { os.RemoveAll(dir) }, nil
}
