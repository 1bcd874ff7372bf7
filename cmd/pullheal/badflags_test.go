package main

import (
	"strings"
	"testing"
)

// TestBadFlagValues: a flag value a command cannot run with is bad input,
// refused before any work with one line that names the flag and exit 2. A
// zero is never silently replaced by the default.
func TestBadFlagValues(t *testing.T) {
	// No AWS call may be made: every case must be refused before one.
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	queue := "http://127.0.0.1:9/123456789012/q"
	tests := []struct {
		name string
		args []string
		want string // in the one line, after the flag's name
	}{
		{"agent no workers", []string{"agent", "--queue-url", queue, "--workers", "0"}, "--workers 0"},
		{"agent too many workers", []string{"agent", "--queue-url", queue, "--workers", "100000"}, "--workers 100000"},
		{"agent zero visibility", []string{"agent", "--queue-url", queue, "--visibility", "0s"}, "--visibility 0s"},
		{"agent visibility past 12h", []string{"agent", "--queue-url", queue, "--visibility", "13h"}, "--visibility 13h0m0s"},
		{"agent visibility not whole seconds", []string{"agent", "--queue-url", queue, "--visibility", "2500ms"}, "--visibility 2.5s"},
		{"agent wait time past 20s", []string{"agent", "--queue-url", queue, "--wait-time", "21s"}, "--wait-time 21s"},
		{"agent negative grace", []string{"agent", "--queue-url", queue, "--shutdown-grace", "-1s"}, "--shutdown-grace -1s"},
		{"agent queue not a URL", []string{"agent", "--queue-url", "not a url"}, `--queue-url "not a url"`},
		{"agent queue without a name", []string{"agent", "--queue-url", "https://sqs.us-east-1.amazonaws.com/"}, "--queue-url"},
		{"agent queue with another scheme", []string{"agent", "--queue-url", "ftp://sqs.us-east-1.amazonaws.com/1/q"}, "--queue-url"},
		{"agent zero message budget", []string{"agent", "--queue-url", queue, "--message-budget", "0s"}, "--message-budget 0s"},
		{"agent budget past the SQS visibility limit", []string{"agent", "--queue-url", queue, "--visibility", "6h", "--message-budget", "7h"}, "--message-budget 7h0m0s"},
		{"mirror no jobs", []string{"mirror", "--jobs", "0", "docker.io/library/alpine:3", "127.0.0.1:1/x:1"}, "--jobs 0"},
		{"mirror platform without arch", []string{"mirror", "--platform", "linux", "docker.io/library/alpine:3", "127.0.0.1:1/x:1"}, `--platform: platform "linux": want os/arch`},
		{"sync no jobs", []string{"sync", "--jobs", "0", "--policy", "testdata/policy.yaml"}, "--jobs 0"},
		{"sync no jobs before the policy", []string{"sync", "--jobs", "0"}, "--jobs 0"},
		{"demo zero timeout", []string{"demo", "--timeout", "0s"}, "--timeout 0s"},
		{"agent listen port out of range", []string{"agent", "--queue-url", queue, "--listen", ":99999"}, `--listen ":99999": port "99999"`},
		{"agent listen without a port", []string{"agent", "--queue-url", queue, "--listen", "nonsense"}, `--listen "nonsense"`},
		{"mirror negative reserve", []string{"mirror", "--reserve", "-1", "docker.io/library/alpine:3", "127.0.0.1:1/x:1"}, "--reserve -1"},
		{"mirror destination port out of range", []string{"mirror", "docker.io/library/alpine:3", "127.0.0.1:99999/x:1"}, "port 99999 is not from 1 to 65535"},
		{"explain registry port out of range", []string{"explain", "--registry", "reg.example:99999", "testdata/events/running.json"}, `--registry "reg.example:99999"`},
		{"scan negative batch interval", []string{"scan", "--batch-interval", "-1s"}, "--batch-interval -1s"},
		{"scan rate-limited not a host", []string{"scan", "--rate-limited", "not a host!"}, `--rate-limited "not a host!"`},
		{"scan registry port out of range", []string{"scan", "--registry", "reg.example:99999"}, `--registry "reg.example:99999"`},
		{"healthcheck listen port out of range", []string{"healthcheck", "--listen", ":99999"}, `--listen ":99999": port "99999"`},
		{"healthcheck url port out of range", []string{"healthcheck", "--url", "http://127.0.0.1:99999/healthz"}, `port "99999"`},
		// The test bed reads zeros as its defaults; local must not start.
		{"local zero hub limit", []string{"local", "--hub-limit", "0"}, "--hub-limit 0"},
		{"local negative hub auth limit", []string{"local", "--hub-auth-limit", "-5"}, "--hub-auth-limit -5"},
		{"local zero restart delay", []string{"local", "--restart-delay", "0s"}, "--restart-delay 0s"},
		{"local negative hub window", []string{"local", "--hub-window", "-1h"}, "--hub-window -1h0m0s"},
		{"local listen port out of range", []string{"local", "--listen", "127.0.0.1:99999"}, `--listen "127.0.0.1:99999"`},
		{"local two servers on one address", []string{"local", "--listen", "127.0.0.1:24566", "--registry-listen", "127.0.0.1:24566"}, "--registry-listen 127.0.0.1:24566: the address of --listen too"},
		{"local state is a file", []string{"local", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--hub-listen", "127.0.0.1:0", "--state", "testdata/policy.yaml"}, "--state testdata/policy.yaml: not a directory"},
		{"policy unknown subcommand", []string{"policy", "vaildate", "testdata/policy.yaml"}, `unknown policy command "vaildate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			wantInputError(t, code, stderr, tc.want)
		})
	}
}

// wantInputError checks the outcome of input the user got wrong: exit 2
// and one line on stderr that names want.
func wantInputError(t *testing.T, code int, stderr, want string) {
	t.Helper()
	if code != exitInput {
		t.Errorf("exit %d, want %d; stderr %q", code, exitInput, stderr)
	}
	line := strings.TrimSuffix(stderr, "\n")
	if strings.Contains(line, "\n") {
		t.Errorf("more than one line: %q", stderr)
	}
	if !strings.HasPrefix(line, "pullheal: ") || !strings.Contains(line, want) {
		t.Errorf("stderr %q; want one line naming %q", stderr, want)
	}
}
