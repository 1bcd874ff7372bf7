package eventsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

// recorded is one of the sample ECS events with the parts an AWS service
// hands to EventBridge.
type recorded struct {
	file  string
	raw   []byte
	event wire.Event
	id    string
}

func loadRecorded(t *testing.T) []recorded {
	t.Helper()
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	var out []recorded
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			ID         string          `json:"id"`
			DetailType string          `json:"detail-type"`
			Source     string          `json:"source"`
			Account    string          `json:"account"`
			Time       time.Time       `json:"time"`
			Region     string          `json:"region"`
			Resources  []string        `json:"resources"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, recorded{file: filepath.Base(f), raw: raw, id: env.ID, event: wire.Event{
			Source: env.Source, DetailType: env.DetailType, Account: env.Account, Region: env.Region,
			Time: env.Time, Resources: env.Resources, Detail: env.Detail,
		}})
	}
	return out
}

// expectedBody is the sample as EventBridge would deliver it: the same JSON,
// compact, with the id EventBridge assigned.
func expectedBody(t *testing.T, r recorded, id string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, r.raw); err != nil {
		t.Fatal(err)
	}
	body := buf.String()
	if !strings.Contains(body, `"id":"`+r.id+`"`) {
		t.Fatalf("%s: id %s not found", r.file, r.id)
	}
	return strings.Replace(body, `"id":"`+r.id+`"`, `"id":"`+id+`"`, 1)
}

// TestECSEventsReachTheQueue is the loop's first hop: the rule from
// FACTS.md with an SQS target, ECS task state changes published as the ECS
// service does, and the agent's SQS client receiving the exact event JSON.
func TestECSEventsReachTheQueue(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	url, arn := e.queue(t, "pullheal-events")
	pattern, err := os.ReadFile("testdata/ecs-rule.pattern.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("pullheal-pull-failures"), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("pullheal-pull-failures"), Targets: []types.Target{{Id: aws.String("agent-queue"), Arn: aws.String(arn)}}}); err != nil {
		t.Fatal(err)
	}
	var publisher wire.EventPublisher = e.events
	var want map[string]bool
	b, err := os.ReadFile("testdata/ecs-rule.expect.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, r := range loadRecorded(t) {
		t.Run(r.file, func(t *testing.T) {
			if err := publisher.PublishEvent(ctx, r.event); err != nil {
				t.Fatal(err)
			}
			bodies := e.drain(t, url)
			if !want[r.file] {
				if len(bodies) != 0 {
					t.Fatalf("delivered %d messages for an event the rule does not match", len(bodies))
				}
				return
			}
			if len(bodies) != 1 {
				t.Fatalf("delivered %d messages, want 1", len(bodies))
			}
			var got struct{ ID string }
			if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(expectedBody(t, r, got.ID), bodies[0]); diff != "" {
				t.Fatalf("message body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPutEventsDelivery covers PutEvents on a custom bus: EventId matches
// the delivered id, Time and Resources are carried, Input and InputPath
// shape the body, disabled rules and other buses deliver nothing.
func TestPutEventsDelivery(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	fullURL, fullArn := e.queue(t, "full")
	detailURL, detailArn := e.queue(t, "detail-only")
	constURL, constArn := e.queue(t, "constant")
	disabledURL, disabledArn := e.queue(t, "disabled")
	if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("review")}); err != nil {
		t.Fatal(err)
	}
	rule := func(name, pattern string, state types.RuleState, targets ...types.Target) {
		t.Helper()
		if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String("review"), EventPattern: aws.String(pattern), State: state}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String("review"), Targets: targets}); err != nil {
			t.Fatal(err)
		}
	}
	rule("revisions", `{"source":["pullheal"],"detail-type":["Task Definition Rewritten"]}`, types.RuleStateEnabled,
		types.Target{Id: aws.String("full"), Arn: aws.String(fullArn)},
		types.Target{Id: aws.String("detail"), Arn: aws.String(detailArn), InputPath: aws.String("$.detail.images[1]")},
		types.Target{Id: aws.String("constant"), Arn: aws.String(constArn), Input: aws.String(`{"note": "a rewrite happened"}`)},
		types.Target{Id: aws.String("lambda"), Arn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:notify")},
	)
	rule("off", `{"source":["pullheal"]}`, types.RuleStateDisabled, types.Target{Id: aws.String("q"), Arn: aws.String(disabledArn)})

	detail := `{"sourceRevision": "web:42", "images": [{"from": "nginx:1.27"}, {"from": "redis:7", "to": "<ecr>/docker-hub/library/redis:7"}]}`
	when := time.Date(2026, 6, 2, 11, 0, 5, 0, time.UTC)
	out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("pullheal"), DetailType: aws.String("Task Definition Rewritten"), Detail: aws.String(detail), EventBusName: aws.String("review"), Time: aws.Time(when), Resources: []string{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:43"}},
		{Source: aws.String("pullheal"), DetailType: aws.String("Task Definition Rewritten"), Detail: aws.String(detail)}, // default bus: no rules
		{Source: aws.String("pullheal"), DetailType: aws.String("Something Else"), Detail: aws.String(`{}`), EventBusName: aws.String("arn:aws:events:us-east-1:123456789012:event-bus/review")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("FailedEntryCount = %d: %v", out.FailedEntryCount, out.Entries)
	}
	id := aws.ToString(out.Entries[0].EventId)
	wantFull := `{"version":"0","id":"` + id + `","detail-type":"Task Definition Rewritten","source":"pullheal","account":"123456789012","time":"2026-06-02T11:00:05Z","region":"us-east-1","resources":["arn:aws:ecs:us-east-1:123456789012:task-definition/web:43"],"detail":{"sourceRevision":"web:42","images":[{"from":"nginx:1.27"},{"from":"redis:7","to":"<ecr>/docker-hub/library/redis:7"}]}}`
	got := map[string][]string{
		"full":     e.drain(t, fullURL),
		"detail":   e.drain(t, detailURL),
		"constant": e.drain(t, constURL),
		"disabled": e.drain(t, disabledURL),
	}
	want := map[string][]string{
		"full":     {wantFull},
		"detail":   {`{"from":"redis:7","to":"<ecr>/docker-hub/library/redis:7"}`},
		"constant": {`{"note": "a rewrite happened"}`},
		"disabled": nil,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") })); diff != "" {
		t.Fatalf("deliveries (-want +got):\n%s", diff)
	}

	// The event time defaults to the clock.
	if _, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("pullheal"), DetailType: aws.String("Task Definition Rewritten"), Detail: aws.String(`{}`), EventBusName: aws.String("review")},
	}}); err != nil {
		t.Fatal(err)
	}
	bodies := e.drain(t, fullURL)
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"time":"2026-06-02T10:15:42Z"`) || !strings.Contains(bodies[0], `"resources":[]`) {
		t.Fatalf("delivered %v, want the clock's time and empty resources", bodies)
	}
}

