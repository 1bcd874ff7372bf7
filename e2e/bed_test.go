//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// Timings shared by the tests: a fast scheduler, and agents that poll
// briefly so that they notice a stop signal quickly.
const (
	tick         = "100ms"
	restartDelay = "200ms"
	waitTime     = "1s"
	// healTimeout bounds every wait for the loop to do its work.
	healTimeout = 45 * time.Second
)

// addrs are the three listen addresses of `pullheal local`.
type addrs struct{ api, registry, hub string }

var ephemeral = addrs{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}

// bed is one `pullheal local` process and the scenario set up on it.
type bed struct {
	t        *testing.T
	local    *proctest.Proc
	state    string
	env      map[string]string
	addrs    addrs
	registry string // the ECR registry host images name
	c        scenario.Clients
	sc       *scenario.Scenario
	// reviews collects every review event drained so far.
	reviews []scenario.Review
}

type bedConfig struct {
	scenario scenario.Options
	// exhaust uses up the hub's anonymous budget before the service
	// starts, so that every task's pull is refused with a 429.
	exhaust bool
}

// newBed starts `pullheal local` and sets the scenario up on it through
// the AWS APIs, with the test bed's Docker Hub account on the
// pull-through rule.
func newBed(t *testing.T, cfg bedConfig) *bed {
	t.Helper()
	b := startBed(t, t.TempDir(), ephemeral)
	if cfg.exhaust {
		// Before the service exists: its first tasks must already hit the limit.
		b.hub(t, "exhaust", "identity", "127.0.0.1")
	}
	o := cfg.scenario
	o.HubUser, o.HubToken = localaws.HubUser, localaws.HubToken
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc, err := scenario.Setup(ctx, b.c, o)
	if err != nil {
		t.Fatalf("set up the scenario on the test bed: %v", err)
	}
	b.sc = sc
	return b
}

// startBed runs `pullheal local` with its state in dir and waits for its
// environment lines.
func startBed(t *testing.T, dir string, a addrs) *bed {
	t.Helper()
	p := proctest.Start(t, "pullheal local", binary, nil, "local",
		"--listen", a.api, "--registry-listen", a.registry, "--hub-listen", a.hub,
		"--state", dir, "--tick", tick, "--restart-delay", restartDelay)
	env := waitEnv(t, p)
	b := &bed{t: t, local: p, state: dir, env: env}
	eps, err := hostmap.Parse(env["PULLHEAL_REGISTRY_ENDPOINTS"])
	if err != nil {
		t.Fatalf("PULLHEAL_REGISTRY_ENDPOINTS %q: %v", env["PULLHEAL_REGISTRY_ENDPOINTS"], err)
	}
	for host, u := range eps {
		if strings.Contains(host, ".dkr.ecr.") {
			b.registry, b.addrs.registry = host, u.Host
		}
	}
	if b.registry == "" {
		t.Fatalf("PULLHEAL_REGISTRY_ENDPOINTS %q names no ECR registry", env["PULLHEAL_REGISTRY_ENDPOINTS"])
	}
	b.addrs.api = hostOf(t, env["AWS_ENDPOINT_URL"])
	b.addrs.hub = hostOf(t, env["PULLHEAL_HUB_URL"])
	b.c = scenario.NewClients(aws.Config{
		Region:       env["AWS_REGION"],
		BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL"]),
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
	})
	return b
}

// envKeys are the lines `pullheal local` promises.
var envKeys = []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULLHEAL_REGISTRY_ENDPOINTS", "PULLHEAL_HUB_URL"}

func waitEnv(t *testing.T, p *proctest.Proc) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		env := map[string]string{}
		for _, l := range p.StdoutLines() {
			k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "=")
			if ok && strings.HasPrefix(l, "export ") {
				env[k] = v
			}
		}
		missing := ""
		for _, k := range envKeys {
			if env[k] == "" {
				missing = k
				break
			}
		}
		if missing == "" {
			return env
		}
		if !p.Running() {
			t.Fatalf("pullheal local exited before printing %s", missing)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pullheal local printed no %s within 20s", missing)
		}
		p.WaitChange(200 * time.Millisecond)
	}
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%q is not a URL", raw)
	}
	return u.Host
}

