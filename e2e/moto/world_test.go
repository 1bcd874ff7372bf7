//go:build e2emoto

package moto

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// healTimeout bounds every wait for the agent to do its work.
const healTimeout = 45 * time.Second

// world is one test's workload on the shared moto: a cluster with one
// service on a rich task definition, the queue the stop events arrive in
// (with a dead-letter queue), an EventBridge bus whose rule delivers
// pullheal's review events to a queue, and the policy file. Every name
// starts with the test's own prefix.
type world struct {
	t      *testing.T
	name   string
	c      scenario.Clients
	image  string // the web container's image
	policy string // path of the policy file

	queueURL, dlqURL, reviewURL string
	bus                         string
	cluster, clusterArn         string
	service                     string
	source                      string // the failing revision's ARN
	reviews                     []scenario.Review
}

type worldConfig struct {
	// image is the web container's image (nginx:1.27).
	image string
	// controller is the service's deployment controller (ECS).
	controller ecstypes.DeploymentControllerType
	// propose sets the policy's heal.serviceUpdate to propose.
	propose bool
}

func newWorld(t *testing.T, name string, cfg worldConfig) *world {
	t.Helper()
	if cfg.image == "" {
		cfg.image = "nginx:1.27"
	}
	w := &world{t: t, name: "pullheal-" + name, c: clients(), image: cfg.image}
	ctx := ctxT(t)
	w.queues(ctx)
	w.reviewBus(ctx)
	w.workload(ctx, cfg.controller)
	w.writePolicy(cfg.propose)
	return w
}

func (w *world) fatal(what string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func (w *world) queues(ctx context.Context) {
	w.t.Helper()
	dlq, err := w.c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.name + "-dlq")})
	w.fatal("create the dead-letter queue", err)
	w.dlqURL = aws.ToString(dlq.QueueUrl)
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": w.queueArn(ctx, w.dlqURL), "maxReceiveCount": "3"})
	q, err := w.c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.name + "-events"),
		Attributes: map[string]string{"RedrivePolicy": string(redrive), "VisibilityTimeout": "30"}})
	w.fatal("create the event queue", err)
	w.queueURL = aws.ToString(q.QueueUrl)
	r, err := w.c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.name + "-reviews")})
	w.fatal("create the review queue", err)
	w.reviewURL = aws.ToString(r.QueueUrl)
}

func (w *world) queueArn(ctx context.Context, u string) string {
	w.t.Helper()
	out, err := w.c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	w.fatal("read the ARN of "+u, err)
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// reviewBus gives the test a bus of its own: the tests share moto, and a
// rule on the default bus would collect every test's reviews.
func (w *world) reviewBus(ctx context.Context) {
	w.t.Helper()
	w.bus = w.name + "-reviews"
	_, err := w.c.Events.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(w.bus)})
	w.fatal("create the review bus", err)
	_, err = w.c.Events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(w.name + "-reviews"),
		EventBusName: aws.String(w.bus), EventPattern: aws.String(scenario.ReviewPattern)})
	w.fatal("put the review rule", err)
	out, err := w.c.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(w.name + "-reviews"), EventBusName: aws.String(w.bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(w.queueArn(ctx, w.reviewURL))}}})
	w.fatal("put the review rule's target", err)
	if out.FailedEntryCount > 0 {
		w.t.Fatalf("put the review rule's target: %s", aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
}

// taskDefinition is testdata/taskdef.json with the test's family and image.
func (w *world) taskDefinition() *ecs.RegisterTaskDefinitionInput {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "taskdef.json"))
	w.fatal("read the task definition", err)
	var in ecs.RegisterTaskDefinitionInput
	w.fatal("decode testdata/taskdef.json", json.Unmarshal(raw, &in))
	in.Family = aws.String(w.name)
	in.ContainerDefinitions[0].Image = aws.String(w.image)
	return &in
}

// workload creates the cluster, registers the task definition and starts a
// service on it. The service has no network configuration: moto checks
// subnets against its own EC2, and pullheal never reads it.
func (w *world) workload(ctx context.Context, controller ecstypes.DeploymentControllerType) {
	w.t.Helper()
	w.cluster, w.service = w.name, "web"
	cl, err := w.c.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(w.cluster)})
	w.fatal("create the cluster", err)
	w.clusterArn = aws.ToString(cl.Cluster.ClusterArn)
	td, err := w.c.ECS.RegisterTaskDefinition(ctx, w.taskDefinition())
	w.fatal("register the task definition", err)
	w.source = aws.ToString(td.TaskDefinition.TaskDefinitionArn)
	in := &ecs.CreateServiceInput{Cluster: aws.String(w.cluster), ServiceName: aws.String(w.service),
		TaskDefinition: aws.String(w.source), DesiredCount: aws.Int32(2), LaunchType: ecstypes.LaunchTypeEc2}
	if controller != "" {
		in.DeploymentController = &ecstypes.DeploymentController{Type: controller}
	}
	_, err = w.c.ECS.CreateService(ctx, in)
	w.fatal("create the service", err)
}

