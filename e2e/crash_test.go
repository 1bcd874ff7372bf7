//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestKilledAgentHealsOnceAfterRestart SIGKILLs an agent in the middle of a
// heal and starts another (a new holder in the lease table, as a replaced
// ECS task would be): whatever the first one got done, the failure ends
// with one corrected revision, the service on it, and one review.
func TestKilledAgentHealsOnceAfterRestart(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// arm stops the first agent's heal at one step and returns a
		// channel that closes when it got there; nil kills it as soon as
		// it logs its plan.
		arm func(*gate) <-chan struct{}
	}{
		{name: "after planning"},
		{name: "revision registered, answer lost", arm: func(g *gate) <-chan struct{} {
			return g.arm("RegisterTaskDefinition", holdResponse, 0)
		}},
		{name: "before the service update", arm: func(g *gate) <-chan struct{} {
			return g.arm("UpdateService", holdRequest, 0)
		}},
		{name: "before the review event", arm: func(g *gate) <-chan struct{} {
			return g.arm("PutEvents", holdRequest, 0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 2}})
			b.waitQueued(t, 1)
			first := agentConfig{holder: "agent-1", lockTable: true, lease: "3s", visibility: "2s"}
			var reached <-chan struct{}
			if tc.arm != nil {
				g := newGate(t, b.env["AWS_ENDPOINT_URL"])
				reached = tc.arm(g)
				first.endpoint = g.URL()
			}
			a1 := b.startAgent(t, "agent-1", first)
			if reached == nil {
				a1.WaitLog(t, healTimeout, `"planned"`, func(l proctest.LogLine) bool { return l.Msg() == "planned" })
			} else {
				select {
				case <-reached:
				case <-time.After(healTimeout):
					t.Fatalf("agent-1 never reached the step")
				}
			}
			a1.Kill()
			t.Logf("agent-1 killed; revisions then: %v", b.revisions(t))

			a2 := b.startAgent(t, "agent-2", agentConfig{holder: "agent-2", lockTable: true, lease: "3s", visibility: "2s"})
			healed := b.waitHealed(t)
			b.waitDrained(t)

			if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
				t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
			}
			if got := len(b.reviewsOf(t, agent.DetailCorrected)); got != 1 {
				t.Errorf("%d correction reviews after the restart, want 1", got)
			}
			if !a2.Running() {
				t.Error("agent-2 exited")
			}
		})
	}
}

// TestSIGTERMReleasesInFlightMessages stops an agent while a message's
// heal cannot finish: the process must exit within its shutdown grace and
// put the message back in the queue at once, not leave it hidden for the
// 60s visibility timeout.
func TestSIGTERMReleasesInFlightMessages(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	cases := []struct {
		name string
		// interrupted is the step the shutdown cuts short.
		interrupted string
		// block makes every heal hang and returns when one is in progress.
		block func(t *testing.T, b *bed) (endpoint string, inProgress func())
	}{
		{name: "AWS call hanging", interrupted: "DescribeTaskDefinition", block: func(t *testing.T, b *bed) (string, func()) {
			g := newGate(t, b.env["AWS_ENDPOINT_URL"])
			held := g.arm("DescribeTaskDefinition", holdRequest, 0)
			return g.URL(), func() {
				select {
				case <-held:
				case <-time.After(healTimeout):
					t.Fatal("the agent never read the failing revision")
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 1}})
			b.waitQueued(t, 1)
			endpoint, inProgress := tc.block(t, b)
			a := b.startAgent(t, "agent", agentConfig{visibility: "60s", grace: grace.String(), endpoint: endpoint})
			inProgress()
			if _, inFlight := b.depth(t, b.sc.QueueURL); inFlight == 0 {
				t.Fatal("no message in flight while the heal hangs")
			}

			sent := time.Now()
			a.Signal(t, syscall.SIGTERM)
			exited, err := a.Wait(t, 30*time.Second)
			took := exited.Sub(sent)
			visible, inFlight := b.depth(t, b.sc.QueueURL)
			t.Logf("exited %s after SIGTERM (grace %s): %v; queue: %d visible, %d in flight", took.Round(10*time.Millisecond), grace, err, visible, inFlight)

			if err != nil {
				t.Errorf("agent exited with %v after SIGTERM, want status 0", err)
			}
			// Grace, plus a second to settle and stop serving.
			if took > grace+time.Second {
				t.Errorf("agent took %s to exit after SIGTERM; its shutdown grace is %s", took.Round(10*time.Millisecond), grace)
			}
			if visible < 1 || inFlight != 0 {
				t.Errorf("queue has %d visible and %d in-flight messages after the agent stopped; want the released message visible and none in flight", visible, inFlight)
			}
			// New stop events keep arriving: check that the very messages the
			// agent held are the visible ones.
			ids := b.visibleIDs(t, b.sc.QueueURL)
			released := a.Logs(func(l proctest.LogLine) bool { return l.Msg() == "releasing message at shutdown" })
			if len(released) == 0 {
				t.Fatal("the agent logged no released message")
			}
			for _, l := range released {
				if !ids[l.Str("message_id")] {
					t.Errorf("released message %s is not visible in the queue", l.Str("message_id"))
				}
				// The heal was interrupted, not judged: a call cut short by
				// the shutdown must not count as a failed heal to report.
				if why := l.Str("error"); !strings.Contains(why, tc.interrupted) {
					t.Errorf("released message %s because %q; want the interrupted %s as the cause", l.Str("message_id"), why, tc.interrupted)
				}
			}
		})
	}
}
