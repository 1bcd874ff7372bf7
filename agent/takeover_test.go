package agent_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestDeadHoldersLeaseIsTakenOverWithoutTheDLQ: a replica took the lease
// of a failure and died (its lease is pending, held by it, and no longer
// renewed). The queue gives up on a message after two receives. The
// surviving replica waits for the dead one's lease to expire instead of
// spending receives on it, takes it over and heals; nothing reaches the
// dead-letter queue.
func TestDeadHoldersLeaseIsTakenOverWithoutTheDLQ(t *testing.T) {
	ctx := context.Background()
	b := newBed(t, scenario.Options{Desired: 1, MaxReceiveCount: 2})
	bodies := b.failTasks(t, 1)
	o := b.options("survivor")

	// The failure's rewrite ID, as the agent names it.
	h, err := agent.NewHealerFromConfig(b.srv.AWSConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ecsevent.Parse([]byte(bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Decide(ctx, ev)
	if err != nil || p.Verdict != plan.Heal {
		t.Fatalf("decision %v (%s), %v; want heal", p.Verdict, p.Reason, err)
	}
	images := map[string]string{}
	for _, c := range p.Selected() {
		images[c.Name] = c.Step.Target
	}
	id := taskdef.RewriteID(b.sc.TaskDefinitionArn, images)

	// What a holder that died leaves behind.
	expires := time.Now().Add(8 * time.Second)
	if _, err := b.c.Dynamo.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.sc.LockTable), Item: map[string]ddbtypes.AttributeValue{
		"id": &ddbtypes.AttributeValueMemberS{Value: id}, "holder": &ddbtypes.AttributeValueMemberS{Value: "dead"},
		"phase":      &ddbtypes.AttributeValueMemberS{Value: "pending"},
		"expires_at": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(expires.UnixMilli(), 10)},
	}}); err != nil {
		t.Fatal(err)
	}
	b.send(t, bodies[0], bodies[0])
	stop := b.runAgents(t, o)
	healed := b.waitHealed(t)
	b.waitDrained(t)
	stop()
	if time.Now().Before(expires) {
		t.Errorf("healed before the dead holder's lease expired")
	}
	if revs := b.revisions(t); len(revs) != 2 || revs[1] != healed {
		t.Errorf("revisions %v, want the original and %s", revs, healed)
	}
	v, f, err := scenario.QueueDepth(ctx, b.c, b.sc.DLQURL)
	if err != nil {
		t.Fatal(err)
	}
	if v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue, want none", v+f)
	}
	if n := len(b.reviews(t)[agent.DetailCorrected]); n != 1 {
		t.Errorf("%d corrected reviews, want 1", n)
	}
}
