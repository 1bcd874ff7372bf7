package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestBadInputFilesAndEnvironment: files named by flags (--blob-cache) and
// what the AWS SDK reads from the environment are the user's input too:
// one line naming the file or variable, exit 2, before any request, and a
// file that is not ours left as it was.
func TestBadInputFilesAndEnvironment(t *testing.T) {
	noAWS(t)
	loopback := map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A policy given as the blob cache: saving the cache would replace it.
	notCache := filepath.Join(dir, "policy.yaml")
	policyText, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notCache, policyText, 0o644); err != nil {
		t.Fatal(err)
	}
	lonequote, err := filepath.Abs("testdata/badinput/aws-config-lone-quote.ini")
	if err != nil {
		t.Fatal(err)
	}
	queue := "http://127.0.0.1:9/123456789012/q"
	src, dst := "docker.io/library/alpine:3", "127.0.0.1:1/x:1"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"explain null event", nil, []string{"explain", "testdata/badinput/event-null.json"}, "testdata/badinput/event-null.json: malformed event: got null, want object"},
		{"mirror blob cache is another file", nil, []string{"mirror", "--blob-cache", notCache, src, dst}, "--blob-cache: blob cache " + notCache + ": not a pullheal blob cache"},
		{"sync blob cache is another file", nil, []string{"sync", "--policy", syncPolicy, "--registry", "127.0.0.1:1", "--blob-cache", notCache}, "not a pullheal blob cache"},
		{"mirror blob cache is a directory", nil, []string{"mirror", "--blob-cache", dir, src, dst}, "is a directory, not a regular file"},
		{"mirror blob cache is a fifo", nil, []string{"mirror", "--blob-cache", fifo, src, dst}, "is a named pipe (FIFO), not a regular file"},
		{"mirror blob cache is a device", nil, []string{"mirror", "--blob-cache", "/dev/zero", src, dst}, "is a character device, not a regular file"},
		{"mirror blob cache under a file", nil, []string{"mirror", "--blob-cache", notCache + "/blobs.json", src, dst}, "not a directory"},
		{"scan AWS config with a lone quote", map[string]string{"AWS_CONFIG_FILE": lonequote}, []string{"scan"}, "AWS shared configuration " + lonequote + ": the AWS SDK cannot parse it"},
		{"revisions AWS credentials with a lone quote", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": lonequote}, []string{"revisions"}, "AWS shared configuration " + lonequote},
		{"scan AWS config is a fifo", map[string]string{"AWS_CONFIG_FILE": fifo}, []string{"scan"}, "AWS_CONFIG_FILE " + fifo + ": is a named pipe (FIFO)"},
		{"scan AWS config is a directory", map[string]string{"AWS_CONFIG_FILE": dir}, []string{"scan"}, "AWS_CONFIG_FILE " + dir + ": is a directory"},
		{"revisions region not a name", map[string]string{"AWS_REGION": "not_a_region"}, []string{"revisions"}, `AWS_REGION "not_a_region": not a region name`},
		{"scan endpoint without a scheme", map[string]string{"AWS_ENDPOINT_URL": "127.0.0.1:4566"}, []string{"scan"}, `AWS_ENDPOINT_URL "127.0.0.1:4566": want an http or https URL`},
		{"agent service endpoint not a URL", map[string]string{"AWS_ENDPOINT_URL_SQS": "notaurl"}, []string{"agent", "--queue-url", queue}, `AWS_ENDPOINT_URL_SQS "notaurl"`},
		{"policy in SSM with a bad region", map[string]string{"AWS_REGION": "a..b"}, []string{"policy", "validate", "ssm:/team/policy"}, `ssm:/team/policy: AWS_REGION "a..b"`},
		// Read before any AWS request: no STS warning line precedes it.
		{"agent policy file missing", nil, []string{"agent", "--queue-url", queue, "--listen", "", "--policy", filepath.Join(dir, "nope.yaml")}, filepath.Join(dir, "nope.yaml") + ": no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range loopback {
				t.Setenv(k, v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runCLI(t, "", tc.args...)
			wantInputError(t, code, stderr, tc.want)
		})
	}
	if got, _ := os.ReadFile(notCache); string(got) != string(policyText) {
		t.Errorf("%s was changed:\n%s", notCache, got)
	}
}

// TestExplainEventWithByteOrderMark: an event saved with a UTF-8 byte order
// mark (Windows editors, PowerShell) is the same event.
func TestExplainEventWithByteOrderMark(t *testing.T) {
	args := []string{"explain", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "--output", "json"}
	code, want, stderr := runCLI(t, "", append(args, "testdata/events/fargate-rate-limited.json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, got, stderr := runCLI(t, "", append(args, "testdata/badinput/event-with-bom.json")...)
	if code != 0 {
		t.Fatalf("with a byte order mark: exit %d: %s", code, stderr)
	}
	if got != want {
		t.Errorf("with a byte order mark:\n%s\nwithout:\n%s", got, want)
	}
}