// leaseTable creates a DynamoDB table for --lock-table and returns its name.
func (w *world) leaseTable(t *testing.T) string {
	t.Helper()
	table := w.name + "-leases"
	_, err := w.c.Dynamo.CreateTable(ctxT(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	w.fatal("create the lease table", err)
	return table
}

// writePolicy declares the Docker Hub pull-through rule (moto has no
// DescribePullThroughCacheRules) and leaves the registry to be discovered
// from the ECR authorization token.
func (w *world) writePolicy(propose bool) {
	w.t.Helper()
	text := `version: 1
pullThrough:
  source: declared
  rules:
    - upstream: docker.io
      prefix: docker-hub
`
	if propose {
		text += "heal:\n  serviceUpdate: propose\n"
	}
	w.policy = filepath.Join(w.t.TempDir(), "policy.yaml")
	w.fatal("write the policy", os.WriteFile(w.policy, []byte(text), 0o644))
}

// pushCached puts an image where the pull-through cache would hold repo:tag
// of Docker Hub: docker-hub/REPO in the registry behind the ECR host.
func pushCached(t *testing.T, repo, tag string) {
	t.Helper()
	ref, err := name.NewTag(registryURL.Host + "/docker-hub/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctxT(t))); err != nil {
		t.Fatalf("push %s into docker-registry: %v", ref, err)
	}
}

// target is what the pull-through route makes of a Docker Hub reference.
func target(repo, tag string) string { return ecrHost + "/docker-hub/" + repo + ":" + tag }

// agentProc is a running `pullheal agent`.
type agentProc struct {
	*proctest.Proc
	metricsURL string
}

// startAgent runs the agent on the world's queue: the SDK's standard
// environment points it at moto, PULLHEAL_* twins carry the policy, the
// review bus and the registry mapping, and flags the rest.
func (w *world) startAgent(t *testing.T, name string, flags ...string) *agentProc {
	t.Helper()
	env := []string{
		"AWS_ENDPOINT_URL=" + motoURL, "AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey,
		"PULLHEAL_POLICY=" + w.policy,
		"PULLHEAL_REVIEW_BUS=" + w.bus,
		"PULLHEAL_REGISTRY_ENDPOINTS=" + ecrHost + "=" + registryURL.String(),
	}
	args := append([]string{"agent", "--queue-url", w.queueURL, "--wait-time", "1s", "--visibility", "5s", "--listen", "127.0.0.1:0"}, flags...)
	p := proctest.Start(t, name, binary, env, args...)
	l := p.WaitLog(t, 20*time.Second, "its metrics address", func(l proctest.LogLine) bool { return l.Msg() == "serving metrics and health" })
	return &agentProc{Proc: p, metricsURL: "http://" + l.Str("address")}
}

// metric sums the samples of a metric whose labels include every
// key="value" pair given.
func (a *agentProc) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(a.metricsURL + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", a.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics: %d %v", a.Name, resp.StatusCode, err)
	}
	v, err := proctest.SumMetric(string(body), name, labels...)
	if err != nil {
		t.Fatalf("%s /metrics: %v", a.Name, err)
	}
	return v
}

// stopEvent is a task-state-change event of one of the service's tasks, in
// the envelope the EventBridge rule would deliver to the queue: template is
// a sample event from testdata whose identity is replaced with a new task
// of this world's service, its container with the web container.
func (w *world) stopEvent(template string) string {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", template))
	w.fatal("read the event template", err)
	var ev map[string]any
	w.fatal("decode testdata/"+template, json.Unmarshal(raw, &ev))
	account, reg, ok := ecsarn.AccountRegion(w.source)
	if !ok {
		w.t.Fatalf("%s names no account and region", w.source)
	}
	id := randomHex(16)
	taskArn := fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", reg, account, w.cluster, id)
	ev["id"] = randomHex(4) + "-" + randomHex(2) + "-" + randomHex(2) + "-" + randomHex(2) + "-" + randomHex(6)
	ev["time"] = time.Now().UTC().Format(time.RFC3339)
	ev["account"], ev["region"], ev["resources"] = account, reg, []string{taskArn}
	d := ev["detail"].(map[string]any)
	d["clusterArn"], d["taskArn"], d["taskDefinitionArn"] = w.clusterArn, taskArn, w.source
	d["group"] = "service:" + w.service
	if _, ok := d["containerInstanceArn"]; ok {
		d["containerInstanceArn"] = fmt.Sprintf("arn:aws:ecs:%s:%s:container-instance/%s/%s", reg, account, w.cluster, randomHex(16))
	}
	d["overrides"] = map[string]any{"containerOverrides": []any{map[string]any{"name": "web"}}}
	// The template's image becomes the web container's in every reason.
	containers := d["containers"].([]any)
	c := containers[0].(map[string]any)
	old, _ := c["image"].(string)
	oldRepo, _, _ := strings.Cut(old, ":")
	repo, _, _ := strings.Cut(w.image, ":")
	for _, m := range []map[string]any{c, d} {
		for _, k := range []string{"reason", "stoppedReason"} {
			if s, ok := m[k].(string); ok {
				m[k] = strings.ReplaceAll(s, oldRepo, repo)
			}
		}
	}
	c["name"], c["image"], c["taskArn"] = "web", w.image, taskArn
	c["containerArn"] = fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%s", reg, account, w.cluster, id, randomHex(16))
	d["containers"] = []any{c}
	out, err := json.Marshal(ev)
	w.fatal("encode the event", err)
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// send puts each body into the event queue, as the rule's SQS target does.
func (w *world) send(t *testing.T, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		_, err := w.c.SQS.SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(b)})
		if err != nil {
			t.Fatalf("send to %s: %v", w.queueURL, err)
		}
	}
}

