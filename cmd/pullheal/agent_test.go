package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentStartupExitCodes: 2 is for what the user gave; a start-up that
// fails for another reason exits 1.
func TestAgentStartupExitCodes(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // never reached
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	queue := "http://127.0.0.1:9/123456789012/q"
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no queue", nil, []string{"agent"}, exitInput, "--queue-url"},
		{"no workers", nil, []string{"agent", "--queue-url", queue, "--workers", "-1"}, exitInput, "workers"},
		{"visibility too short", nil, []string{"agent", "--queue-url", queue, "--visibility", "1s"}, exitInput, "visibility"},
		{"lease too short", nil, []string{"agent", "--queue-url", queue, "--lock-table", "locks", "--lease", "10ms"}, exitInput, "lease"},
		{"bad registry", nil, []string{"agent", "--queue-url", queue, "--registry", "not a host"}, exitInput, "--registry"},
		{"bad log level", nil, []string{"agent", "--queue-url", queue, "--log-level", "loud"}, exitInput, "--log-level"},
		{"no such AWS profile", map[string]string{"AWS_PROFILE": "nobody"}, []string{"agent", "--queue-url", queue}, exitFailure, "AWS configuration"},
		{"listener taken", nil, []string{"agent", "--queue-url", queue, "--listen", busy.Addr().String()}, exitFailure, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// An agent that starts by mistake stops with the context and
			// exits 0, failing the case rather than hanging the test.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, append([]string{"pullheal"}, tc.args...), strings.NewReader(""), &out, &errOut)
			stderr := errOut.String()
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(stderr, `"level"`) {
				t.Errorf("stderr is more than one line: %q", stderr)
			}
		})
	}
}
