package sqssim_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
)

// FuzzOperations feeds arbitrary bodies to every operation of a queue that
// holds messages: nothing may panic, and whatever state results must survive
// a Snapshot/Restore round trip.
func FuzzOperations(f *testing.F) {
	const url = `"http://127.0.0.1/123456789012/q"`
	seeds := []struct{ op, body string }{
		{"SendMessage", `{"QueueUrl":` + url + `,"MessageBody":"x","MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAE="}}}`},
		{"SendMessageBatch", `{"QueueUrl":` + url + `,"Entries":[{"Id":"1","MessageBody":"a"},{"Id":"2","MessageBody":"b","DelaySeconds":5}]}`},
		{"ReceiveMessage", `{"QueueUrl":` + url + `,"MaxNumberOfMessages":10,"MessageAttributeNames":["All"],"MessageSystemAttributeNames":["All"]}`},
		{"DeleteMessage", `{"QueueUrl":` + url + `,"ReceiptHandle":"YXJuOmF3czpzcXM6dXMtZWFzdC0xOjEyMzQ1Njc4OTAxMjpxIGlkIDEgYWI="}`},
		{"ChangeMessageVisibility", `{"QueueUrl":` + url + `,"ReceiptHandle":"!!","VisibilityTimeout":5}`},
		{"CreateQueue", `{"QueueName":"other","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:q\",\"maxReceiveCount\":\"2\"}"}}`},
		{"SetQueueAttributes", `{"QueueUrl":` + url + `,"Attributes":{"VisibilityTimeout":"0"}}`},
		{"GetQueueAttributes", `{"QueueUrl":` + url + `,"AttributeNames":["All"]}`},
		{"ListQueues", `{"MaxResults":1,"NextToken":"cQ=="}`},
		{"DeleteMessageBatch", `{"QueueUrl":` + url + `,"Entries":[{"Id":"a","ReceiptHandle":"x"}]}`},
		{"PurgeQueue", `{"QueueUrl":` + url + `}`},
	}
	for _, s := range seeds {
		f.Add(s.op, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		sim, err := sqssim.New(sqssim.Config{Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		ops := sim.Service().Ops
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		mustOp := func(name, in string) any {
			out, err := ops[name](ctx, []byte(in))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out
		}
		mustOp("CreateQueue", `{"QueueName":"q"}`)
		mustOp("SendMessage", `{"QueueUrl":`+url+`,"MessageBody":"hello"}`)
		mustOp("SendMessage", `{"QueueUrl":`+url+`,"MessageBody":"world"}`)
		mustOp("ReceiveMessage", `{"QueueUrl":`+url+`}`)

		if fn, ok := ops[op]; ok {
			_, _ = fn(ctx, body)
		}

		var buf bytes.Buffer
		if err := sim.Snapshot(&buf); err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		again, err := sqssim.New(sqssim.Config{Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Restore(strings.NewReader(buf.String())); err != nil {
			t.Fatalf("Restore of a fresh snapshot: %v\n%s", err, buf.String())
		}
	})
}

// FuzzRestore: arbitrary input is refused or restored, never a panic.
func FuzzRestore(f *testing.F) {
	f.Add([]byte(`{"version":1,"account":"123456789012","region":"us-east-1","queues":[{"name":"q","settings":{"visibilityTimeout":30,"messageRetentionPeriod":60,"maximumMessageSize":1024,"redrive":{"deadLetterTargetArn":"x","maxReceiveCount":1}},"messages":[{"id":"1","body":"b","sent":"2026-01-01T00:00:00Z","visibleAt":"2026-01-01T00:00:00Z","handle":"zz"}]}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sim, err := sqssim.New(sqssim.Config{Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		ops := sim.Service().Ops
		out, err := ops["ListQueues"](ctx, []byte(`{}`))
		if err != nil {
			t.Fatalf("ListQueues after Restore: %v", err)
		}
		_ = out
		var buf bytes.Buffer
		if err := sim.Snapshot(&buf); err != nil {
			t.Fatalf("Snapshot after Restore: %v", err)
		}
	})
}
