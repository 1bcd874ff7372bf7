package policysource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/policy"
)

// DefaultInterval is how often the agent re-reads its policy unless told
// otherwise: a conditional read a minute costs nothing, and a platform
// team's change is in force within a minute.
const DefaultInterval = time.Minute

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Interval between reads; DefaultInterval when 0.
	Interval time.Duration
	// Accept, when set, may refuse a new policy that parses but cannot be
	// put in force by this process (a setting read only at startup).
	Accept func(old, new *policy.Policy) error
	// Registerer receives the metrics (none when nil).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Watcher keeps the policy in force current. Current is safe for concurrent
// use and never blocks on a read.
type Watcher struct {
	r        *Reader
	cfg      WatcherConfig
	log      *slog.Logger
	cur      atomic.Pointer[Snapshot]
	failures *prometheus.CounterVec
	info     *prometheus.GaugeVec
	ok       prometheus.Gauge
}

// Refusal reasons, the reason label of pullheal_policy_reload_failures_total.
const (
	ReasonInvalid = "invalid" // the new policy does not validate, or Accept refused it
	ReasonRead    = "read"    // the location could not be read
)

// NewWatcher returns a Watcher whose policy in force is first (a Snapshot
// r read).
func NewWatcher(r *Reader, first *Snapshot, cfg WatcherConfig) (*Watcher, error) {
	if r == nil || first == nil {
		return nil, errors.New("policy watcher: a reader and a first snapshot are required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("policy watcher: interval must be positive, got %s", cfg.Interval)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{r: r, cfg: cfg, log: log,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullheal_policy_reload_failures_total",
			Help: "Policy re-reads that left the policy in force unchanged, by reason: invalid (the new policy was refused) or read (the location could not be read).",
		}, []string{"reason"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pullheal_policy_info",
			Help: "The policy in force (value 1): its source, version (S3 ETag, SSM parameter version or file modification time) and SHA-256.",
		}, []string{"source", "version", "sha256"}),
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pullheal_policy_last_reload_successful",
			Help: "1 when the last re-read of the policy found it unchanged or put it in force, 0 when it was refused or could not be read: alert on 0, the refusal stays until the source is fixed.",
		}),
	}
	// Both reasons exist from the start, so that a rate over them is 0
	// rather than absent.
	w.failures.WithLabelValues(ReasonInvalid)
	w.failures.WithLabelValues(ReasonRead)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(w.failures); err != nil {
			return nil, fmt.Errorf("policy watcher metrics: %w", err)
		}
		if err := cfg.Registerer.Register(w.info); err != nil {
			return nil, fmt.Errorf("policy watcher metrics: %w", err)
		}
		if err := cfg.Registerer.Register(w.ok); err != nil {
			return nil, fmt.Errorf("policy watcher metrics: %w", err)
		}
	}
	w.ok.Set(1)
	w.set(first)
	return w, nil
}

// Current returns the policy in force.
func (w *Watcher) Current() *Snapshot { return w.cur.Load() }

func (w *Watcher) set(s *Snapshot) {
	w.cur.Store(s)
	w.info.Reset()
	w.info.WithLabelValues(s.Info.Source, s.Info.Version, s.Info.SHA256).Set(1)
}

// Run re-reads the policy every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = w.Reload(ctx)
		}
	}
}

// Reload reads the policy once and puts a changed, valid one in force. A
// policy that does not validate, or a location that cannot be read, leaves
// the policy in force as it is; the refusal is logged at WARN, counted, and
// returned. A refused policy is refused again at each reload until the
// source changes: the WARN line and the count repeat, so that an alert on
// them lasts as long as the problem.
func (w *Watcher) Reload(ctx context.Context) error {
	cur := w.Current()
	next, err := w.r.Read(ctx, cur)
	if err == nil && next != cur && next.Policy != cur.Policy && w.cfg.Accept != nil {
		if aerr := w.cfg.Accept(cur.Policy, next.Policy); aerr != nil {
			err = &policy.Error{Problems: []policy.Problem{{File: next.Info.Source, Message: aerr.Error()}}}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		reason, msg := ReasonRead, "policy read failed; the policy in force stays"
		var pe *policy.Error
		if errors.As(err, &pe) {
			reason, msg = ReasonInvalid, "new policy refused; the policy in force stays"
		}
		w.failures.WithLabelValues(reason).Inc()
		w.ok.Set(0)
		attrs := []any{"source", cur.Info.Source, "reason", reason, "error", err.Error(),
			"in_force_version", cur.Info.Version, "in_force_sha256", cur.Info.SHA256}
		if pe != nil {
			attrs = append(attrs, "problems", problemLines(pe))
		}
		w.log.Warn(msg, attrs...)
		return err
	}
	w.ok.Set(1)
	if next == cur {
		return nil
	}
	w.set(next)
	if next.Policy == cur.Policy {
		w.log.Info("policy version changed, content unchanged", "source", next.Info.Source,
			"version", next.Info.Version, "sha256", next.Info.SHA256)
		return nil
	}
	w.log.Info("policy reloaded", "source", next.Info.Source, "version", next.Info.Version, "sha256", next.Info.SHA256,
		"previous_version", cur.Info.Version, "previous_sha256", cur.Info.SHA256)
	return nil
}

func problemLines(e *policy.Error) []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = strings.TrimSpace(p.String())
	}
	return out
}
