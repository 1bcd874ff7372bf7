//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// gate stands between an agent and the test bed's AWS APIs and stops
// chosen operations at a chosen point, so that a test can kill or stop
// the agent in a precise window of its work: before ECS hears of a call,
// after ECS did it but before the agent heard back, or with several
// replicas lined up at the same step.
type gate struct {
	srv    *httptest.Server
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu    sync.Mutex
	rules map[string]*gateRule // by operation name (RegisterTaskDefinition)
	stop  chan struct{}
}

type gateMode int

const (
	// holdRequest never forwards the call: the backend does not see it.
	holdRequest gateMode = iota
	// holdResponse forwards the call and keeps the answer from the agent.
	holdResponse
	// barrier holds calls until n of them wait, then forwards them all.
	barrier
)

type gateRule struct {
	mode    gateMode
	n       int
	waiting int
	hit     chan struct{} // closed when the first call is held (the barrier: when it opens)
	open    chan struct{} // barrier: closed when n calls wait
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("gate target %q: %v", target, err)
	}
	g := &gate{target: u, proxy: httputil.NewSingleHostReverseProxy(u), rules: map[string]*gateRule{}, stop: make(chan struct{})}
	// A killed agent cuts its calls short; that is the point, not news.
	g.proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		close(g.stop)
		g.srv.Close()
	})
	return g
}

// URL is the gate's endpoint, for AWS_ENDPOINT_URL.
func (g *gate) URL() string { return g.srv.URL }

// arm stops operation op; the returned channel closes when the gate
// first holds a call of it (the barrier: when it opens).
func (g *gate) arm(op string, mode gateMode, n int) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := &gateRule{mode: mode, n: n, hit: make(chan struct{}), open: make(chan struct{})}
	g.rules[op] = r
	return r.hit
}

// operation is the API operation of a JSON-protocol call.
func operation(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	return target[strings.LastIndexByte(target, '.')+1:]
}

func (g *gate) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	rule := g.rules[operation(r)]
	g.mu.Unlock()
	if rule == nil {
		g.proxy.ServeHTTP(w, r)
		return
	}
	switch rule.mode {
	case holdRequest:
		g.hit(rule)
		g.hold(r)
	case holdResponse:
		g.forwardAndHold(w, r, rule)
	case barrier:
		g.mu.Lock()
		rule.waiting++
		if rule.waiting == rule.n {
			close(rule.open)
			close(rule.hit)
		}
		passed := rule.waiting > rule.n
		g.mu.Unlock()
		if !passed {
			select {
			case <-rule.open:
			case <-r.Context().Done():
				return
			case <-g.stop:
				return
			}
		}
		g.proxy.ServeHTTP(w, r)
	}
}

func (g *gate) hit(rule *gateRule) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-rule.hit:
	default:
		close(rule.hit)
	}
}

// hold keeps a call open until its caller goes away (killed, cancelled)
// or the test ends.
func (g *gate) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-g.stop:
	}
}

// forwardAndHold lets the backend carry the call out, then holds the
// answer back.
func (g *gate) forwardAndHold(w http.ResponseWriter, r *http.Request, rule *gateRule) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, g.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	g.hit(rule)
	g.hold(r)
}