func TestPublishEvent(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	url, arn := e.queue(t, "ecs")
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("all-ecs"), EventPattern: aws.String(`{"source":["aws.ecs"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("all-ecs"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String(arn)}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.events.PublishEvent(ctx, wire.Event{Source: "aws.ecs", DetailType: "ECS Task State Change"}); err != nil {
		t.Fatal(err)
	}
	bodies := e.drain(t, url)
	if len(bodies) != 1 {
		t.Fatalf("delivered %d, want 1", len(bodies))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil {
		t.Fatal(err)
	}
	delete(got, "id")
	want := map[string]any{"version": "0", "detail-type": "ECS Task State Change", "source": "aws.ecs", "account": "123456789012", "time": "2026-06-02T10:15:42Z", "region": "us-east-1", "resources": []any{}, "detail": map[string]any{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}

	tests := []struct {
		name  string
		event wire.Event
		is    error
	}{
		{"no source", wire.Event{DetailType: "x"}, nil},
		{"no detail type", wire.Event{Source: "aws.ecs"}, nil},
		{"detail not an object", wire.Event{Source: "aws.ecs", DetailType: "x", Detail: json.RawMessage(`[1]`)}, nil},
		{"detail not JSON", wire.Event{Source: "aws.ecs", DetailType: "x", Detail: json.RawMessage(`{`)}, nil},
		{"missing bus", wire.Event{Bus: "nope", Source: "aws.ecs", DetailType: "x"}, eventsim.ErrNoSuchBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.events.PublishEvent(ctx, tt.event)
			if err == nil {
				t.Fatal("PublishEvent succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("PublishEvent = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestFailedDeliveryIsDroppedAndLogged(t *testing.T) {
	var logs proctest.LogSink
	e := newEnv(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx := context.Background()
	url, arn := e.queue(t, "present")
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["pullheal"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []types.Target{
		{Id: aws.String("gone"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:gone")},
		{Id: aws.String("present"), Arn: aws.String(arn)},
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("pullheal"), DetailType: aws.String("x"), Detail: aws.String(`{}`)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %v", err, out)
	}
	if got := e.drain(t, url); len(got) != 1 {
		t.Fatalf("the working target got %d messages, want 1", len(got))
	}
	var rec struct{ Msg, Target, Rule, Error string }
	if err := json.Unmarshal([]byte(logs.String()), &rec); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	want := struct{ Msg, Target, Rule, Error string }{"event delivery failed", "arn:aws:sqs:us-east-1:123456789012:gone", "arn:aws:events:us-east-1:123456789012:rule/r", "send to arn:aws:sqs:us-east-1:123456789012:gone: no such queue"}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("log record (-want +got):\n%s", diff)
	}
}

func TestSnapshotRestore(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	url, arn := e.queue(t, "kept")
	if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("custom"), Description: aws.String("kept bus")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventBusName: aws.String("custom"), EventPattern: aws.String(`{"source":["pullheal"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), EventBusName: aws.String("custom"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String(arn), InputPath: aws.String("$.detail")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("tick"), ScheduleExpression: aws.String("rate(1 hour)"), State: types.RuleStateDisabled}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.events.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := eventsim.New(eventsim.Config{Clock: e.clock, Queues: e.queues})
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := restored.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(buf.String(), again.String()); diff != "" {
		t.Fatalf("snapshot of the restored state differs (-before +after):\n%s", diff)
	}
	if err := restored.PublishEvent(ctx, wire.Event{Bus: "custom", Source: "pullheal", DetailType: "x", Detail: json.RawMessage(`{"after":"restore"}`)}); err != nil {
		t.Fatal(err)
	}
	if got := e.drain(t, url); len(got) != 1 || got[0] != `{"after":"restore"}` {
		t.Fatalf("delivered after restore: %v", got)
	}

	bad := []struct{ name, input, wantErr string }{
		{"not json", "x", "decode eventbridge snapshot"},
		{"version", `{"version":9,"account":"123456789012","region":"us-east-1","buses":[]}`, "version 9"},
		{"region", `{"version":1,"account":"123456789012","region":"eu-west-1","buses":[]}`, `region "eu-west-1"`},
		{"no default bus", `{"version":1,"account":"123456789012","region":"us-east-1","buses":[]}`, "default bus is missing"},
		{"bad pattern", `{"version":1,"account":"123456789012","region":"us-east-1","buses":[{"name":"default","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","rules":[{"name":"r","pattern":"{}","state":"ENABLED","targets":[]}]}]}`, "Filter is empty"},
		{"bad target", `{"version":1,"account":"123456789012","region":"us-east-1","buses":[{"name":"default","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","rules":[{"name":"r","pattern":"{\"a\":[1]}","state":"ENABLED","targets":[{"Id":"t","Arn":"nope"}]}]}]}`, "not in correct format"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := restored.Restore(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Restore() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConcurrentPutEventsAndRuleChanges exercises the locks under the race
// detector: events flow while rules and targets change.
func TestConcurrentPutEventsAndRuleChanges(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	url, arn := e.queue(t, "busy")
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stable"), EventPattern: aws.String(`{"source":["load"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stable"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String(arn)}}}); err != nil {
		t.Fatal(err)
	}
	const senders, perSender = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, senders+1)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("load"), DetailType: aws.String("n"), Detail: aws.String(fmt.Sprintf(`{"s":%d,"i":%d}`, s, i))}}})
				if err != nil || out.FailedEntryCount != 0 {
					errs <- fmt.Errorf("PutEvents: %v %v", err, out)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			name := fmt.Sprintf("churn-%d", i%3)
			if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(`{"source":["other"]}`)}); err != nil {
				errs <- err
				return
			}
			if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []types.Target{{Id: aws.String("t"), Arn: aws.String(arn)}}}); err != nil {
				errs <- err
				return
			}
			if _, err := e.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(name), Ids: []string{"t"}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.drain(t, url); len(got) != senders*perSender {
		t.Fatalf("delivered %d, want %d", len(got), senders*perSender)
	}
}