// hub calls one of the hub's controls with POST.
func (b *bed) hub(t *testing.T, control string, kv ...string) {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u := b.env["PULLHEAL_HUB_URL"] + "/_hubsim/" + control + "?" + q.Encode()
	resp, err := http.Post(u, "", nil)
	if err != nil {
		t.Fatalf("hub control %s: %v", control, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("hub control %s: %s: %s", control, resp.Status, body)
	}
}

// pullCounts is the hub's GET /_hubsim/pulls.
type pullCounts struct {
	Total                 int                       `json:"total"`
	ByRepository          map[string]map[string]int `json:"byRepository"`
	Throttled             int                       `json:"throttled"`
	ThrottledByRepository map[string]map[string]int `json:"throttledByRepository"`
}

func (b *bed) pulls(t *testing.T) pullCounts {
	t.Helper()
	resp, err := http.Get(b.env["PULLHEAL_HUB_URL"] + "/_hubsim/pulls")
	if err != nil {
		t.Fatalf("hub pulls: %v", err)
	}
	defer resp.Body.Close()
	var pc pullCounts
	if err := json.NewDecoder(resp.Body).Decode(&pc); err != nil {
		t.Fatalf("hub pulls: %v", err)
	}
	return pc
}

// agentEnv points an agent at the test bed, or its AWS APIs at endpoint
// when that is set (a gate in front of them).
func (b *bed) agentEnv(endpoint string) []string {
	var env []string
	for _, k := range envKeys {
		v := b.env[k]
		if k == "AWS_ENDPOINT_URL" && endpoint != "" {
			v = endpoint
		}
		env = append(env, k+"="+v)
	}
	return env
}

// agentProc is a running `pullheal agent`.
type agentProc struct {
	*proctest.Proc
	metricsURL string
}

type agentConfig struct {
	// holder and lockTable coordinate replicas; no lock table means
	// in-process leases.
	holder    string
	lockTable bool
	// visibility is --visibility (5s when empty).
	visibility string
	lease      string
	grace      string
	workers    string
	// endpoint replaces AWS_ENDPOINT_URL (a gate).
	endpoint string
	// args are further flags.
	args []string
}

// startAgent runs an agent on the scenario's queue and waits until it
// serves its metrics.
func (b *bed) startAgent(t *testing.T, name string, cfg agentConfig) *agentProc {
	t.Helper()
	if cfg.visibility == "" {
		cfg.visibility = "5s"
	}
	args := []string{"agent", "--queue-url", b.sc.QueueURL, "--wait-time", waitTime,
		"--visibility", cfg.visibility, "--listen", "127.0.0.1:0"}
	if cfg.lockTable {
		args = append(args, "--lock-table", b.sc.LockTable, "--holder", cfg.holder)
	}
	if cfg.lease != "" {
		args = append(args, "--lease", cfg.lease)
	}
	if cfg.grace != "" {
		args = append(args, "--shutdown-grace", cfg.grace)
	}
	if cfg.workers != "" {
		args = append(args, "--workers", cfg.workers)
	}
	args = append(args, cfg.args...)
	p := proctest.Start(t, name, binary, b.agentEnv(cfg.endpoint), args...)
	l := p.WaitLog(t, 20*time.Second, "its metrics address", func(l proctest.LogLine) bool { return l.Msg() == "serving metrics and health" })
	return &agentProc{Proc: p, metricsURL: "http://" + l.Str("address")}
}

// get fetches one of the agent's HTTP endpoints.
func (a *agentProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(a.metricsURL + path)
	if err != nil {
		t.Fatalf("%s %s: %v", a.Name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", a.Name, path, err)
	}
	return resp.StatusCode, string(body)
}

// metric sums the samples of a metric whose labels include every
// key="value" pair given.
func (a *agentProc) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	code, body := a.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: %d", a.Name, code)
	}
	v, err := proctest.SumMetric(body, name, labels...)
	if err != nil {
		t.Fatalf("%s /metrics: %v", a.Name, err)
	}
	return v
}

