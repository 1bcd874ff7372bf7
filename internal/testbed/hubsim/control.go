package hubsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// controlPrefix is where the test and demo controls are served. Docker Hub
// has no such paths, so no client confuses them with the registry API.
const controlPrefix = "/_hubsim/"

// Exhaust spends identity's whole budget now, as if it had just made its
// last allowed pull; the budget comes back one Window later. identity is a
// user name, an IP address (an IPv6 one counts for its /64) or an IPv6 /64.
func (h *Hub) Exhaust(identity string) { h.SetRemaining(identity, 0) }

// SetRemaining sets identity's remaining pulls to n, clamped to 0 and the
// identity's limit. Pulls it takes away count as made now.
func (h *Hub) SetRemaining(identity string, n int) {
	id := normalizeIdentity(identity)
	h.meter.setRemaining(id, h.limitFor(id), n)
}

// Reset gives every identity its full budget and zeroes the pull counters.
// Images and issued tokens are kept.
func (h *Hub) Reset() { h.meter.reset() }

// Pulls returns a copy of the pull counters.
func (h *Hub) Pulls() PullCounts { return h.meter.counts() }

// serveControl serves the controls for separate processes:
//
//	GET  /_hubsim/pulls                          PullCounts as JSON
//	GET  /_hubsim/images                         Images as JSON
//	POST /_hubsim/exhaust?identity=ID            Exhaust
//	POST /_hubsim/remaining?identity=ID&n=N      SetRemaining
//	POST /_hubsim/reset                          Reset
func (h *Hub) serveControl(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path[len(controlPrefix):]
	method := http.MethodPost
	if name == "pulls" || name == "images" {
		method = http.MethodGet
	}
	switch name {
	case "pulls", "images", "exhaust", "remaining", "reset":
	default:
		writeControlError(w, http.StatusNotFound, fmt.Sprintf("hubsim control %q does not exist (pulls, images, exhaust, remaining, reset)", r.URL.Path))
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeControlError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
		return
	}
	q := r.URL.Query()
	switch name {
	case "pulls":
		writeControlJSON(w, h.Pulls())
	case "images":
		writeControlJSON(w, h.Images())
	case "reset":
		h.Reset()
		w.WriteHeader(http.StatusNoContent)
	case "exhaust", "remaining":
		id := q.Get("identity")
		if id == "" {
			writeControlError(w, http.StatusBadRequest, fmt.Sprintf("%s: query parameter identity is required", r.URL.Path))
			return
		}
		n := 0
		if name == "remaining" {
			var err error
			if n, err = strconv.Atoi(q.Get("n")); err != nil {
				writeControlError(w, http.StatusBadRequest, fmt.Sprintf("%s: query parameter n=%q is not an integer", r.URL.Path, q.Get("n")))
				return
			}
		}
		h.SetRemaining(id, n)
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeControlJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeControlError(w, http.StatusInternalServerError, fmt.Sprintf("encode: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeControlError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
