package eventsim_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// env is EventBridge and SQS mounted on one loopback endpoint, as the
// root test-bed server does, with real SDK clients for both.
type env struct {
	events *eventsim.EventBridge
	queues *sqssim.SQS
	clock  *wire.ManualClock
	eb     *eventbridge.Client
	sqs    *sqs.Client
}

func newEnv(t testing.TB, logger *slog.Logger) *env {
	t.Helper()
	clock := wire.NewManualClock(time.Date(2026, 6, 2, 10, 15, 42, 0, time.UTC))
	queues, err := sqssim.New(sqssim.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	events, err := eventsim.New(eventsim.Config{Clock: clock, Queues: queues, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg := simtest.Config(simtest.Serve(t, events.Service(), queues.Service()))
	return &env{events: events, queues: queues, clock: clock, eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
}

// queue creates an SQS queue and returns its URL and ARN.
func (e *env) queue(t *testing.T, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	out, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl), attrs.Attributes["QueueArn"]
}

// drain receives every message now in a queue, deleting each.
func (e *env) drain(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	for {
		out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := e.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func errorCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	return apiErr.ErrorCode()
}
