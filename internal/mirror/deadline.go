package mirror

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Registry timeouts: a registry that accepts a connection and then says
// nothing, or stops sending half-way through a body, must fail the request
// rather than hold a copy (and an agent's worker) forever.
const (
	// DialTimeout bounds opening a connection.
	DialTimeout = 10 * time.Second
	// ResponseHeaderTimeout bounds the wait for a response's headers once
	// the request is sent. A registry may verify a large uploaded blob
	// before it answers, so this is generous.
	ResponseHeaderTimeout = 2 * time.Minute
	// BodyIdleTimeout bounds how long a response body may send nothing.
	BodyIdleTimeout = time.Minute
)

// NewTransport returns the registry transport pullheal uses by default:
// tuned for a few hosts carrying many large parallel streams, with every
// wait bounded (DialTimeout, ResponseHeaderTimeout, BodyIdleTimeout).
func NewTransport() http.RoundTripper {
	return &idleBodyTransport{inner: defaultTransport(), idle: BodyIdleTimeout}
}

// errBodyIdle is the read error of a body that sent nothing for too long.
var errBodyIdle = errors.New("response body idle")

// idleBodyTransport ends a response body that sends nothing for idle:
// http.Transport bounds the wait for headers but not the body after them.
type idleBodyTransport struct {
	inner http.RoundTripper
	idle  time.Duration
}

func (t *idleBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	b := &idleBody{inner: resp.Body, idle: t.idle, url: req.URL.Redacted()}
	b.timer = time.AfterFunc(t.idle, b.expire)
	resp.Body = b
	return resp, nil
}

// idleBody closes its body when no Read returned data for idle; the
// pending Read then fails, and later ones return errBodyIdle.
type idleBody struct {
	inner io.ReadCloser
	idle  time.Duration
	url   string
	timer *time.Timer

	mu      sync.Mutex
	expired bool
}

func (b *idleBody) expire() {
	b.mu.Lock()
	b.expired = true
	b.mu.Unlock()
	b.inner.Close()
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.inner.Read(p)
	b.mu.Lock()
	expired := b.expired
	b.mu.Unlock()
	if expired {
		return n, &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("%w: %s sent nothing for %s", errBodyIdle, b.url, b.idle)}
	}
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.inner.Close()
}
