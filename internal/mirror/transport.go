package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The mirror's transport stack, outermost first:
//
//	go-containerregistry auth (ping, bearer/basic)  -> retryTransport
//	  -> observeTransport (source only) -> endpointTransport -> base transport
//
// Retrying sits under authentication so that a retried request keeps its
// token, and above the observer so that every attempt is counted against the
// source's manifest budget, as the registry counts it.

// endpointTransport sends requests for mapped registry hosts to another base
// URL. Requests keep their original host everywhere above it, so that
// authentication, accounting and Location handling see the registry's real
// name.
type endpointTransport struct {
	inner     http.RoundTripper
	endpoints map[string]*url.URL
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, ok := t.endpoints[req.URL.Host]
	if !ok {
		return t.inner.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host = base.Scheme, base.Host
	r.Host = ""
	return t.inner.RoundTrip(r)
}

// observeTransport counts manifest GETs and reads a registry's advertised
// pull budget from its responses.
type observeTransport struct {
	inner         http.RoundTripper
	onManifestGET func()
	budgets       *budgets
	now           func() time.Time
}

func (t *observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	get := req.Method == http.MethodGet && isManifestPath(req.URL.Path)
	if get {
		t.onManifestGET()
	}
	resp, err := t.inner.RoundTrip(req)
	var h http.Header
	if err == nil {
		h = resp.Header
	}
	t.budgets.observe(req.URL.Host, h, t.now(), get)
	return resp, err
}

func isManifestPath(p string) bool {
	return strings.HasPrefix(p, "/v2/") && strings.Contains(p, "/manifests/")
}

// retryTransport retries requests that failed in a way that may pass: 408,
// 429, 5xx gateway errors, and network errors of idempotent requests. It only
// retries requests whose body can be replayed; a streamed blob upload fails
// through to the blob-level retry, which starts that blob over.
type retryTransport struct {
	inner    http.RoundTripper
	attempts int
	backoff  time.Duration
	maxWait  time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		resp, err := t.inner.RoundTrip(req)
		if attempt >= t.attempts || !replayable || ctx.Err() != nil {
			return resp, err
		}
		var wait time.Duration
		switch {
		case err != nil:
			if !idempotent(req.Method) || !retryableNetError(err) {
				return nil, err
			}
			wait = backoffDelay(t.backoff, attempt)
		case retryableStatus(resp.StatusCode):
			if resp.StatusCode == http.StatusTooManyRequests && budgetSpent(resp.Header) {
				// The registry says the window's budget is gone: another
				// attempt would be refused too, and counted.
				return resp, nil
			}
			if ra, ok := retryAfter(resp.Header, t.now()); ok {
				if ra > t.maxWait {
					return resp, nil
				}
				wait = ra
			} else {
				wait = backoffDelay(t.backoff, attempt)
			}
			drain(resp.Body)
		default:
			return resp, nil
		}
		t.log.LogAttrs(ctx, slog.LevelWarn, "retrying registry request",
			slog.String("method", req.Method), slog.String("host", req.URL.Host),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("cause", describe(resp, err)))
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError reports connection-level failures that a new attempt on
// a new connection may not see again.
func retryableNetError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoffDelay is exponential with jitter: half the step fixed, half random,
// so that parallel jobs that failed together do not return together.
func backoffDelay(base time.Duration, attempt int) time.Duration {
	const maxDelay = 30 * time.Second
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads a Retry-After header in either of its forms.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
