package mirror

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestIdleBodyFails: a registry that sends headers and part of a body and
// then nothing more fails the read after the idle timeout; one that keeps
// sending, however slowly, does not.
func TestIdleBodyFails(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 5; i++ {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		if r.URL.Path == "/stall" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	// 100ms: longer than the gaps of the slow body, short for the test.
	client := &http.Client{Transport: &idleBodyTransport{inner: defaultTransport(), idle: 100 * time.Millisecond}}

	resp, err := client.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "xxxxx" {
		t.Errorf("slow body: %q, %v; want all of it", body, err)
	}

	resp, err = client.Get(srv.URL + "/stall")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, errBodyIdle) {
		t.Errorf("stalled body: %v, want %v", err, errBodyIdle)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stalled body failed after %s", took)
	}
}
