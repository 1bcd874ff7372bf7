package hubsim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TooManyRequestsBody is Docker Hub's 429 body, byte for byte.
const TooManyRequestsBody = `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}`

// Docker Hub's rate-limit headers.
const (
	HeaderLimit     = "Ratelimit-Limit"
	HeaderRemaining = "Ratelimit-Remaining"
	HeaderSource    = "Docker-Ratelimit-Source"
)

func (h *Hub) serveRegistry(w http.ResponseWriter, r *http.Request) {
	rt := parseRoute(r.URL.Path)
	if rt.repo != "" && !validRepository(rt.repo) {
		writeRegistryError(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("invalid repository name %q", rt.repo))
		return
	}
	if (rt.kind == kindTags || rt.kind == kindCatalog) && r.URL.Query().Has("n") {
		// The store slices by n unchecked; Docker Hub refuses a bad n.
		if n, err := strconv.Atoi(r.URL.Query().Get("n")); err != nil || n < 0 {
			writeRegistryError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", fmt.Sprintf("invalid number of results requested: n=%q", r.URL.Query().Get("n")))
			return
		}
	}
	action := actionPull
	actions := []string{actionPull}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = actionPush
		actions = []string{actionPull, actionPush}
	}

	tok := bearerToken(r)
	g, ok := h.tokens.lookup(tok)
	switch {
	case !ok && tok == "":
		h.challenge(w, r, rt.repo, actions, "")
		return
	case !ok:
		h.challenge(w, r, rt.repo, actions, "invalid_token")
		return
	case rt.repo != "" && !g.allows(rt.repo, action):
		h.challenge(w, r, rt.repo, actions, "insufficient_scope")
		return
	}

	identity := g.user
	if identity == "" {
		identity = h.anonymousIdentity(r)
	}
	switch {
	case rt.kind == kindManifest && r.Method == http.MethodGet:
		h.serveManifestGet(w, r, rt.repo, identity)
	case rt.kind == kindManifest && r.Method == http.MethodHead:
		setQuotaHeaders(w.Header(), h.meter.peek(identity, h.limitFor(identity)), identity, h.cfg.Window)
		h.store.ServeHTTP(w, r)
	case rt.kind == kindManifest && r.Method == http.MethodPut:
		sw := &statusWriter{ResponseWriter: w, onStatus: func(status int) {
			if status == http.StatusCreated {
				h.addRepo(rt.repo)
			}
		}}
		h.store.ServeHTTP(sw, r)
	default:
		h.store.ServeHTTP(w, r)
	}
}

// serveManifestGet meters a manifest GET: it is refused with Docker Hub's
// 429 when the identity's budget is spent, and uses one pull when served.
func (h *Hub) serveManifestGet(w http.ResponseWriter, r *http.Request, repo, identity string) {
	limit := h.limitFor(identity)
	q, ok := h.meter.reserve(identity, limit, repo)
	if !ok {
		hdr := w.Header()
		setQuotaHeaders(hdr, q, identity, h.cfg.Window)
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Retry-After", strconv.FormatInt(ceilSeconds(q.retryAfter), 10))
		hdr.Set("Content-Length", strconv.Itoa(len(TooManyRequestsBody)))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(TooManyRequestsBody))
		return
	}
	settled := false
	settle := func(status int) {
		settled = true
		q := h.meter.settle(identity, limit, repo, status == http.StatusOK)
		setQuotaHeaders(w.Header(), q, identity, h.cfg.Window)
	}
	h.store.ServeHTTP(&statusWriter{ResponseWriter: w, onStatus: settle}, r)
	if !settled {
		// The store wrote nothing: net/http answers 200 with an empty body.
		settle(http.StatusOK)
	}
}

func setQuotaHeaders(hdr http.Header, q quota, identity string, window time.Duration) {
	w := int64(window / time.Second)
	hdr.Set(HeaderLimit, fmt.Sprintf("%d;w=%d", q.limit, w))
	hdr.Set(HeaderRemaining, fmt.Sprintf("%d;w=%d", q.remaining, w))
	hdr.Set(HeaderSource, identity)
}

// ceilSeconds rounds d up to whole seconds, at least 1: a client that waits
// that long finds a pull given back.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// anonymousIdentity is the identity an anonymous request is metered as.
func (h *Hub) anonymousIdentity(r *http.Request) string {
	if h.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if id, ok := addrIdentity(strings.TrimSpace(first)); ok {
				return id
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if id, ok := addrIdentity(host); ok {
		return id
	}
	// Not an IP (a unix socket, an in-process caller): one shared identity,
	// which no user name can equal.
	return "unknown-address"
}

func writeRegistryError(w http.ResponseWriter, status int, code, message string) {
	type regErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(map[string][]regErr{"errors": {{Code: code, Message: message}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusWriter calls onStatus once, with the response status, before the
// header is sent, so that the caller may still set headers.
type statusWriter struct {
	http.ResponseWriter
	onStatus func(status int)
	done     bool
}

func (s *statusWriter) WriteHeader(status int) {
	if !s.done {
		s.done = true
		s.onStatus(status)
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.done {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
