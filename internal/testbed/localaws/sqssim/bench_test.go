package sqssim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
)

// BenchmarkSendReceiveDelete is one message's full trip through the real SDK
// client over loopback HTTP: SendMessage, ReceiveMessage, DeleteMessage.
func BenchmarkSendReceiveDelete(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	out, err := e.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	url := out.QueueUrl
	body := aws.String(strings.Repeat("x", 2048))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: body}); err != nil {
			b.Fatal(err)
		}
		got, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url})
		if err != nil || len(got.Messages) != 1 {
			b.Fatalf("receive: %v %v", err, got)
		}
		if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveBehindInFlight measures ReceiveMessage (in process, no
// HTTP) when the oldest messages are all in flight, the worst case of the
// send-order scan.
func BenchmarkReceiveBehindInFlight(b *testing.B) {
	for _, inFlight := range []int{100, 10000} {
		b.Run(fmt.Sprint(inFlight), func(b *testing.B) {
			sim, err := sqssim.New(sqssim.Config{Clock: newFakeClock()})
			if err != nil {
				b.Fatal(err)
			}
			ops := sim.Service().Ops
			ctx := context.Background()
			call := func(op, body string) []byte {
				out, err := ops[op](ctx, []byte(body))
				if err != nil {
					b.Fatalf("%s: %v", op, err)
				}
				j, err := json.Marshal(out)
				if err != nil {
					b.Fatal(err)
				}
				return j
			}
			const url = `"http://localhost/123456789012/q"`
			call("CreateQueue", `{"QueueName":"q","Attributes":{"VisibilityTimeout":"43200"}}`)
			for range inFlight {
				call("SendMessage", `{"QueueUrl":`+url+`,"MessageBody":"held"}`)
			}
			for range inFlight / 10 {
				call("ReceiveMessage", `{"QueueUrl":`+url+`,"MaxNumberOfMessages":10}`)
			}
			b.ReportAllocs()
			for b.Loop() {
				call("SendMessage", `{"QueueUrl":`+url+`,"MessageBody":"fresh"}`)
				var got struct {
					Messages []struct{ ReceiptHandle string }
				}
				if err := json.Unmarshal(call("ReceiveMessage", `{"QueueUrl":`+url+`}`), &got); err != nil || len(got.Messages) != 1 {
					b.Fatalf("receive: %v %+v", err, got)
				}
				call("DeleteMessage", `{"QueueUrl":`+url+`,"ReceiptHandle":"`+got.Messages[0].ReceiptHandle+`"}`)
			}
		})
	}
}
