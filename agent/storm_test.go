package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// awsClock measures the time spent in AWS calls, per handled message (the
// context carries the accumulator) and in total, and counts the calls by
// operation.
type awsClock struct {
	base  http.RoundTripper
	mu    sync.Mutex
	calls map[string]int
}

type spentKey struct{}

func (c *awsClock) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := c.base.RoundTrip(r)
	if spent, ok := r.Context().Value(spentKey{}).(*atomic.Int64); ok {
		spent.Add(int64(time.Since(start)))
	}
	op := r.Header.Get("X-Amz-Target")
	if op == "" {
		op = r.Method + " registry"
	}
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
	return resp, err
}

// storm is a test bed holding 1000 stopped-task events over 20 task
// definitions (50 tasks of each service) in its event queue.
type storm struct {
	srv      *localaws.Server
	c        scenario.Clients
	sc       *scenario.Scenario
	events   int
	families int
	clock    *awsClock
	healer   *agent.Healer
}

func newStorm(b *testing.B) *storm {
	b.Helper()
	images := []string{"nginx:1.27", "nginx:1.26", "redis:7.2", "python:3.12", "bitnami/redis:7.2", "hashicorp/vault:1.17"}
	ctx := context.Background()
	srv, err := localaws.Start(ctx, localaws.Config{})
	if err != nil {
		b.Fatal(err)
	}
	c := scenario.NewClients(srv.AWSConfig())
	sc, err := scenario.Setup(ctx, c, scenario.Options{HubUser: localaws.HubUser, HubToken: localaws.HubToken, NoService: true, Visibility: 60 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	// One real stop event is the template; the storm varies its task,
	// task definition and image.
	sample := stormTemplate(b, srv, c, sc)
	st := &storm{srv: srv, c: c, sc: sc, families: 20}
	var bodies []string
	for f := 0; f < st.families; f++ {
		in := sc.TaskDefinition()
		in.Family = aws.String(fmt.Sprintf("svc%02d", f))
		in.ContainerDefinitions[0].Image = aws.String(images[f%len(images)])
		td, err := c.ECS.RegisterTaskDefinition(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		arn := aws.ToString(td.TaskDefinition.TaskDefinitionArn)
		if _, err := c.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(sc.Cluster), ServiceName: in.Family,
			TaskDefinition: aws.String(arn), DesiredCount: aws.Int32(0), LaunchType: ecstypes.LaunchTypeFargate,
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}}); err != nil {
			b.Fatal(err)
		}
		for t := 0; t < 50; t++ {
			bodies = append(bodies, stormEvent(sample, aws.ToString(in.Family), arn, images[f%len(images)], fmt.Sprintf("%02d%030d", f, t)))
		}
	}
	for start := 0; start < len(bodies); start += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j, body := range bodies[start:min(start+10, len(bodies))] {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(body)})
		}
		if _, err := c.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(sc.QueueURL), Entries: entries}); err != nil {
			b.Fatal(err)
		}
	}
	st.events = len(bodies)
	st.clock = &awsClock{base: http.DefaultTransport, calls: map[string]int{}}
	cfg := srv.AWSConfig()
	cfg.HTTPClient = &http.Client{Transport: st.clock}
	st.healer, err = agent.NewHealerFromConfig(cfg, agent.Options{DiscoverRules: true, Endpoints: srv.Endpoints(), RegistryTransport: st.clock,
		LockTable: sc.LockTable, Holder: "bench", Lease: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// run receives and handles every event with the given number of workers,
// and returns each event's time minus its own AWS and registry round trips.
func (st *storm) run(b *testing.B, workers int) []time.Duration {
	ctx := context.Background()
	var mu sync.Mutex
	var overheads []time.Duration
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for received := 0; received < st.events; {
		out, err := st.c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.sc.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			b.Fatal(err)
		}
		received += len(out.Messages)
		for _, m := range out.Messages {
			sem <- struct{}{}
			wg.Add(1)
			go func(m sqstypes.Message) {
				defer wg.Done()
				defer func() { <-sem }()
				spent := &atomic.Int64{}
				mctx := context.WithValue(ctx, spentKey{}, spent)
				t0 := time.Now()
				if err := st.healer.HandleMessage(mctx, []byte(aws.ToString(m.Body)), discard); err != nil {
					b.Errorf("handle: %v", err)
				}
				own := time.Since(t0) - time.Duration(spent.Load())
				mu.Lock()
				overheads = append(overheads, own)
				mu.Unlock()
				_, _ = st.c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(st.sc.QueueURL), ReceiptHandle: m.ReceiptHandle})
			}(m)
		}
	}
	wg.Wait()
	return overheads
}

