package localaws_test

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
)

// TestStateFileThatIsAFIFO: a state file that is a FIFO (or a device) is
// refused at start, naming it, instead of blocking the start forever
// waiting for a writer.
func TestStateFileThatIsAFIFO(t *testing.T) {
	for _, name := range []string{"ecs.json", "secretsmanager.json", "ecr.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				s, err := localaws.Start(context.Background(), localaws.Config{StateDir: dir})
				if err == nil {
					s.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") {
					t.Errorf("Start: %v, want an error naming %s as a FIFO", err, name)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Start blocked on the FIFO")
			}
		})
	}
}
