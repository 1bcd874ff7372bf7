//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestStuckRegistryEndsInTheDLQ: the ECR registry the preflight asks
// accepts the connection and never answers, or answers only after the
// message's budget. Each delivery is cut off at the budget and released
// with backoff; after maxReceiveCount receives the queue moves the message
// to the dead-letter queue, nothing is registered, and the agent stays
// healthy throughout.
//
// The budget is 3s here, not the 5m default, so that the deliveries fit in
// seconds of test time; everything else is the agent's default.
func TestStuckRegistryEndsInTheDLQ(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // 0: never answers
	}{
		{"never answers", 0},
		{"slower than the budget", 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 1, MaxReceiveCount: 2}})
			b.waitQueued(t, 1)
			done := make(chan struct{})
			stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				wait := make(<-chan time.Time)
				if tc.delay > 0 {
					wait = time.After(tc.delay)
				}
				select {
				case <-r.Context().Done():
				case <-done:
				case <-wait:
					w.WriteHeader(http.StatusOK)
				}
			}))
			t.Cleanup(func() { close(done); stuck.Close() })
			// The ECR host goes to the stuck server; the hub stays where
			// the test bed put it.
			var endpoints []string
			for _, e := range strings.Split(b.env["PULLHEAL_REGISTRY_ENDPOINTS"], ",") {
				if host, _, _ := strings.Cut(e, "="); strings.Contains(host, ".dkr.ecr.") {
					e = host + "=" + stuck.URL
				}
				endpoints = append(endpoints, e)
			}
			a := b.startAgent(t, "agent", agentConfig{visibility: "30s",
				args: []string{"--message-budget", "3s", "--registry-endpoints", strings.Join(endpoints, ",")}})
			eventually(t, 90*time.Second, "the message in the dead-letter queue", func() (bool, string) {
				if code, body := a.get(t, "/healthz"); code != http.StatusOK {
					t.Fatalf("healthz %d %q while heals run over budget", code, body)
				}
				v, f := b.depth(t, b.sc.DLQURL)
				return v+f >= 1, fmt.Sprintf("dead-letter queue holds %d", v+f)
			})
			if got := b.correctedRevisions(t); len(got) != 0 {
				t.Errorf("corrected revisions %v, want none", got)
			}
			if n := a.metric(t, "pullheal_messages_over_budget_total"); n < 2 {
				t.Errorf("%v messages over budget, want each of the message's deliveries cut off", n)
			}
		})
	}
}
