package agent_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

// failTasks runs the scheduler until the scenario's service has stopped
// tasks whose events wait in the queue, and returns those bodies after
// taking them off the queue.
func (b *bed) failTasks(t *testing.T, want int) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	// The scheduler makes the events in well under a second alone; the
	// bound is for a machine busy with other race-detector tests.
	deadline := time.Now().Add(30 * time.Second)
	for len(bodies) < want && time.Now().Before(deadline) {
		if err := b.srv.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		out, err := b.c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.sc.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := b.c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.sc.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	if len(bodies) < want {
		t.Fatalf("%d stop events, want %d", len(bodies), want)
	}
	return bodies
}

func (b *bed) send(t *testing.T, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		if _, err := b.c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(b.sc.QueueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
}

// reviews decodes the review events collected so far, by detail-type.
func (b *bed) reviews(t *testing.T) map[string][]agent.Review {
	t.Helper()
	raw, err := b.sc.Reviews(context.Background(), b.c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]agent.Review{}
	for _, r := range raw {
		var rv agent.Review
		if err := json.Unmarshal(r.Detail, &rv); err != nil {
			t.Fatal(err)
		}
		out[r.DetailType] = append(out[r.DetailType], rv)
	}
	return out
}

// waitDrained waits until the event queue holds nothing, visible or not.
func (b *bed) waitDrained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		v, f, err := scenario.QueueDepth(context.Background(), b.c, b.sc.QueueURL)
		if err != nil {
			t.Fatal(err)
		}
		if v == 0 && f == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the event queue did not drain")
}

func (b *bed) revisions(t *testing.T) []string {
	t.Helper()
	revs, err := b.sc.Revisions(context.Background(), b.c)
	if err != nil {
		t.Fatal(err)
	}
	return revs
}

// TestOneRevisionForDuplicatesAndReplicas: the events of 20 failed tasks,
// each delivered three times in shuffled order, handled by three replicas
// sharing a lease table, yield one revision and one service update.
func TestOneRevisionForDuplicatesAndReplicas(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 20})
	bodies := b.failTasks(t, 20)
	var all []string
	for i := 0; i < 3; i++ {
		all = append(all, bodies...)
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	b.send(t, all...)
	o1, o2, o3 := b.options("r1"), b.options("r2"), b.options("r3")
	o2.Intake.Visibility, o3.Intake.Visibility = 2*time.Second, 2*time.Second
	stop := b.runAgents(t, o1, o2, o3)
	healed := b.waitHealed(t)
	b.waitDrained(t)
	stop()
	if revs := b.revisions(t); len(revs) != 2 || revs[1] != healed {
		t.Fatalf("revisions %v, want the original and %s", revs, healed)
	}
	updates := 0
	for _, rv := range b.reviews(t)[agent.DetailCorrected] {
		if rv.ServiceUpdated {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("%d service updates reported, want 1", updates)
	}
}

func TestServiceMovedOnIsLeftAlone(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 2})
	ctx := context.Background()
	bodies := b.failTasks(t, 1)
	// Someone deploys their own revision before pullheal sees the failure,
	// and it pulls fine (the hub's budget has recovered).
	b.srv.Hub.Reset()
	in := b.sc.TaskDefinition()
	in.ContainerDefinitions[0].Image = aws.String("nginx:1.26")
	own, err := b.c.ECS.RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ownArn := aws.ToString(own.TaskDefinition.TaskDefinitionArn)
	if _, err := b.c.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(b.sc.Cluster), Service: aws.String(b.sc.Service), TaskDefinition: own.TaskDefinition.TaskDefinitionArn}); err != nil {
		t.Fatal(err)
	}
	b.send(t, bodies[0])
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.ServiceUpdated || !strings.Contains(rv.ServiceAction, "moved on") {
		t.Errorf("review %+v, want the service left alone", rv)
	}
	st, err := b.sc.ServiceState(ctx, b.c)
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskDefinition != ownArn {
		t.Errorf("service runs %s, want the engineer's %s", st.TaskDefinition, ownArn)
	}
}

func (b *bed) waitReview(t *testing.T, detailType string) agent.Review {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rs := b.reviews(t)[detailType]; len(rs) > 0 {
			return rs[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q review event", detailType)
	return agent.Review{}
}

func TestProposeModeRegistersWithoutUpdating(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1})
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nheal:\n  serviceUpdate: propose\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o := b.options("r1")
	o.Policy = pol
	stop := b.runAgents(t, o)
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.ServiceUpdated || !strings.HasPrefix(rv.ServiceAction, "proposed") || rv.TaskDefinitionArn == "" {
		t.Errorf("review %+v, want a registered, proposed revision", rv)
	}
	st, err := b.sc.ServiceState(context.Background(), b.c)
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskDefinition != b.sc.TaskDefinitionArn {
		t.Errorf("service moved to %s in propose mode", st.TaskDefinition)
	}
}

func TestGeneratedRevisionIsNotRewrittenAgain(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, Tags: map[string]string{"pullheal:generation": "1", "pullheal:rewrite-id": "0123456789abcdef"}})
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailSkipped)
	if !strings.Contains(rv.Reason, "generated by pullheal") {
		t.Errorf("reason %q", rv.Reason)
	}
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
}

func TestFargateWithoutExecutionRoleIsReported(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, NoExecutionRole: true})
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailFailed)
	if !strings.Contains(rv.Reason, "executionRoleArn") {
		t.Errorf("reason %q", rv.Reason)
	}
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
}

// TestOtherFailuresAndForeignMessages: a pull that failed for another
// reason, malformed JSON and an event of another kind are all consumed and
// change nothing.
func TestOtherFailuresAndForeignMessages(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, Image: "nginx:0.0-missing"})
	b.srv.Hub.Reset() // a budget to spare: the image is simply missing
	b.failTasks(t, 1)
	b.send(t, "not json at all", `{"version":"0","id":"1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}`)
	b.send(t, b.failTasks(t, 1)...)
	stop := b.runAgents(t, b.options("r1"))
	b.waitDrained(t)
	stop()
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
	if rs := b.reviews(t); len(rs) != 0 {
		t.Errorf("review events %v, want none", rs)
	}
}