// eventually polls cond until it holds (proctest.Eventually).
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	proctest.Eventually(t, timeout, 100*time.Millisecond, what, cond)
}

func ctxT(t *testing.T) context.Context { return proctest.Context(t) }

func (b *bed) service(t *testing.T) scenario.ServiceState {
	t.Helper()
	st, err := b.sc.ServiceState(ctxT(t), b.c)
	if err != nil {
		t.Fatalf("describe service %s: %v", b.sc.Service, err)
	}
	return st
}

// waitHealed waits until the service is steady on a revision other than
// the scenario's first, and returns that revision.
func (b *bed) waitHealed(t *testing.T) string {
	t.Helper()
	return b.waitHealedWithin(t, healTimeout)
}

func (b *bed) waitHealedWithin(t *testing.T, timeout time.Duration) string {
	t.Helper()
	var healed string
	eventually(t, timeout, "service steady on a corrected revision", func() (bool, string) {
		st := b.service(t)
		healed = st.TaskDefinition
		return st.Steady && st.TaskDefinition != b.sc.TaskDefinitionArn, fmt.Sprintf("%+v", st)
	})
	return healed
}

func (b *bed) depth(t *testing.T, queueURL string) (visible, inFlight int) {
	t.Helper()
	v, f, err := scenario.QueueDepth(ctxT(t), b.c, queueURL)
	if err != nil {
		t.Fatalf("queue depth of %s: %v", queueURL, err)
	}
	return v, f
}

// waitQueued waits until the event queue holds at least n messages: the
// tasks have failed and their events arrived.
func (b *bed) waitQueued(t *testing.T, n int) {
	t.Helper()
	eventually(t, healTimeout, fmt.Sprintf("%d stop events in the queue", n), func() (bool, string) {
		v, f := b.depth(t, b.sc.QueueURL)
		return v+f >= n, fmt.Sprintf("visible %d, in flight %d", v, f)
	})
}

// waitDrained waits until no message is left in the event queue, visible
// or in flight: every delivery, duplicates included, has been settled.
func (b *bed) waitDrained(t *testing.T) {
	t.Helper()
	eventually(t, healTimeout, "event queue drained", func() (bool, string) {
		v, f := b.depth(t, b.sc.QueueURL)
		return v == 0 && f == 0, fmt.Sprintf("visible %d, in flight %d", v, f)
	})
}

func (b *bed) revisions(t *testing.T) []string {
	t.Helper()
	revs, err := b.sc.Revisions(ctxT(t), b.c)
	if err != nil {
		t.Fatalf("list revisions: %v", err)
	}
	return revs
}

func (b *bed) describe(t *testing.T, arn string) *ecs.DescribeTaskDefinitionOutput {
	t.Helper()
	out, err := b.c.ECS.DescribeTaskDefinition(ctxT(t), &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatalf("describe %s: %v", arn, err)
	}
	return out
}

