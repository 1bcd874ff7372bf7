package agent_test

import (
	"testing"

	"github.com/pullheal/pullheal/agent"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestReplicasMirrorOnce: three replicas sharing a lease table receive
// the events of one failure, each several times, and the image the policy
// mirrors is copied from Docker Hub once, by the lease's holder: the
// account's pulls are those of a single replica's heal.
func TestReplicasMirrorOnce(t *testing.T) {
	const policyText = "version: 1\nimages:\n  - match: [nginx]\n    action: mirror\n"
	heal := func(replicas int) int {
		b := newBed(t, scenario.Options{Desired: 3, NoPullThrough: true})
		bodies := b.failTasks(t, 3)
		for range replicas {
			b.send(t, bodies...)
		}
		var opts []agent.Options
		for i := range replicas {
			o := b.options("r" + string(rune('1'+i)))
			o.Policy = loadPolicy(t, policyText)
			o.DockerHubSecret = b.sc.HubSecretArn
			// One message at a time each, so that every replica holds one
			// of the failure's messages at once.
			o.Intake.Workers = 1
			opts = append(opts, o)
		}
		stop := b.runAgents(t, opts...)
		b.waitHealed(t)
		b.waitDrained(t)
		stop()
		if revs := b.revisions(t); len(revs) != 2 {
			t.Fatalf("%d replicas: revisions %v, want the original and one corrected", replicas, revs)
		}
		return b.srv.Hub.Pulls().ByRepository["library/nginx"][localaws.HubUser]
	}
	one := heal(1)
	if one == 0 {
		t.Fatal("a single replica's heal pulled nothing with the account: the image was not mirrored")
	}
	if three := heal(3); three != one {
		t.Errorf("three replicas pulled nginx %d times with the account, one replica %d: the copy was not made once", three, one)
	}
}