// check fails unless every family got exactly one corrected revision.
func (st *storm) check(b *testing.B) {
	revs := 0
	for f := 0; f < st.families; f++ {
		out, err := st.c.ECS.ListTaskDefinitions(context.Background(), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fmt.Sprintf("svc%02d", f))})
		if err != nil {
			b.Fatal(err)
		}
		revs += len(out.TaskDefinitionArns)
	}
	if revs != 2*st.families {
		b.Fatalf("%d revisions over %d families, want exactly one corrected revision each", revs, st.families)
	}
}

// BenchmarkStorm heals a storm of 1000 stopped-task events over 20 task
// definitions on the test bed with 10 workers, as one agent does. It
// reports the storm's wall time and the AWS and registry calls made per
// healed task definition.
func BenchmarkStorm(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := newStorm(b)
		b.StartTimer()
		began := time.Now()
		st.run(b, 10)
		wall := time.Since(began)
		b.StopTimer()
		st.check(b)
		calls := 0
		var ops []string
		for op, n := range st.clock.calls {
			calls += n
			ops = append(ops, fmt.Sprintf("%s=%d", op[strings.LastIndexByte(op, '.')+1:], n))
		}
		sort.Strings(ops)
		b.ReportMetric(wall.Seconds(), "storm-s")
		b.ReportMetric(float64(calls)/float64(st.families), "calls/taskdef")
		b.Logf("calls for %d events over %d task definitions: %s", st.events, st.families, strings.Join(ops, " "))
		st.srv.Close()
	}
}

// BenchmarkEventOverhead handles the same storm one event at a time, so
// that no event waits on another's heal, and reports the agent's own time
// per event: its handling time minus its AWS and registry round trips.
func BenchmarkEventOverhead(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := newStorm(b)
		b.StartTimer()
		own := st.run(b, 1)
		b.StopTimer()
		st.check(b)
		sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
		b.ReportMetric(float64(own[len(own)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(own[len(own)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(own[len(own)-1].Microseconds()), "max-µs")
		st.srv.Close()
	}
}

// stormTemplate produces one real stop event from the scheduler.
func stormTemplate(b *testing.B, srv *localaws.Server, c scenario.Clients, sc *scenario.Scenario) map[string]any {
	ctx := context.Background()
	srv.Hub.Exhaust("127.0.0.1")
	if _, err := c.ECS.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(sc.Cluster), TaskDefinition: aws.String(sc.TaskDefinitionArn), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := srv.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(sc.QueueURL)})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Messages) == 1 {
			_, _ = c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(sc.QueueURL), ReceiptHandle: out.Messages[0].ReceiptHandle})
			var ev map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &ev); err != nil {
				b.Fatal(err)
			}
			return ev
		}
	}
	b.Fatal("no stop event from the scheduler")
	return nil
}

// stormEvent is the template for another task of another service.
func stormEvent(tmpl map[string]any, service, taskDef, image, id string) string {
	raw, _ := json.Marshal(tmpl)
	s := string(raw)
	detail := tmpl["detail"].(map[string]any)
	s = strings.ReplaceAll(s, detail["taskArn"].(string), detail["taskArn"].(string)[:strings.LastIndexByte(detail["taskArn"].(string), '/')+1]+id)
	s = strings.ReplaceAll(s, detail["taskDefinitionArn"].(string), taskDef)
	s = strings.ReplaceAll(s, `"family:web"`, `"service:`+service+`"`)
	s = strings.ReplaceAll(s, `"image":"nginx:1.27"`, `"image":"`+image+`"`)
	return s
}

var discard = slog.New(slog.DiscardHandler)
