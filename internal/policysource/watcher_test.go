package policysource_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/policy"
)

// A valid change is put in force; an invalid one is refused, logged at
// WARN with its position, counted, and the last good policy stays; a read
// failure is counted apart.
func TestWatcherReload(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.putObject(t, "policy.yaml", fixture(t, "deny-nginx.yaml"))
	r := b.reader(t, "s3://policies/policy.yaml")
	first, err := r.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logs proctest.LogSink
	w, err := policysource.NewWatcher(r, first, policysource.WatcherConfig{Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	info := func(s *policysource.Snapshot) float64 {
		return metricValue(t, reg, "pullheal_policy_info", map[string]string{"source": s.Info.Source, "version": s.Info.Version, "sha256": s.Info.SHA256})
	}
	if info(first) != 1 {
		t.Fatal("pullheal_policy_info does not show the first policy")
	}

	if err := w.Reload(ctx); err != nil || w.Current() != first {
		t.Fatalf("unchanged reload: %v, current changed", err)
	}
	b.putObject(t, "policy.yaml", fixture(t, "deny-redis.yaml"))
	if err := w.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	good := w.Current()
	if good == first || !strings.Contains(denied(good.Policy), "redis") || info(good) != 1 || info(first) != 0 {
		t.Fatalf("valid change not in force: %+v", good.Info)
	}

	b.putObject(t, "policy.yaml", fixture(t, "invalid.yaml"))
	err = w.Reload(ctx)
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("invalid change: %v, want a policy error", err)
	}
	if w.Current() != good {
		t.Fatal("an invalid policy replaced the policy in force")
	}
	failures := func(reason string) float64 {
		return metricValue(t, reg, "pullheal_policy_reload_failures_total", map[string]string{"reason": reason})
	}
	lastOK := func() float64 { return metricValue(t, reg, "pullheal_policy_last_reload_successful", nil) }
	if lastOK() != 0 {
		t.Fatal("pullheal_policy_last_reload_successful is not 0 after a refusal")
	}
	if failures(policysource.ReasonInvalid) != 1 || failures(policysource.ReasonRead) != 0 {
		t.Fatalf("failures = invalid %v read %v", failures(policysource.ReasonInvalid), failures(policysource.ReasonRead))
	}
	var warn map[string]any
	for _, l := range logs.Lines(nil) {
		if l["level"] == "WARN" {
			warn = l
		}
	}
	if warn == nil || !strings.Contains(fmt.Sprint(warn["error"]), "s3://policies/policy.yaml:3:5: ") ||
		warn["in_force_sha256"] != good.Info.SHA256 || warn["reason"] != policysource.ReasonInvalid {
		t.Fatalf("WARN line = %v", warn)
	}

	b.putObject(t, "policy.yaml", fixture(t, "deny-redis.yaml"))
	if err := w.Reload(ctx); err != nil || lastOK() != 1 {
		t.Fatalf("good policy back: %v, last reload successful %v", err, lastOK())
	}
	if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("policies"), Key: aws.String("policy.yaml")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(ctx); err == nil || w.Current() != good || failures(policysource.ReasonRead) != 1 {
		t.Fatalf("deleted object: %v; read failures %v", err, failures(policysource.ReasonRead))
	}
}

// Accept can refuse a valid policy this process cannot put in force.
func TestWatcherAccept(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.putParameter(t, "/p", fixture(t, "deny-nginx.yaml"))
	r := b.reader(t, "ssm:/p")
	first, _ := r.Read(ctx, nil)
	w, err := policysource.NewWatcher(r, first, policysource.WatcherConfig{
		Accept: func(old, new *policy.Policy) error { return errors.New("registry changed; restart to apply") },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.putParameter(t, "/p", fixture(t, "deny-redis.yaml"))
	err = w.Reload(ctx)
	if err == nil || err.Error() != "ssm:/p: registry changed; restart to apply" || w.Current() != first {
		t.Fatalf("refused by Accept: %v", err)
	}
}

// Heals read Current while reloads swap it: under -race, every snapshot
// seen is whole (its policy and its info belong together).
func TestWatcherConcurrentReads(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	bodies := []string{fixture(t, "deny-nginx.yaml"), fixture(t, "deny-redis.yaml")}
	b.putObject(t, "policy.yaml", bodies[0])
	r := b.reader(t, "s3://policies/policy.yaml")
	first, _ := r.Read(ctx, nil)
	w, _ := policysource.NewWatcher(r, first, policysource.WatcherConfig{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	seen := map[string]string{}
	var mu sync.Mutex
	look := func() {
		s := w.Current()
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[s.Info.SHA256]; ok && prev != denied(s.Policy) {
			t.Errorf("sha %s seen with deny %q and %q", s.Info.SHA256, prev, denied(s.Policy))
		}
		seen[s.Info.SHA256] = denied(s.Policy)
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				look()
			}
		}()
	}
	for i := range 10 {
		b.putObject(t, "policy.yaml", bodies[(i+1)%2])
		if err := w.Reload(ctx); err != nil {
			t.Error(err)
		}
		// However the readers were scheduled, each policy is looked at.
		look()
	}
	close(stop)
	wg.Wait()
	if len(seen) != 2 {
		t.Fatalf("readers saw %d distinct policies, want 2", len(seen))
	}
}

// Run re-reads on its interval until its context ends.
func TestWatcherRun(t *testing.T) {
	b := newBed(t)
	b.putParameter(t, "/p", fixture(t, "deny-nginx.yaml"))
	r := b.reader(t, "ssm:/p")
	first, _ := r.Read(context.Background(), nil)
	w, _ := policysource.NewWatcher(r, first, policysource.WatcherConfig{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	b.putParameter(t, "/p", fixture(t, "deny-redis.yaml"))
	for i := 0; i < 500 && w.Current() == first; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if w.Current() == first {
		t.Fatal("Run did not pick up the new version within 5s")
	}
}

// metricValue is the value of the series of name with exactly labels; 0
// when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
