package hubsim

import (
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// PullCounts counts manifest GETs by repository and identity.
type PullCounts struct {
	// Total is the number of manifest GETs served (each used one pull).
	Total int `json:"total"`
	// ByRepository maps repository -> identity -> manifest GETs served.
	ByRepository map[string]map[string]int `json:"byRepository"`
	// Throttled is the number of manifest GETs answered 429.
	Throttled int `json:"throttled"`
	// ThrottledByRepository maps repository -> identity -> 429 answers.
	ThrottledByRepository map[string]map[string]int `json:"throttledByRepository"`
}

// quota is an identity's budget at one moment, as the headers report it.
type quota struct {
	limit      int
	remaining  int
	retryAfter time.Duration // until the oldest pull in the window is given back
}

// bucket is one identity's sliding window.
type bucket struct {
	uses    []int64 // UnixNano of each pull still in the window, oldest first
	pending int     // GETs admitted whose outcome is not known yet
}

// meter keeps every identity's window and the pull counters.
type meter struct {
	clock  wire.Clock
	window time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	pulls     map[string]map[string]int
	throttled map[string]map[string]int
	total     int
	denied    int
}

func newMeter(clock wire.Clock, window time.Duration) *meter {
	m := &meter{clock: clock, window: window}
	m.resetLocked()
	return m
}

func (m *meter) resetLocked() {
	m.buckets = map[string]*bucket{}
	m.pulls = map[string]map[string]int{}
	m.throttled = map[string]map[string]int{}
	m.total, m.denied = 0, 0
}

// bucketLocked returns id's bucket with the pulls that left the window
// dropped.
func (m *meter) bucketLocked(id string, now int64) *bucket {
	b := m.buckets[id]
	if b == nil {
		b = &bucket{}
		m.buckets[id] = b
	}
	expired := now - int64(m.window)
	i := 0
	for i < len(b.uses) && b.uses[i] <= expired {
		i++
	}
	b.uses = b.uses[i:]
	return b
}

func (m *meter) quotaLocked(b *bucket, limit int, now int64) quota {
	q := quota{limit: limit, remaining: max(0, limit-len(b.uses)-b.pending), retryAfter: time.Second}
	if len(b.uses) > 0 {
		q.retryAfter = time.Duration(b.uses[0] + int64(m.window) - now)
	}
	return q
}

// peek reports id's budget without using it (HEAD).
func (m *meter) peek(id string, limit int) quota {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now().UnixNano()
	return m.quotaLocked(m.bucketLocked(id, now), limit, now)
}

// reserve admits one manifest GET if id has a pull left; settle must follow.
// A refused GET is counted as throttled.
func (m *meter) reserve(id string, limit int, repo string) (quota, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now().UnixNano()
	b := m.bucketLocked(id, now)
	q := m.quotaLocked(b, limit, now)
	if q.remaining == 0 {
		m.denied++
		bump(m.throttled, repo, id)
		return q, false
	}
	b.pending++
	return q, true
}

// settle ends a reserved GET: a served one uses the pull, any other answer
// gives it back.
func (m *meter) settle(id string, limit int, repo string, served bool) quota {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now().UnixNano()
	b := m.bucketLocked(id, now)
	b.pending--
	if served {
		b.uses = append(b.uses, now)
		m.total++
		bump(m.pulls, repo, id)
	}
	return m.quotaLocked(b, limit, now)
}

// setRemaining makes id's remaining budget n (clamped to 0..limit) now.
// Pulls added to get there count as made now, so they are given back one
// window later; pulls removed are the oldest.
func (m *meter) setRemaining(id string, limit, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now().UnixNano()
	b := m.bucketLocked(id, now)
	n = min(max(n, 0), limit)
	want := max(limit-n-b.pending, 0)
	switch {
	case len(b.uses) > want:
		b.uses = append([]int64(nil), b.uses[len(b.uses)-want:]...)
	case len(b.uses) < want:
		for len(b.uses) < want {
			b.uses = append(b.uses, now)
		}
	}
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked()
}

func (m *meter) counts() PullCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return PullCounts{
		Total:                 m.total,
		ByRepository:          deepCopy(m.pulls),
		Throttled:             m.denied,
		ThrottledByRepository: deepCopy(m.throttled),
	}
}

func bump(c map[string]map[string]int, repo, id string) {
	if c[repo] == nil {
		c[repo] = map[string]int{}
	}
	c[repo][id]++
}

func deepCopy(c map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(c))
	for k, v := range c {
		out[k] = maps.Clone(v)
	}
	return out
}

// addrIdentity is the anonymous identity of a client address: the IPv4
// address, or the /64 prefix of an IPv6 address.
func addrIdentity(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String(), true
	}
	p, err := a.Prefix(64)
	if err != nil {
		return "", false
	}
	return p.String(), true
}

// normalizeIdentity turns what a caller names (an address, an IPv6 prefix
// or a user name) into the identity the meter keys on.
func normalizeIdentity(s string) string {
	if id, ok := addrIdentity(s); ok {
		return id
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() && p.Bits() >= 64 {
		if q, err := p.Addr().Prefix(64); err == nil {
			return q.String()
		}
	}
	return s
}
