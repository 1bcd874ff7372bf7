package eventsim_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// BenchmarkECSRuleMatch matches the FACTS.md rule against a recorded
// Fargate pull failure (decode, flatten, match).
func BenchmarkECSRuleMatch(b *testing.B) {
	pattern, err := os.ReadFile("testdata/ecs-rule.pattern.json")
	if err != nil {
		b.Fatal(err)
	}
	event, err := os.ReadFile("testdata/events/fargate-rate-limited.json")
	if err != nil {
		b.Fatal(err)
	}
	p, err := eventsim.ParsePattern(string(pattern))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.Match(event)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

// BenchmarkPutEventsToQueue is one PutEvents through the SDK whose event
// matches a rule and lands in an SQS queue.
func BenchmarkPutEventsToQueue(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	if _, err := e.queues.Service().Ops["CreateQueue"](ctx, []byte(`{"QueueName":"bench"}`)); err != nil {
		b.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["bench"],"detail":{"n":[{"numeric":[">=",0]}]}}`)}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:bench")}}}); err != nil {
		b.Fatal(err)
	}
	in := &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("bench"), DetailType: aws.String("n"), Detail: aws.String(`{"n":1}`)}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.eb.PutEvents(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishEvent is the in-process path the ECS scheduler takes.
func BenchmarkPublishEvent(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	if _, err := e.queues.Service().Ops["CreateQueue"](ctx, []byte(`{"QueueName":"bench"}`)); err != nil {
		b.Fatal(err)
	}
	pattern, err := os.ReadFile("testdata/ecs-rule.pattern.json")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(string(pattern))}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:bench")}}}); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/events/fargate-rate-limited.json")
	if err != nil {
		b.Fatal(err)
	}
	var sample struct{ Detail json.RawMessage }
	if err := json.Unmarshal(raw, &sample); err != nil {
		b.Fatal(err)
	}
	detail := sample.Detail
	ev := wire.Event{Source: "aws.ecs", DetailType: "ECS Task State Change", Time: time.Now(), Detail: detail}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.events.PublishEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}
