package sqssim_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestConcurrentReceiversNeverShareAMessage runs 200 receivers and deleters
// against senders. The clock stands still, so every message stays within its
// visibility timeout once received: any message handed out twice is a bug.
// After all are deleted, nothing is left in the queue.
func TestConcurrentReceiversNeverShareAMessage(t *testing.T) {
	const (
		receivers = 200
		senders   = 10
		perSender = 60
		total     = senders * perSender
	)
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "busy", map[string]string{"VisibilityTimeout": "30"})

	var (
		mu       sync.Mutex
		received = map[string]int{} // message ID -> receives
		deleted  atomic.Int64
		errs     = make(chan error, receivers+senders)
		wg       sync.WaitGroup
	)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < perSender; b += 10 {
				entries := make([]types.SendMessageBatchRequestEntry, 10)
				for i := range entries {
					entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf("s%d-m%d", s, b+i))}
				}
				out, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
				if err != nil || len(out.Failed) > 0 {
					errs <- fmt.Errorf("send batch: %v %v", err, out)
					return
				}
			}
		}()
	}
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deleted.Load() < total {
				out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					errs <- fmt.Errorf("receive: %w", err)
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				mu.Lock()
				for i, m := range out.Messages {
					received[aws.ToString(m.MessageId)]++
					entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
				}
				mu.Unlock()
				del, err := e.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
				if err != nil || len(del.Failed) > 0 {
					errs <- fmt.Errorf("delete batch: %v %v", err, del)
					return
				}
				deleted.Add(int64(len(entries)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(received) != total {
		t.Errorf("received %d distinct messages, want %d", len(received), total)
	}
	for id, n := range received {
		if n != 1 {
			t.Errorf("message %s handed out %d times within its visibility timeout", id, n)
		}
	}
	if c := e.counts(t, url); c != [3]int{} {
		t.Errorf("counts after all deletes = %v, want none", c)
	}
}

// TestConcurrentRedeliveryAfterTimeout: messages nobody deletes come back
// once each after the visibility timeout, to exactly one receiver.
func TestConcurrentRedeliveryAfterTimeout(t *testing.T) {
	const msgs = 300
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "redeliver", map[string]string{"VisibilityTimeout": "30"})
	for i := 0; i < msgs; i += 10 {
		entries := make([]types.SendMessageBatchRequestEntry, 10)
		for j := range entries {
			entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprint(i + j))}
		}
		if _, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
	drain := func() map[string]int {
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
					if err != nil {
						t.Error(err)
						return
					}
					if len(out.Messages) == 0 {
						return
					}
					mu.Lock()
					for _, m := range out.Messages {
						seen[aws.ToString(m.MessageId)]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return seen
	}
	for round := 1; round <= 2; round++ {
		seen := drain()
		if len(seen) != msgs {
			t.Fatalf("round %d: %d distinct messages, want %d", round, len(seen), msgs)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: message %s received %d times", round, id, n)
			}
		}
		e.clock.Advance(30 * time.Second)
	}
}

func TestLongPollWakesOnSend(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "poll", nil)
	type result struct {
		msgs    []types.Message
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		r := result{err: err, elapsed: time.Since(start)}
		if out != nil {
			r.msgs = out.Messages
		}
		done <- r
	}()
	time.Sleep(200 * time.Millisecond) // let the receive start waiting
	id := e.send(t, url, "wake up")
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.msgs) != 1 || aws.ToString(r.msgs[0].MessageId) != id {
		t.Fatalf("long poll returned %v, want message %s", r.msgs, id)
	}
	// Waking on the send, not at the end of WaitTimeSeconds, is the point.
	if r.elapsed >= 20*time.Second {
		t.Fatalf("long poll returned after %v: it waited out WaitTimeSeconds instead of waking on the send", r.elapsed)
	}
}

func TestLongPollWakesOnVisibilityZero(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "poll", nil)
	e.send(t, url, "returned")
	m := e.receive(t, url, nil)[0]
	done := make(chan []types.Message, 1)
	go func() {
		out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- out.Messages
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if len(got) != 1 {
		t.Fatalf("long poll got %d messages, want the returned one", len(got))
	}
	if time.Since(start) >= 20*time.Second {
		t.Fatal("long poll did not wake on ChangeMessageVisibility 0")
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "quiet", map[string]string{"ReceiveMessageWaitTimeSeconds": "1"})
	start := time.Now()
	// The queue's ReceiveMessageWaitTimeSeconds applies when the request
	// gives none.
	got := e.receive(t, url, nil)
	if len(got) != 0 {
		t.Fatalf("received %v from an empty queue", got)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("returned after %v, want a wait of the queue's 1s", waited)
	}
}

func TestLongPollQueueDeleted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "doomed", nil)
	done := make(chan error, 1)
	go func() {
		_, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	var missing *types.QueueDoesNotExist
	if err := <-done; !errors.As(err, &missing) {
		t.Fatalf("long poll on a deleted queue: %v, want QueueDoesNotExist", err)
	}
}
