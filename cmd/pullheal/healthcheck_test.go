package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
)

func TestHealthcheck(t *testing.T) {
	status := func(code int, body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	ok := status(http.StatusOK, "ok\n")
	stalled := status(http.StatusServiceUnavailable, "poll loop stalled\n")
	moved := status(http.StatusFound, "")
	// The agent's own handler: a fresh agent is healthy.
	var a agent.Agent
	real := httptest.NewServer(a.Handler(prometheus.NewRegistry()))
	t.Cleanup(real.Close)

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string // in the one stderr line
	}{
		{"200", []string{"--url", ok.URL + "/healthz"}, 0, ""},
		{"the agent's handler", []string{"--url", real.URL + "/healthz"}, 0, ""},
		{"503", []string{"--url", stalled.URL + "/healthz"}, 1, "503 Service Unavailable: poll loop stalled"},
		{"404", []string{"--url", ok.URL + "/nope"}, 1, "404 Not Found"},
		{"a redirect is not health", []string{"--url", moved.URL + "/healthz"}, 1, "302 Found"},
		{"default URL from --listen", []string{"--listen", ":" + port(t, ok.URL)}, 0, ""},
		{"--listen on every address", []string{"--listen", "0.0.0.0:" + port(t, ok.URL)}, 0, ""},
		{"--listen on every IPv6 address", []string{"--listen", "[::]:" + port(t, ok.URL)}, 0, ""},
		{"--listen on a host", []string{"--listen", strings.TrimPrefix(stalled.URL, "http://")}, 1, "503"},
		{"refused", []string{"--url", "http://" + closedAddr(t) + "/healthz"}, 1, "connection refused"},
		{"bad url", []string{"--url", "ftp://x/healthz"}, 2, "--url"},
		{"url without host", []string{"--url", "http:///healthz"}, 2, "no host"},
		{"empty listen", []string{"--listen", ""}, 2, "--listen"},
		{"listen without port", []string{"--listen", "127.0.0.1"}, 2, "--listen"},
		{"bad timeout", []string{"--url", ok.URL, "--timeout", "0s"}, 2, "--timeout"},
		{"stray argument", []string{"now"}, 2, "no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if tc.wantCode == 0 {
				if stderr != "" {
					t.Errorf("stderr %q on success", stderr)
				}
				return
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "pullheal: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
		})
	}
}

// TestHealthcheckNeverAnswers: a listener that accepts and says nothing
// fails the check once --timeout has passed, not later.
func TestHealthcheckNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	start := time.Now()
	code, _, stderr := runCLI(t, "", "healthcheck", "--url", "http://"+ln.Addr().String()+"/healthz", "--timeout", "300ms")
	took := time.Since(start)
	if code != 1 || !strings.Contains(stderr, "no answer within 300ms") {
		t.Errorf("exit %d, stderr %q; want 1 and no answer within 300ms", code, stderr)
	}
	if took > 10*time.Second {
		t.Errorf("took %s with --timeout 300ms", took)
	}
}

// TestHealthcheckEnvironment: the container's environment drives it, as
// the agent's does.
func TestHealthcheckEnvironment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("PULLHEAL_LISTEN", ":"+port(t, srv.URL))
	if code, _, stderr := runCLI(t, "", "healthcheck"); code != 0 {
		t.Errorf("PULLHEAL_LISTEN: exit %d: %s", code, stderr)
	}
	t.Setenv("PULLHEAL_URL", srv.URL+"/other")
	if code, _, stderr := runCLI(t, "", "healthcheck"); code != 1 || !strings.Contains(stderr, "/other") {
		t.Errorf("PULLHEAL_URL: exit %d: %s", code, stderr)
	}
}

func port(t *testing.T, rawURL string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
