//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pullheal/pullheal/agent"
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

// TestAgentReportsItsConfiguration: the binary logs the configuration in
// force once at start and serves it at /config; --log-level debug shows
// duplicate messages with their reason; and the account STS names is
// the account of the test bed's events, so that a real heal still happens
// (none is dropped as another account's).
func TestAgentReportsItsConfiguration(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true})
	b.waitQueued(t, 2)
	p := proctest.Start(t, "agent", binary, b.agentEnv(""), "agent", "--queue-url", b.sc.QueueURL, "--wait-time", waitTime,
		"--visibility", "5s", "--listen", "127.0.0.1:0", "--log-level", "debug")
	addr := p.WaitLog(t, 20*time.Second, "its metrics address", func(l proctest.LogLine) bool { return l.Msg() == "serving metrics and health" }).Str("address")
	logged := p.WaitLog(t, 20*time.Second, "its configuration", func(l proctest.LogLine) bool { return l.Msg() == "configuration in force" })
	b.waitHealed(t)

	resp, err := http.Get("http://" + addr + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served agent.RunningConfig
	if err := json.NewDecoder(resp.Body).Decode(&served); err != nil {
		t.Fatalf("/config: %v", err)
	}
	var atStart agent.RunningConfig
	raw, _ := json.Marshal(logged["config"])
	if err := json.Unmarshal(raw, &atStart); err != nil {
		t.Fatalf("logged config: %v", err)
	}
	for name, c := range map[string]agent.RunningConfig{"/config": served, "the start line": atStart} {
		if c.Registry != b.registry || c.QueueURL != b.sc.QueueURL || c.Account == "" || c.Region != b.env["AWS_REGION"] ||
			c.Workers != 10 || c.Visibility != "5s" || c.MessageBudget != agent.DefaultMessageBudget.String() || len(c.PullThrough) == 0 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if n := len(p.Logs(func(l proctest.LogLine) bool { return l.Msg() == "dropping event of another account or region" })); n != 0 {
		t.Errorf("%d of the test bed's own events dropped as another account's or region's", n)
	}
	if n := len(p.Logs(func(l proctest.LogLine) bool { return l.Msg() == "configuration in force" })); n != 1 {
		t.Errorf("configuration logged %d times, want once", n)
	}
	// Two stop events of one failure: the second is a duplicate, logged
	// at debug with its reason.
	eventually(t, healTimeout, "a debug line for a duplicate", func() (bool, string) {
		lines := p.Logs(func(l proctest.LogLine) bool {
			return l.Msg() == "duplicate" && l.Str("level") == "DEBUG" && l.Str("reason") != ""
		})
		return len(lines) > 0, "no duplicate line yet"
	})
}
