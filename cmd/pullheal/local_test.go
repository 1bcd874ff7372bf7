package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLocalPrintsEnvAndClosesStdout: `pullheal local` prints the lines the
// AWS SDKs and CLIs read (AWS_DEFAULT_REGION too, the only region setting
// of the AWS CLI v1 and boto3) and then closes stdout while it keeps
// serving, so that `. <(pullheal local)` returns.
func TestLocalPrintsEnvAndClosesStdout(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"pullheal", "local", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0",
			"--hub-listen", "127.0.0.1:0", "--log-level", "error"}, strings.NewReader(""), w, &stderr)
	}()
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r) // returns at EOF: stdout was closed
		read <- b
	}()
	var out string
	select {
	case b := <-read:
		out = string(b)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("stdout was not closed after the environment lines")
	}
	select {
	case code := <-done:
		t.Fatalf("pullheal local exited (%d) before it was interrupted: %s", code, stderr.String())
	default:
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pullheal local did not stop when interrupted")
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(line, "export ") {
			t.Fatalf("not an export line: %q", line)
		}
		env[k] = v
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULLHEAL_REGISTRY_ENDPOINTS", "PULLHEAL_HUB_URL"} {
		if env[k] == "" {
			t.Errorf("no %s in:\n%s", k, out)
		}
	}
	if env["AWS_DEFAULT_REGION"] != env["AWS_REGION"] {
		t.Errorf("AWS_DEFAULT_REGION %q, AWS_REGION %q: want the same", env["AWS_DEFAULT_REGION"], env["AWS_REGION"])
	}
}
