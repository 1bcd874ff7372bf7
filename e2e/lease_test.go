//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestKilledLeaseHolderIsTakenOverWithoutTheDLQ: agent-1 of three
// replicas holds a failure's lease mid-heal (its UpdateService never
// answers) and keeps it renewed past the lease's duration while agent-2
// and agent-3, receiving the same failure's other events, wait for it.
// agent-1 is then SIGKILLed: nothing releases its lease, which expires; one
// of the others takes over and heals, once. The
// queue gives up on a message after two receives, and nothing reaches the
// dead-letter queue: waiting on a lease spends no receive. The agents run
// with the default --lease, as a user's do; the test takes about as long
// as two leases.
func TestKilledLeaseHolderIsTakenOverWithoutTheDLQ(t *testing.T) {
	t.Parallel()
	const lease = agent.DefaultLease
	b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 2, MaxReceiveCount: 2}})
	b.waitQueued(t, 1)
	// The failure's first events, kept to be delivered again later.
	bodies := b.receiveAll(t, b.sc.QueueURL, true)
	b.send(t, bodies)
	g := newGate(t, b.env["AWS_ENDPOINT_URL"])
	reached := g.arm("UpdateService", holdRequest, 0)
	a1 := b.startAgent(t, "agent-1", agentConfig{holder: "agent-1", lockTable: true, endpoint: g.URL()})
	var reachedAt time.Time
	select {
	case <-reached:
		reachedAt = time.Now()
	case <-time.After(healTimeout):
		t.Fatal("agent-1 never reached the service update")
	}
	// agent-1 takes no more messages (its next poll is held, as a replica
	// busy elsewhere), and the failure's events are delivered again, as
	// EventBridge and SQS may: the other replicas, not agent-1, receive
	// them. Waiting for the scheduler's next stop events instead would
	// wait out its growing restart backoff.
	polled := g.arm("ReceiveMessage", holdRequest, 0)
	select {
	case <-polled:
	case <-time.After(healTimeout):
		t.Fatal("agent-1 never polled again")
	}
	b.send(t, bodies)
	b.send(t, bodies)
	waiting := func(l proctest.LogLine) bool { return l.Msg() == "another replica holds the lease; waiting for it" }
	a2 := b.startAgent(t, "agent-2", agentConfig{holder: "agent-2", lockTable: true})
	a3 := b.startAgent(t, "agent-3", agentConfig{holder: "agent-3", lockTable: true})
	a2.WaitLog(t, healTimeout, "agent-2 waiting on the lease", waiting)
	// Renewed, agent-1's lease outlives its duration. Not by much: the
	// held UpdateService itself gives up after the agent's AWS call
	// timeouts (three attempts of about 16 s after reachedAt), and agent-1
	// then releases the lease as any replica whose call failed would.
	time.Sleep(time.Until(reachedAt.Add(lease + 5*time.Second)))
	if st := b.service(t); st.TaskDefinition != b.sc.TaskDefinitionArn {
		t.Fatalf("the service moved to %s while agent-1 held the lease", st.TaskDefinition)
	}
	if got := b.correctedRevisions(t); len(got) != 1 {
		t.Fatalf("corrected revisions %v while agent-1 held the lease, want agent-1's one", got)
	}

	a1.Kill()
	healed := b.waitHealedWithin(t, lease+healTimeout)
	b.waitDrained(t)
	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	if got := len(b.reviewsOf(t, agent.DetailCorrected)); got != 1 {
		t.Errorf("%d correction reviews, want 1", got)
	}
	if v, f := b.depth(t, b.sc.DLQURL); v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue, want none", v+f)
	}
	if !a2.Running() || !a3.Running() {
		t.Error("agent-2 or agent-3 exited")
	}
}
