package wire

import (
	"context"
	"encoding/json"
	"time"
)

// Event is an event as an AWS service hands it to EventBridge: the envelope
// fields a bus needs to match rules and build the delivered JSON.
type Event struct {
	Bus        string // "" or "default" for the default bus
	Source     string
	DetailType string
	Account    string
	Region     string
	Time       time.Time
	Resources  []string
	Detail     json.RawMessage
}

// EventPublisher delivers events to EventBridge the way an AWS service does
// (the local ECS scheduler publishes its task state changes through it).
type EventPublisher interface {
	PublishEvent(ctx context.Context, e Event) error
}

// QueueSender delivers a message body to an SQS queue named by its ARN, the
// way an EventBridge SQS target does.
type QueueSender interface {
	SendToQueue(ctx context.Context, queueArn, body string) error
}
