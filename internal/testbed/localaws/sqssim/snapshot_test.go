package sqssim_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func TestSnapshotRestore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := e.createQueue(t, "keep-dlq", nil)
	url := e.createQueue(t, "keep", map[string]string{
		"VisibilityTimeout": "30",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + e.queueArn(t, dlq) + `","maxReceiveCount":4}`,
	})
	if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(url),
		MessageBody:       aws.String("waiting"),
		MessageAttributes: map[string]types.MessageAttributeValue{"blob": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}}},
	}); err != nil {
		t.Fatal(err)
	}
	e.send(t, url, "in flight")
	inFlight := e.receive(t, url, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10})
	if len(inFlight) != 2 {
		t.Fatalf("received %d, want 2", len(inFlight))
	}
	// Put one back so the snapshot holds a visible and an in-flight message.
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: inFlight[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	held := inFlight[1]

	var buf bytes.Buffer
	if err := e.sim.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}

	// A new process: same clock, new server.
	sim, err := sqssim.New(sqssim.Config{Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	restartedURL := simtest.Serve(t, sim.Service())
	client := newClient(restartedURL)
	e2 := &env{sim: sim, clock: e.clock, client: client, url: restartedURL}

	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"VisibilityTimeout", "RedrivePolicy"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"VisibilityTimeout": "30", "RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:keep-dlq","maxReceiveCount":4}`}, attrs.Attributes); diff != "" {
		t.Errorf("restored attributes (-want +got):\n%s", diff)
	}
	if c := e2.counts(t, url); c != [3]int{1, 1, 0} {
		t.Fatalf("restored counts = %v, want one visible and one in flight", c)
	}
	visible := e2.receive(t, url, &sqs.ReceiveMessageInput{MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	if len(visible) != 1 || aws.ToString(visible[0].Body) != aws.ToString(inFlight[0].Body) {
		t.Fatalf("received %v, want the visible message", visible)
	}
	if got := visible[0].Attributes["ApproximateReceiveCount"]; got != "2" {
		t.Errorf("restored receive count gives %s on the next receive, want 2", got)
	}
	// The handle issued before the restart still deletes the in-flight one.
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: held.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with a handle from before the restore: %v", err)
	}
	e.clock.Advance(time.Minute)
	left := e2.receive(t, url, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10})
	if len(left) != 1 {
		t.Fatalf("%d messages left, want 1", len(left))
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"not json", "queues", "decode sqs snapshot"},
		{"unknown field", `{"version":1,"account":"123456789012","region":"us-east-1","queues":[],"extra":1}`, "unknown field"},
		{"future version", `{"version":2,"account":"123456789012","region":"us-east-1","queues":[]}`, "version 2"},
		{"other account", `{"version":1,"account":"000000000000","region":"us-east-1","queues":[]}`, `account "000000000000"`},
		{"bad queue name", `{"version":1,"account":"123456789012","region":"us-east-1","queues":[{"name":"a b","settings":{"visibilityTimeout":30,"messageRetentionPeriod":60,"maximumMessageSize":1024},"messages":[]}]}`, `invalid name "a b"`},
		{"duplicate queue", `{"version":1,"account":"123456789012","region":"us-east-1","queues":[{"name":"q","settings":{"visibilityTimeout":30,"messageRetentionPeriod":60,"maximumMessageSize":1024},"messages":[]},{"name":"q","settings":{"visibilityTimeout":30,"messageRetentionPeriod":60,"maximumMessageSize":1024},"messages":[]}]}`, "appears twice"},
		{"settings out of range", `{"version":1,"account":"123456789012","region":"us-east-1","queues":[{"name":"q","settings":{"visibilityTimeout":30,"messageRetentionPeriod":1,"maximumMessageSize":1024},"messages":[]}]}`, "retention period 1 out of range"},
		{"message without id", `{"version":1,"account":"123456789012","region":"us-east-1","queues":[{"name":"q","settings":{"visibilityTimeout":30,"messageRetentionPeriod":60,"maximumMessageSize":1024},"messages":[{"body":"x"}]}]}`, "missing id or body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := sqssim.New(sqssim.Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = sim.Restore(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Restore() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSendToQueue(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "targets", nil)
	var sender wire.QueueSender = e.sim
	body := `{"version":"0","detail":{}}`
	if err := sender.SendToQueue(context.Background(), "arn:aws:sqs:us-east-1:123456789012:targets", body); err != nil {
		t.Fatal(err)
	}
	got := e.receive(t, url, &sqs.ReceiveMessageInput{MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SenderId"}})
	if len(got) != 1 || aws.ToString(got[0].Body) != body {
		t.Fatalf("received %v, want the sent body", got)
	}
	if got[0].Attributes["SenderId"] != "events.amazonaws.com" {
		t.Errorf("SenderId = %q, want events.amazonaws.com", got[0].Attributes["SenderId"])
	}
	for _, arn := range []string{"arn:aws:sqs:us-east-1:123456789012:missing", "arn:aws:sqs:eu-west-1:123456789012:targets", "not-an-arn"} {
		if err := sender.SendToQueue(context.Background(), arn, body); !errors.Is(err, sqssim.ErrNoSuchQueue) {
			t.Errorf("SendToQueue(%s) = %v, want ErrNoSuchQueue", arn, err)
		}
	}
	if err := sender.SendToQueue(context.Background(), "arn:aws:sqs:us-east-1:123456789012:targets", "bad\x00body"); err == nil {
		t.Error("SendToQueue accepted a body with a NUL character")
	}
}
