//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestLocalStateSurvivesSIGKILL kills `pullheal local --state DIR` with
// SIGKILL and starts it again on the same ports: queues and their
// messages, task definitions, the service, the lease table and the
// pull-through rule are all still there, and an agent that ran through
// the restart heals a rate-limited deployment started afterwards.
func TestLocalStateSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{scenario: scenario.Options{Desired: 2}})
	b.waitSteadyOn(t, b.sc, "its first revision", func(arn string) bool { return arn == b.sc.TaskDefinitionArn })
	a := b.startAgent(t, "agent", agentConfig{})

	// Marks that only a saved state can bring back.
	if _, err := b.c.SQS.SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(b.sc.DLQURL), MessageBody: aws.String("kept across restarts")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Dynamo.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(b.sc.LockTable),
		Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "kept"}}}); err != nil {
		t.Fatal(err)
	}
	before := b.snapshot(t)
	b.waitSaved(t)

	b.local.Kill()
	restarted := startBed(t, b.state, b.addrs)
	if diff := cmp.Diff(b.env, restarted.env); diff != "" {
		t.Fatalf("environment changed across the restart on the same ports (-before +after):\n%s", diff)
	}
	b.local = restarted.local

	if diff := cmp.Diff(before, b.snapshot(t)); diff != "" {
		t.Errorf("state changed across SIGKILL and restart (-before +after):\n%s", diff)
	}
	if bodies := b.receiveAll(t, b.sc.DLQURL, true); !slices.Equal(bodies, []string{"kept across restarts"}) {
		t.Errorf("dead-letter queue holds %q after the restart, want the message sent before", bodies)
	}

	// The loop still works on the restored state: rules, targets, the
	// cache's secret and the agent, which kept running.
	b.hub(t, "exhaust", "identity", "127.0.0.1")
	if _, err := b.c.ECS.UpdateService(ctxT(t), &ecs.UpdateServiceInput{Cluster: aws.String(b.sc.Cluster),
		Service: aws.String(b.sc.Service), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	healed := b.waitHealed(t)
	b.waitDrained(t)
	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	if got := len(b.reviewsOf(t, agent.DetailCorrected)); got != 1 {
		t.Errorf("%d correction reviews, want 1", got)
	}
	if !a.Running() {
		t.Error("the agent exited while the test bed restarted")
	}
}

// bedState is what must survive a restart of the test bed.
type bedState struct {
	Queues      []string
	Redrive     string
	Revisions   []string
	Tags        map[string]string
	Service     scenario.ServiceState
	LeaseItem   bool
	PullThrough []string
}

func (b *bed) snapshot(t *testing.T) bedState {
	t.Helper()
	ctx := ctxT(t)
	var st bedState
	qs, err := b.c.SQS.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	st.Queues = slices.Sorted(slices.Values(qs.QueueUrls))
	attrs, err := b.c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(b.sc.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	st.Redrive = attrs.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]
	st.Revisions = b.revisions(t)
	st.Tags = tagMap(b.describe(t, b.sc.TaskDefinitionArn).Tags)
	st.Service = b.service(t)
	item, err := b.c.Dynamo.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.sc.LockTable),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "kept"}}})
	if err != nil {
		t.Fatal(err)
	}
	st.LeaseItem = item.Item != nil
	rules, err := b.c.ECR.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.PullThroughCacheRules {
		st.PullThrough = append(st.PullThrough, aws.ToString(r.EcrRepositoryPrefix)+"="+aws.ToString(r.UpstreamRegistryUrl))
	}
	if len(st.Queues) != 3 || st.Redrive == "" || len(st.Revisions) != 1 || !st.LeaseItem || len(st.PullThrough) != 1 || !st.Service.Steady {
		t.Fatalf("the scenario is not all there: %+v", st)
	}
	return st
}

// waitSaved waits until the test bed has written its periodic snapshots
// twice after now: the second pass began after everything done so far.
func (b *bed) waitSaved(t *testing.T) {
	t.Helper()
	after := time.Now()
	for range 2 {
		var newest time.Time
		eventually(t, 10*time.Second, "state saved", func() (bool, string) {
			newest = time.Time{}
			for _, f := range []string{"ecs.json", "sqs.json", "events.json", "dynamodb.json"} {
				fi, err := os.Stat(filepath.Join(b.state, f))
				if err != nil || !fi.ModTime().After(after) {
					return false, f + " not written since " + after.Format(time.StampMilli)
				}
				if fi.ModTime().After(newest) {
					newest = fi.ModTime()
				}
			}
			return true, ""
		})
		after = newest
	}
}
