package agent_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// runOne runs one agent (no scheduler: the queue holds only what the test
// sent) and serves its health endpoints; stop ends it.
func runOne(t *testing.T, b *bed, o agent.Options) (a *agent.Agent, health *httptest.Server, stop func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	a, err := agent.FromConfig(b.srv.AWSConfig(), o, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CheckQueue(context.Background()); err != nil {
		t.Fatal(err)
	}
	health = httptest.NewServer(a.Handler(reg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	return a, health, func() { cancel(); <-done; health.Close() }
}

func healthz(t *testing.T, srv *httptest.Server) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestMessageOverBudgetEndsInTheDLQ: a registry that accepts the
// preflight's connection and never answers, or answers only after the
// budget, does not hold the message: at the budget the heal is cut off, the
// message is released with backoff, received again, and after
// maxReceiveCount receives the queue moves it to the dead-letter queue; the
// agent stays healthy throughout.
//
// The budget is 2s here, not the 5m default, so that two deliveries fit in
// a few seconds of test time; the visibility stays well above it, so that
// only the budget can end a delivery.
func TestMessageOverBudgetEndsInTheDLQ(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // 0: never answers
	}{
		{"never answers", 0},
		{"slower than the budget", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The queue gives up after two receives, as a redrive policy
			// does after maxReceiveCount: a heal that never fits its
			// budget ends in the dead-letter queue, not in a loop.
			b := newBed(t, scenario.Options{MaxReceiveCount: 2})
			bodies := b.failTasks(t, 1)

			release := make(chan struct{})
			var mu sync.Mutex
			requests := 0
			stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				wait := make(<-chan time.Time)
				if tc.delay > 0 {
					wait = time.After(tc.delay)
				}
				select {
				case <-r.Context().Done():
				case <-release:
				case <-wait:
					w.WriteHeader(http.StatusOK)
				}
			}))
			t.Cleanup(func() { close(release); stuck.Close() })
			o := b.options("replica-1")
			o.Intake.Budget = 2 * time.Second
			o.Intake.Visibility = 30 * time.Second
			o.Endpoints = maps.Clone(b.srv.Endpoints())
			u, _ := url.Parse(stuck.URL)
			o.Endpoints[b.srv.RegistryHost()] = u

			b.send(t, bodies[0])
			_, health, stop := runOne(t, b, o)
			defer stop()
			// Two deliveries cut off at the budget: the first, and the
			// retry after the 2s backoff.
			deadline := time.Now().Add(20 * time.Second)
			for over(t, health) < 2 && time.Now().Before(deadline) {
				if code, body := healthz(t, health); code != http.StatusOK {
					t.Fatalf("healthz %d %q while a heal is over budget", code, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if n := over(t, health); n < 2 {
				t.Fatalf("%v messages over budget, want the one message cut off twice", n)
			}
			// The next receive moves the message to the DLQ; the agent
			// stays healthy throughout.
			for time.Now().Before(deadline.Add(20 * time.Second)) {
				if code, body := healthz(t, health); code != http.StatusOK {
					t.Fatalf("healthz %d %q while the message goes to the DLQ", code, body)
				}
				if v, f, err := scenario.QueueDepth(context.Background(), b.c, b.sc.DLQURL); err == nil && v+f == 1 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			stop()
			mu.Lock()
			if requests < 2 {
				t.Errorf("the registry saw %d requests, want one per delivery", requests)
			}
			mu.Unlock()
			visible, inFlight, err := scenario.QueueDepth(context.Background(), b.c, b.sc.DLQURL)
			if err != nil || visible+inFlight != 1 {
				t.Errorf("the dead-letter queue holds %d+%d messages (%v), want the one that never fitted its budget", visible, inFlight, err)
			}
			revs, err := b.sc.Revisions(context.Background(), b.c)
			if err != nil || len(revs) != 1 {
				t.Errorf("revisions %v (%v), want only the original", revs, err)
			}
		})
	}
}

// over reads pullheal_messages_over_budget_total from the agent's /metrics.
func over(t *testing.T, srv *httptest.Server) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "pullheal_messages_over_budget_total "); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return n
			}
		}
	}
	return 0
}

// TestHealthTurnsUnhealthyWhenReceivesKeepFailing: the queue goes away
// under a running agent; once receives have failed for UnhealthyAfter (and
// three times in a row) /healthz answers 503 with the cause, so that ECS
// replaces the task. UnhealthyAfter is 2s here, not the 1m default, to keep
// the test short.
func TestHealthTurnsUnhealthyWhenReceivesKeepFailing(t *testing.T) {
	t.Parallel()
	b := newBed(t, scenario.Options{})
	o := b.options("replica-1")
	o.Intake.UnhealthyAfter = 2 * time.Second
	_, health, stop := runOne(t, b, o)
	defer stop()
	if code, body := healthz(t, health); code != http.StatusOK {
		t.Fatalf("healthz %d %q before the queue went away", code, body)
	}
	if _, err := b.c.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(b.sc.QueueURL)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := healthz(t, health)
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "receive failing") || !strings.Contains(body, "does not exist") && !strings.Contains(body, "NonExistentQueue") {
				t.Errorf("healthz body %q, want the receive failure and its cause", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz still %d %q 20s after the queue was deleted", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
