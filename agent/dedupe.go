package agent

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
)

// once runs the heal of one failure once per agent, however many messages
// of it arrive together: the first decides and executes, the others wait
// for it and report a duplicate. A finished heal is remembered for a while
// so that a late duplicate costs no AWS call. Replicas are coordinated by
// the lease (register.go), not here.
func (h *Healer) once(ctx context.Context, ev *ecsevent.Event, triage plan.Plan, log *slog.Logger) (result, error) {
	// One snapshot of the policy decides this heal, however often it is
	// reloaded meanwhile. A decision belongs to the policy it was made
	// with: a failure skipped under one policy is decided again under the
	// next.
	pol, polInfo := snapshot(h.cfg.Policies)
	key := ev.Task.TaskDefinitionArn + "|" + failedImages(triage)
	if polInfo != nil {
		key += "|" + polInfo.SHA256
	}
	if r, ok := h.healed.get(key); ok {
		return result{outcome: outcomeDuplicate, review: r.review}, nil
	}
	// The first message of a failure runs the heal on its own goroutine;
	// the others wait for it. Every heal ends with the agent's work
	// context, so a waiter never outlives a shutdown, and it reports the
	// leader's own error, naming the step a shutdown cut short.
	led := false
	v, err, _ := h.flights.Do(key, func() (any, error) {
		led = true
		p, err := h.decide(ctx, ev, pol)
		if err != nil {
			return result{}, err
		}
		res, err := h.execute(ctx, p, pol, polInfo, log)
		if err == nil {
			h.healed.put(key, res)
		}
		return res, err
	})
	if err != nil {
		return result{}, err
	}
	res := v.(result)
	if !led {
		return result{outcome: outcomeDuplicate, review: res.review}, nil
	}
	return res, nil
}

// failedImages names a failure: its rate-limited containers and images,
// or, for a rate limit in the task's reason that names no container, a
// mark of its own (so that it shares no key with a rollback of the same
// revision, and the tasks of one service stopping at once share one).
func failedImages(p plan.Plan) string {
	var parts []string
	for _, c := range p.Containers {
		if c.Cause == ecsevent.RateLimit {
			parts = append(parts, c.Name+"="+c.Image)
		}
	}
	if len(parts) == 0 && p.Cause == ecsevent.RateLimit {
		return "(the task's reason)"
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// recent is a bounded memory of finished work. Entries expire, so that a
// failure skipped for a reason a person has since fixed (a missing
// pull-through rule, a policy) is looked at again.
type recent[V any] struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	order []string
	m     map[string]recentEntry[V]
}

type recentEntry[V any] struct {
	v  V
	at time.Time
}

func newRecent[V any](n int, ttl time.Duration, now func() time.Time) *recent[V] {
	return &recent[V]{max: n, ttl: ttl, now: now, m: map[string]recentEntry[V]{}}
}

func (r *recent[V]) get(k string) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[k]
	if !ok || r.now().Sub(e.at) > r.ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (r *recent[V]) put(k string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; !ok {
		r.order = append(r.order, k)
	}
	r.m[k] = recentEntry[V]{v: v, at: r.now()}
	for len(r.order) > r.max {
		delete(r.m, r.order[0])
		r.order = r.order[1:]
	}
}