func tagMap(tags []ecstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// correctedRevisions are the family's revisions that pullheal generated.
func (b *bed) correctedRevisions(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, arn := range b.revisions(t) {
		if tagMap(b.describe(t, arn).Tags)["pullheal:rewrite-id"] != "" {
			out = append(out, arn)
		}
	}
	return out
}

// drainReviews moves the review events that arrived into b.reviews.
func (b *bed) drainReviews(t *testing.T) []scenario.Review {
	t.Helper()
	got, err := b.sc.Reviews(ctxT(t), b.c)
	if err != nil {
		t.Fatalf("read review events: %v", err)
	}
	b.reviews = append(b.reviews, got...)
	return b.reviews
}

// reviewsOf returns the drained review events of one detail-type.
func (b *bed) reviewsOf(t *testing.T, detailType string) []agent.Review {
	t.Helper()
	var out []agent.Review
	for _, r := range b.drainReviews(t) {
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

// receiveAll takes every message now visible in a queue, deleting them
// when del is set, and returns their bodies.
func (b *bed) receiveAll(t *testing.T, queueURL string, del bool) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := b.c.SQS.ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if !del {
				continue
			}
			if _, err := b.c.SQS.DeleteMessage(ctxT(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete from %s: %v", queueURL, err)
			}
		}
	}
}

// send puts each body on the event queue as a new message.
func (b *bed) send(t *testing.T, bodies []string) {
	t.Helper()
	for _, body := range bodies {
		if _, err := b.c.SQS.SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(b.sc.QueueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("send to %s: %v", b.sc.QueueURL, err)
		}
	}
}

// stopEvent is the part of an ECS task-state-change event the tests read.
type stopEvent struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		TaskArn           string `json:"taskArn"`
		TaskDefinitionArn string `json:"taskDefinitionArn"`
		Group             string `json:"group"`
		LastStatus        string `json:"lastStatus"`
		StoppedReason     string `json:"stoppedReason"`
	} `json:"detail"`
}

func parseStopEvent(t *testing.T, body string) stopEvent {
	t.Helper()
	var ev stopEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatalf("queue message is not an event: %v: %.200s", err, body)
	}
	return ev
}

// workload is the scenario seen through another of its services: the
// same queues and cluster, service and family name.
func (b *bed) workload(name string) *scenario.Scenario {
	w := *b.sc
	w.Service = name
	return &w
}

// addService registers a task definition like the scenario's, family and
// container named name, running image, and starts a Fargate service of
// desired tasks on it in the scenario's cluster.
func (b *bed) addService(t *testing.T, name, image string, desired int32) (*scenario.Scenario, string) {
	t.Helper()
	w := b.workload(name)
	w.Image = image
	td, err := b.c.ECS.RegisterTaskDefinition(ctxT(t), w.TaskDefinition())
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	arn := aws.ToString(td.TaskDefinition.TaskDefinitionArn)
	_, err = b.c.ECS.CreateService(ctxT(t), &ecs.CreateServiceInput{
		Cluster: aws.String(w.Cluster), ServiceName: aws.String(name), DesiredCount: aws.Int32(desired),
		TaskDefinition: aws.String(arn), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-0123456789abcdef0"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
	})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return w, arn
}

// waitSteadyOn waits until w's service is steady on a revision that
// accept takes, and returns it.
func (b *bed) waitSteadyOn(t *testing.T, w *scenario.Scenario, what string, accept func(string) bool) string {
	t.Helper()
	var on string
	eventually(t, healTimeout, "service "+w.Service+" steady on "+what, func() (bool, string) {
		st, err := w.ServiceState(ctxT(t), b.c)
		if err != nil {
			t.Fatalf("describe service %s: %v", w.Service, err)
		}
		on = st.TaskDefinition
		return st.Steady && accept(st.TaskDefinition), fmt.Sprintf("%+v", st)
	})
	return on
}

// peek reads up to ten visible messages and makes them visible again at
// once (a receive with VisibilityTimeout 0 would take the queue's default:
// the SDK does not send a zero).
func (b *bed) peek(t *testing.T, queueURL string) []string {
	t.Helper()
	out, err := b.c.SQS.ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("receive from %s: %v", queueURL, err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
		if _, err := b.c.SQS.ChangeMessageVisibility(ctxT(t), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			t.Fatalf("release %s: %v", queueURL, err)
		}
	}
	return bodies
}

// visibleIDs receives every message now visible in a queue and returns
// their IDs; they stay hidden for 30s afterwards.
func (b *bed) visibleIDs(t *testing.T, queueURL string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for {
		out, err := b.c.SQS.ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return ids
		}
		for _, m := range out.Messages {
			ids[aws.ToString(m.MessageId)] = true
		}
	}
}