func (w *world) depth(t *testing.T, queueURL string) (visible, inFlight int) {
	t.Helper()
	v, f, err := scenario.QueueDepth(ctxT(t), w.c, queueURL)
	if err != nil {
		t.Fatalf("queue depth of %s: %v", queueURL, err)
	}
	return v, f
}

// waitDrained waits until no message is left in the event queue, visible or
// in flight: the agent deleted every delivery.
func (w *world) waitDrained(t *testing.T) {
	t.Helper()
	eventually(t, healTimeout, "event queue drained", func() (bool, string) {
		v, f := w.depth(t, w.queueURL)
		return v == 0 && f == 0, fmt.Sprintf("visible %d, in flight %d", v, f)
	})
}

// serviceRevision is the revision the service runs, as DescribeServices
// reports it: the full ARN on AWS, and on moto whatever form the last
// UpdateService gave.
func (w *world) serviceRevision(t *testing.T) string {
	t.Helper()
	out, err := w.c.ECS.DescribeServices(ctxT(t), &ecs.DescribeServicesInput{Cluster: aws.String(w.cluster), Services: []string{w.service}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describe service %s: %v (%d services)", w.service, err, len(out.Services))
	}
	return aws.ToString(out.Services[0].TaskDefinition)
}

// waitServiceMoved waits until the service runs another revision than the
// failing one, and returns it.
func (w *world) waitServiceMoved(t *testing.T) string {
	t.Helper()
	var now string
	eventually(t, healTimeout, "service on a corrected revision", func() (bool, string) {
		now = w.serviceRevision(t)
		return !sameRevision(now, w.source), now
	})
	return now
}

// revisions lists the family's ACTIVE revisions, in the order moto gives.
func (w *world) revisions(t *testing.T) []string {
	t.Helper()
	var revs []string
	p := ecs.NewListTaskDefinitionsPaginator(w.c.ECS, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(w.name), Status: ecstypes.TaskDefinitionStatusActive})
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("list revisions of %s: %v", w.name, err)
		}
		revs = append(revs, page.TaskDefinitionArns...)
	}
	return revs
}

func (w *world) describe(t *testing.T, arn string) *ecs.DescribeTaskDefinitionOutput {
	t.Helper()
	out, err := w.c.ECS.DescribeTaskDefinition(ctxT(t), &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatalf("describe %s: %v", arn, err)
	}
	return out
}

// correctedRevisions are the family's revisions other than the source.
func (w *world) correctedRevisions(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, arn := range w.revisions(t) {
		if arn != w.source {
			out = append(out, arn)
		}
	}
	return out
}

// reviewsOf drains the review queue and returns the reviews of one
// detail-type received so far.
func (w *world) reviewsOf(t *testing.T, detailType string) []agent.Review {
	t.Helper()
	got, err := (&scenario.Scenario{ReviewQueueURL: w.reviewURL}).Reviews(ctxT(t), w.c)
	if err != nil {
		t.Fatalf("read review events: %v", err)
	}
	w.reviews = append(w.reviews, got...)
	var out []agent.Review
	for _, r := range w.reviews {
		if r.DetailType != detailType {
			continue
		}
		var rv agent.Review
		if err := json.Unmarshal(r.Detail, &rv); err != nil {
			t.Fatalf("review event detail: %v", err)
		}
		out = append(out, rv)
	}
	return out
}

// waitReview waits for the first review of detailType.
func (w *world) waitReview(t *testing.T, detailType string) agent.Review {
	t.Helper()
	var got []agent.Review
	eventually(t, healTimeout, "a "+strconv.Quote(detailType)+" review", func() (bool, string) {
		got = w.reviewsOf(t, detailType)
		return len(got) > 0, fmt.Sprintf("%d reviews of any kind", len(w.reviews))
	})
	return got[0]
}

// sameRevision reports whether two references (ARN or FAMILY:REVISION) name
// the same revision.
func sameRevision(a, b string) bool { return ecsarn.Name(a) == ecsarn.Name(b) }

func tagMap(tags []ecstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// eventually polls cond until it holds (proctest.Eventually).
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	proctest.Eventually(t, timeout, 250*time.Millisecond, what, cond)
}

func ctxT(t *testing.T) context.Context { return proctest.Context(t) }
