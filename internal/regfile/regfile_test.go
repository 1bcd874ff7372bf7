package regfile_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pullheal/pullheal/internal/regfile"
)

func TestOpenRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(regular, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{regular, ""},
		{link, ""},
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{sock, "no such device or address"}, // open(2) refuses a socket itself
		{dir, "is a directory, not a regular file"},
		{"/dev/null", "is a character device, not a regular file"},
	} {
		data, rerr := regfile.ReadFile(tc.path)
		f, err := regfile.Open(tc.path)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Open(%s): %v", tc.path, err)
				continue
			}
			f.Close()
			if rerr != nil || string(data) != "version: 1\n" {
				t.Errorf("ReadFile(%s) = %q, %v", tc.path, data, rerr)
			}
			continue
		}
		if rerr == nil || rerr.Error() != err.Error() {
			t.Errorf("ReadFile(%s): %v, want Open's error %v", tc.path, rerr, err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", tc.path, err, tc.want)
		}
		if err != nil && tc.path != sock && !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("Open(%s): %v does not wrap ErrNotRegular", tc.path, err)
		}
	}
}

func TestOpenInStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "policies")
	for _, d := range []string{dir, filepath.Join(dir, "lc")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(parent, "secret.json")
	for path, data := range map[string]string{secret: `{"password":"x"}`, filepath.Join(dir, "lc/keep.json"): `{}`} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(dir, "out.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("lc/keep.json", filepath.Join(dir, "in.json")); err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{
		"lc/keep.json":       true,
		"in.json":            true,
		"lc/../lc/keep.json": true,
		"../secret.json":     false,
		"out.json":           false,
		secret:               false,
	} {
		f, err := regfile.OpenIn(dir, name)
		if ok != (err == nil) {
			t.Errorf("OpenIn(%s) = %v, want ok=%v", name, err, ok)
		}
		if err == nil {
			f.Close()
		}
	}
}
