//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

// TestAgentFailsFastOnItsQueue: an agent whose queue does not exist, or
// that has no credentials, exits 1 within 10 s with one line naming the
// queue and the cause, instead of retrying a receive that never succeeds.
func TestAgentFailsFastOnItsQueue(t *testing.T) {
	b := startBed(t, t.TempDir(), ephemeral)
	// The test bed's account, a queue never created.
	missing := strings.TrimRight(b.env["AWS_ENDPOINT_URL"], "/") + "/123456789012/no-such-queue"
	dir := t.TempDir()
	noCredentials := []string{
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"), "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
	}
	tests := []struct {
		name  string
		env   []string
		cause string
	}{
		{"missing queue", nil, "the queue does not exist"},
		{"no credentials", noCredentials, "no AWS credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// No --listen: the default port may be taken on the test machine,
			// and the check comes first whatever the listener does.
			cmd := exec.CommandContext(ctx, binary, "agent", "--queue-url", missing, "--listen", "")
			cmd.Env = append(append(proctest.HermeticEnv(), b.agentEnv("")...), tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			if took > 10*time.Second {
				t.Errorf("took %s to exit, want at most 10s", took)
			}
			line := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(line, "\n") {
				t.Errorf("stderr is more than one line:\n%s", stderr.String())
			}
			if !strings.HasPrefix(line, "pullheal: queue "+missing+": ") || !strings.Contains(line, tc.cause) {
				t.Errorf("stderr %q; want one line naming the queue %s and %q", line, missing, tc.cause)
			}
			t.Logf("exit 1 after %s: %s", took.Round(time.Millisecond), line)
		})
	}
}
