package mirror

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// RateLimit is a source registry's pull budget as it last advertised it
// (Docker Hub: "ratelimit-limit: 100;w=21600", "ratelimit-remaining: 76;w=21600"),
// less the manifest GETs this Mirror has started since.
type RateLimit struct {
	Limit      int           // budget per window; 0 when not advertised
	Remaining  int           // manifest GETs left in the window
	Window     time.Duration // 0 when not advertised
	ObservedAt time.Time     // when the registry last sent the headers
}

// budgets tracks RateLimits per registry host (the name requests are sent
// to, e.g. index.docker.io).
type budgets struct {
	mu sync.Mutex
	m  map[string]RateLimit
	// pending are manifest GETs reserved (take with spend) whose response
	// has not come back: a response that raced them, a HEAD of a parallel
	// copy say, still advertises the budget from before them.
	pending map[string]int
	gauge   Gauge
}

func newBudgets() *budgets { return &budgets{m: map[string]RateLimit{}, pending: map[string]int{}} }

// budgetKey names a registry's budget; Docker Hub's host names share one.
func budgetKey(host string) string {
	if isDockerHub(host) {
		return name.DefaultRegistry
	}
	return host
}

// observe records the headers of a response from host, if it carries them.
// manifestGET says the response answers a manifest GET, which settles one
// pending reservation (its count is in the headers now).
func (b *budgets) observe(host string, h http.Header, now time.Time, manifestGET bool) {
	host = budgetKey(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	if manifestGET && b.pending[host] > 0 {
		b.pending[host]--
	}
	if h == nil {
		return
	}
	remaining, _, ok := ParseRateLimitHeader(h.Get("RateLimit-Remaining"))
	if !ok {
		return
	}
	limit, window, _ := ParseRateLimitHeader(h.Get("RateLimit-Limit"))
	b.m[host] = RateLimit{Limit: limit, Remaining: remaining, Window: window, ObservedAt: now}
	if b.gauge != nil {
		b.gauge.Set(float64(remaining - b.pending[host]))
	}
}

// get returns the budget of host, if the registry ever advertised one.
func (b *budgets) get(host string) (RateLimit, bool) {
	host = budgetKey(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	rl, ok := b.m[host]
	return rl, ok
}

// take reserves need manifest GETs on host, failing if that would leave fewer
// than keep. With spend false it only checks. Reservations count against the
// budget until their responses come back (observe), so that concurrent
// copies on one Mirror do not all pass the check on the same number, even
// when a response that raced them advertises it again.
func (b *budgets) take(host string, need, keep int, spend bool) error {
	if need <= 0 {
		return nil
	}
	host = budgetKey(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	rl, ok := b.m[host]
	if !ok {
		return nil
	}
	left := rl.Remaining - b.pending[host]
	if left-need < keep {
		return fmt.Errorf("%w: %s advertises %d manifest GETs left, this copy needs %d more and %d are kept in reserve",
			ErrRateLimitReserve, host, left, need, keep)
	}
	if spend {
		b.pending[host] += need
		if b.gauge != nil {
			b.gauge.Set(float64(left - need))
		}
	}
	return nil
}

// maxWindowSeconds bounds the w= parameter ParseRateLimitHeader accepts.
const maxWindowSeconds = 366 * 24 * 3600

// ParseRateLimitHeader reads a ratelimit-limit or ratelimit-remaining
// value such as "76;w=21600": the count, then the window; ok is false when
// there is no count.
func ParseRateLimitHeader(v string) (n int, window time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, 0, false
	}
	parts := strings.Split(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n < 0 {
		return 0, 0, false
	}
	for _, p := range parts[1:] {
		k, val, found := strings.Cut(strings.TrimSpace(p), "=")
		if found && k == "w" {
			// A window longer than a year is not a rate-limit window (and
			// would overflow a Duration far beyond that): ignore it.
			if secs, err := strconv.Atoi(val); err == nil && secs > 0 && secs <= maxWindowSeconds {
				window = time.Duration(secs) * time.Second
			}
		}
	}
	return n, window, true
}

// budgetSpent reports a 429 whose headers say nothing is left in the window.
func budgetSpent(h http.Header) bool {
	n, _, ok := ParseRateLimitHeader(h.Get("RateLimit-Remaining"))
	return ok && n == 0
}

// RateLimit returns the pull budget last seen from registry ("docker.io",
// "quay.io"), less the manifest GETs started since; false if the registry never
// advertised one to this Mirror.
func (m *Mirror) RateLimit(registry string) (RateLimit, bool) {
	reg, err := name.NewRegistry(registry)
	if err != nil {
		return RateLimit{}, false
	}
	return m.budgets.get(reg.RegistryStr())
}
