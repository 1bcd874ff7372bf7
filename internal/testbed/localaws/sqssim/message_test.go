package sqssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type checksumCase struct {
	Name                   string
	Body                   string
	Attributes             map[string]types.MessageAttributeValue
	MD5OfBody              string
	MD5OfMessageAttributes string
}

func loadChecksumCases(t *testing.T) []checksumCase {
	t.Helper()
	b, err := os.ReadFile("testdata/checksums.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		Name       string `json:"name"`
		Body       string `json:"body"`
		Attributes map[string]struct {
			DataType    string
			StringValue *string
			BinaryValue []byte
		} `json:"attributes"`
		MD5OfBody              string `json:"md5OfBody"`
		MD5OfMessageAttributes string `json:"md5OfMessageAttributes"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var out []checksumCase
	for _, r := range raw {
		c := checksumCase{Name: r.Name, Body: r.Body, MD5OfBody: r.MD5OfBody, MD5OfMessageAttributes: r.MD5OfMessageAttributes}
		for name, a := range r.Attributes {
			if c.Attributes == nil {
				c.Attributes = map[string]types.MessageAttributeValue{}
			}
			c.Attributes[name] = types.MessageAttributeValue{DataType: aws.String(a.DataType), StringValue: a.StringValue, BinaryValue: a.BinaryValue}
		}
		out = append(out, c)
	}
	return out
}

// The SDK verifies MD5OfMessageBody on send and MD5OfBody on receive; the
// attribute digest is checked against vectors from independent
// implementations of SQS's algorithm.
func TestChecksums(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "checksums", nil)
	for _, c := range loadChecksumCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			sent, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(c.Body), MessageAttributes: c.Attributes})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(sent.MD5OfMessageBody); got != c.MD5OfBody {
				t.Errorf("MD5OfMessageBody = %s, want %s", got, c.MD5OfBody)
			}
			if got := aws.ToString(sent.MD5OfMessageAttributes); got != c.MD5OfMessageAttributes {
				t.Errorf("MD5OfMessageAttributes = %s, want %s", got, c.MD5OfMessageAttributes)
			}
			got, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Messages) != 1 {
				t.Fatalf("received %d messages, want 1", len(got.Messages))
			}
			m := got.Messages[0]
			if aws.ToString(m.Body) != c.Body || aws.ToString(m.MD5OfBody) != c.MD5OfBody || aws.ToString(m.MD5OfMessageAttributes) != c.MD5OfMessageAttributes {
				t.Errorf("received body %q md5 %s attributes md5 %s", aws.ToString(m.Body), aws.ToString(m.MD5OfBody), aws.ToString(m.MD5OfMessageAttributes))
			}
			if diff := cmp.Diff(c.Attributes, m.MessageAttributes, cmpopts.IgnoreUnexported(types.MessageAttributeValue{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("attributes (-sent +received):\n%s", diff)
			}
			if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReceiveAttributeSelection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "attrs", nil)
	sent, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String("body"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"app.name":    {DataType: aws.String("String"), StringValue: aws.String("pullheal")},
			"app.version": {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"other":       {DataType: aws.String("String"), StringValue: aws.String("x")},
		},
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sent.MD5OfMessageSystemAttributes == nil {
		t.Fatal("no MD5OfMessageSystemAttributes for a message with AWSTraceHeader")
	}
	sentAt := e.clock.Now()
	e.clock.Advance(3 * time.Second)
	got, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MessageAttributeNames:       []string{"app.*"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		VisibilityTimeout:           0,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := got.Messages[0]
	wantAttrs := map[string]string{
		"SenderId":                         "123456789012",
		"SentTimestamp":                    itoa(sentAt.UnixMilli()),
		"ApproximateReceiveCount":          "1",
		"ApproximateFirstReceiveTimestamp": itoa(sentAt.Add(3 * time.Second).UnixMilli()),
		"AWSTraceHeader":                   "Root=1-5759e988-bd862e3fe1be46a994272793",
	}
	if diff := cmp.Diff(wantAttrs, m.Attributes); diff != "" {
		t.Errorf("system attributes (-want +got):\n%s", diff)
	}
	var names []string
	for n := range m.MessageAttributes {
		names = append(names, n)
	}
	if diff := cmp.Diff([]string{"app.name", "app.version"}, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("message attributes (-want +got):\n%s", diff)
	}
	// The digest covers the returned attributes only.
	if aws.ToString(m.MD5OfMessageAttributes) == aws.ToString(sent.MD5OfMessageAttributes) {
		t.Error("MD5OfMessageAttributes of a filtered receive equals the digest of all attributes")
	}

	// Without names, nothing but the body comes back.
	e.clock.Advance(31 * time.Second)
	got, err = e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Messages[0]; m.Attributes != nil || m.MessageAttributes != nil || m.MD5OfMessageAttributes != nil {
		t.Errorf("unrequested attributes returned: %v %v", m.Attributes, m.MessageAttributes)
	}
	// The deprecated AttributeNames member still works.
	e.clock.Advance(31 * time.Second)
	//lint:ignore SA1019 older clients still send AttributeNames, so it must keep working
	got, err = e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"ApproximateReceiveCount"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"ApproximateReceiveCount": "3"}, got.Messages[0].Attributes); diff != "" {
		t.Errorf("AttributeNames (-want +got):\n%s", diff)
	}
}

func TestSendMessageInvalid(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "strict", map[string]string{"MaximumMessageSize": "1024"})
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	tooMany := map[string]types.MessageAttributeValue{}
	for i := range 11 {
		tooMany[string(rune('a'+i))] = str("v")
	}
	tests := []struct {
		name  string
		input sqs.SendMessageInput
		code  string
	}{
		{"empty body", sqs.SendMessageInput{MessageBody: aws.String("")}, "MissingParameter"},
		{"control character", sqs.SendMessageInput{MessageBody: aws.String("a\x01b")}, "InvalidMessageContents"},
		{"too large", sqs.SendMessageInput{MessageBody: aws.String(strings.Repeat("x", 1025))}, "InvalidParameterValue"},
		{"attributes count toward size", sqs.SendMessageInput{MessageBody: aws.String(strings.Repeat("x", 1000)), MessageAttributes: map[string]types.MessageAttributeValue{"k": str(strings.Repeat("v", 30))}}, "InvalidParameterValue"},
		{"delay too long", sqs.SendMessageInput{MessageBody: aws.String("x"), DelaySeconds: 901}, "InvalidParameterValue"},
		{"deduplication id on a standard queue", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")}, "InvalidParameterValue"},
		{"eleven attributes", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: tooMany}, "InvalidParameterValue"},
		{"reserved attribute name", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{"AWS.thing": str("v")}}, "InvalidParameterValue"},
		{"unknown data type", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Date"), StringValue: aws.String("v")}}}, "InvalidParameterValue"},
		{"number that is not", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Number"), StringValue: aws.String("many")}}}, "InvalidParameterValue"},
		{"empty binary", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Binary")}}}, "InvalidParameterValue"},
		{"unknown system attribute", sqs.SendMessageInput{MessageBody: aws.String("x"), MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{"Other": {DataType: aws.String("String"), StringValue: aws.String("v")}}}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.input
			in.QueueUrl = aws.String(url)
			_, err := e.client.SendMessage(context.Background(), &in)
			if err == nil {
				t.Fatal("SendMessage succeeded, want an error")
			}
			if got := errorCode(t, err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	counts := e.counts(t, url)
	if counts != [3]int{} {
		t.Fatalf("queue counts after refused sends = %v, want none", counts)
	}
}

// counts returns ApproximateNumberOfMessages, ...NotVisible and ...Delayed.
func (e *env) counts(t *testing.T, url string) [3]int {
	t.Helper()
	out, err := e.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	var c [3]int
	for i, name := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		if err := json.Unmarshal([]byte(out.Attributes[name]), &c[i]); err != nil {
			t.Fatalf("%s = %q: %v", name, out.Attributes[name], err)
		}
	}
	return c
}

func (e *env) receive(t *testing.T, url string, in *sqs.ReceiveMessageInput) []types.Message {
	t.Helper()
	if in == nil {
		in = &sqs.ReceiveMessageInput{}
	}
	in.QueueUrl = aws.String(url)
	out, err := e.client.ReceiveMessage(context.Background(), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func (e *env) send(t *testing.T, url, body string) string {
	t.Helper()
	out, err := e.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return aws.ToString(out.MessageId)
}

func TestVisibilityAndReceiptHandles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "work", map[string]string{"VisibilityTimeout": "30"})
	other := e.createQueue(t, "other", nil)
	id := e.send(t, url, "job")

	first := e.receive(t, url, &sqs.ReceiveMessageInput{MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if len(first) != 1 || aws.ToString(first[0].MessageId) != id {
		t.Fatalf("first receive = %v, want message %s", first, id)
	}
	if got := e.counts(t, url); got != [3]int{0, 1, 0} {
		t.Fatalf("counts while in flight = %v, want [0 1 0]", got)
	}
	// Invisible for the whole visibility timeout.
	e.clock.Advance(29 * time.Second)
	if got := e.receive(t, url, nil); len(got) != 0 {
		t.Fatalf("message handed out again within its visibility timeout: %v", got)
	}
	e.clock.Advance(1 * time.Second)
	second := e.receive(t, url, &sqs.ReceiveMessageInput{MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if len(second) != 1 {
		t.Fatalf("receive after the visibility timeout got %d messages, want 1", len(second))
	}
	old, cur := first[0].ReceiptHandle, second[0].ReceiptHandle
	if aws.ToString(old) == aws.ToString(cur) {
		t.Fatal("two receives returned the same receipt handle")
	}
	if got := second[0].Attributes["ApproximateReceiveCount"]; got != "2" {
		t.Errorf("ApproximateReceiveCount = %s, want 2", got)
	}
	if a, b := first[0].Attributes["ApproximateFirstReceiveTimestamp"], second[0].Attributes["ApproximateFirstReceiveTimestamp"]; a != b {
		t.Errorf("ApproximateFirstReceiveTimestamp changed from %s to %s", a, b)
	}

	// The earlier receive's handle no longer acts on the message: deleting
	// with it succeeds (as AWS documents) but the message stays.
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: old}); err != nil {
		t.Fatalf("DeleteMessage with an earlier handle: %v, want success", err)
	}
	if got := e.counts(t, url); got != [3]int{0, 1, 0} {
		t.Fatalf("counts after deleting with an earlier handle = %v, want the message still in flight [0 1 0]", got)
	}
	batch, err := e.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url),
		Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("old"), ReceiptHandle: old}}})
	if err != nil || len(batch.Failed) != 0 || len(batch.Successful) != 1 {
		t.Fatalf("DeleteMessageBatch with an earlier handle: %+v, %v; want one success", batch, err)
	}
	if got := e.counts(t, url); got != [3]int{0, 1, 0} {
		t.Fatalf("counts after a batch delete with an earlier handle = %v, want [0 1 0]", got)
	}
	_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: old, VisibilityTimeout: 60})
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Fatalf("ChangeMessageVisibility with an earlier handle: %v, want MessageNotInflight", err)
	}

	// Handles that are not this queue's are invalid.
	otherID := e.send(t, other, "elsewhere")
	otherMsg := e.receive(t, other, nil)
	if aws.ToString(otherMsg[0].MessageId) != otherID {
		t.Fatal("receive from the other queue failed")
	}
	for name, handle := range map[string]*string{"garbage": aws.String("not-a-handle"), "other queue's": otherMsg[0].ReceiptHandle} {
		_, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: handle})
		var invalid *types.ReceiptHandleIsInvalid
		if !errors.As(err, &invalid) {
			t.Errorf("DeleteMessage with a %s handle: %v, want ReceiptHandleIsInvalid", name, err)
		}
	}

	// The current handle deletes; using it again is a no-op for DeleteMessage
	// and refused by ChangeMessageVisibility, as on SQS.
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: cur}); err != nil {
		t.Fatalf("DeleteMessage with the current handle: %v", err)
	}
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: cur}); err != nil {
		t.Fatalf("DeleteMessage of a deleted message: %v, want success", err)
	}
	_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: cur, VisibilityTimeout: 10})
	if got := errorCode(t, err); got != "InvalidParameterValue" || !strings.Contains(err.Error(), "Message does not exist") {
		t.Fatalf("ChangeMessageVisibility after delete: %v, want InvalidParameterValue (does not exist)", err)
	}
	e.clock.Advance(time.Hour)
	if got := e.receive(t, url, nil); len(got) != 0 {
		t.Fatalf("deleted message came back: %v", got)
	}
	if got := e.counts(t, url); got != [3]int{} {
		t.Fatalf("counts after delete = %v, want none", got)
	}
}

func TestExpiredHandleWithoutRedelivery(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "slow", map[string]string{"VisibilityTimeout": "5"})
	e.send(t, url, "job")
	m := e.receive(t, url, nil)[0]
	e.clock.Advance(6 * time.Second)
	if got := e.counts(t, url); got != [3]int{1, 0, 0} {
		t.Fatalf("counts = %v, want the message visible again", got)
	}
	// No other receive took it: the handle is still the most recent one,
	// and DeleteMessage with it deletes.
	if _, err := e.client.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage after the visibility timeout: %v, want success", err)
	}
	if got := e.counts(t, url); got != [3]int{} {
		t.Fatalf("counts after delete = %v, want none", got)
	}
}

func TestChangeMessageVisibility(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "vis", map[string]string{"VisibilityTimeout": "30"})
	e.send(t, url, "a")
	m := e.receive(t, url, nil)[0]

	// Extending counts from now.
	e.clock.Advance(20 * time.Second)
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 60}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(59 * time.Second)
	if got := e.receive(t, url, nil); len(got) != 0 {
		t.Fatal("message visible before its extended timeout")
	}
	// More than 12 hours in total since the receive is refused.
	_, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 43200})
	if got := errorCode(t, err); got != "InvalidParameterValue" {
		t.Fatalf("total visibility beyond 12h: %v, want InvalidParameterValue", err)
	}
	// Zero makes it visible at once, and the handle stops working.
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	again := e.receive(t, url, nil)
	if len(again) != 1 {
		t.Fatal("message not visible after ChangeMessageVisibility 0")
	}

	// The batch form reports per entry.
	out, err := e.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(url),
		Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("current"), ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 100},
			{Id: aws.String("stale"), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 100},
			{Id: aws.String("garbage"), ReceiptHandle: aws.String("xyz"), VisibilityTimeout: 100},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"current"}, batchIDs(out.Successful)); diff != "" {
		t.Errorf("successful entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"stale": "AWS.SimpleQueueService.MessageNotInflight", "garbage": "ReceiptHandleIsInvalid"}, failedCodes(out.Failed)); diff != "" {
		t.Errorf("failed entries (-want +got):\n%s", diff)
	}
}

func batchIDs[T types.ChangeMessageVisibilityBatchResultEntry | types.DeleteMessageBatchResultEntry | types.SendMessageBatchResultEntry](entries []T) []string {
	var ids []string
	for _, e := range entries {
		switch v := any(e).(type) {
		case types.ChangeMessageVisibilityBatchResultEntry:
			ids = append(ids, aws.ToString(v.Id))
		case types.DeleteMessageBatchResultEntry:
			ids = append(ids, aws.ToString(v.Id))
		case types.SendMessageBatchResultEntry:
			ids = append(ids, aws.ToString(v.Id))
		}
	}
	return ids
}

func failedCodes(entries []types.BatchResultErrorEntry) map[string]string {
	out := map[string]string{}
	for _, e := range entries {
		if !e.SenderFault {
			out[aws.ToString(e.Id)] = "not a sender fault: " + aws.ToString(e.Code)
			continue
		}
		out[aws.ToString(e.Id)] = aws.ToString(e.Code)
	}
	return out
}

func TestBatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "batch", nil)
	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	out, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		entry("one", "1"), entry("two", "2"), entry("bad", "\x00"), {Id: aws.String("late"), MessageBody: aws.String("3"), DelaySeconds: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two", "late"}, batchIDs(out.Successful)); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"bad": "InvalidMessageContents"}, failedCodes(out.Failed)); diff != "" {
		t.Errorf("failed (-want +got):\n%s", diff)
	}
	if got := e.counts(t, url); got != [3]int{2, 0, 1} {
		t.Fatalf("counts = %v, want 2 visible and 1 delayed", got)
	}

	got := e.receive(t, url, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10})
	if len(got) != 2 {
		t.Fatalf("received %d, want 2 (the delayed one is not yet due)", len(got))
	}
	del, err := e.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: got[0].ReceiptHandle},
		{Id: aws.String("b"), ReceiptHandle: got[1].ReceiptHandle},
		{Id: aws.String("c"), ReceiptHandle: aws.String("bogus")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, batchIDs(del.Successful)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"c": "ReceiptHandleIsInvalid"}, failedCodes(del.Failed)); diff != "" {
		t.Errorf("delete failures (-want +got):\n%s", diff)
	}

	// Whole-request errors, each with its typed SDK error.
	many := make([]types.SendMessageBatchRequestEntry, 11)
	for i := range many {
		many[i] = entry(string(rune('a'+i)), "x")
	}
	tests := []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		target  any
	}{
		{"empty", []types.SendMessageBatchRequestEntry{}, new(*types.EmptyBatchRequest)},
		{"eleven", many, new(*types.TooManyEntriesInBatchRequest)},
		{"repeated id", []types.SendMessageBatchRequestEntry{entry("x", "1"), entry("x", "2")}, new(*types.BatchEntryIdsNotDistinct)},
		{"bad id", []types.SendMessageBatchRequestEntry{entry("no spaces", "1")}, new(*types.InvalidBatchEntryId)},
		{"too long", []types.SendMessageBatchRequestEntry{entry("a", strings.Repeat("x", 600000)), entry("b", strings.Repeat("x", 600000))}, new(*types.BatchRequestTooLong)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: tt.entries})
			if !errors.As(err, tt.target) {
				t.Fatalf("SendMessageBatch: %v, want %T", err, tt.target)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "delayed", map[string]string{"DelaySeconds": "10"})
	e.send(t, url, "queue delay")
	if _, err := e.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("no delay"), DelaySeconds: 0}); err != nil {
		t.Fatal(err)
	}
	// DelaySeconds 0 in the request is indistinguishable from absent in the
	// SDK (it omits zero), so the queue's delay applies to both.
	if got := e.counts(t, url); got != [3]int{0, 0, 2} {
		t.Fatalf("counts = %v, want 2 delayed", got)
	}
	e.clock.Advance(10 * time.Second)
	if got := e.receive(t, url, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10}); len(got) != 2 {
		t.Fatalf("received %d after the delay, want 2", len(got))
	}
}

func TestRetention(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "short-lived", map[string]string{"MessageRetentionPeriod": "60"})
	e.send(t, url, "old")
	e.clock.Advance(30 * time.Second)
	e.send(t, url, "new")
	e.clock.Advance(30 * time.Second)
	got := e.receive(t, url, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10})
	if len(got) != 1 || aws.ToString(got[0].Body) != "new" {
		t.Fatalf("received %v, want only the message within retention", got)
	}
	e.clock.Advance(30 * time.Second)
	if c := e.counts(t, url); c != [3]int{} {
		t.Fatalf("counts after retention = %v, want none", c)
	}
}

func TestRedriveToDeadLetterQueue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := e.createQueue(t, "events-dlq", nil)
	dlqArn := e.queueArn(t, dlq)
	url := e.createQueue(t, "events", map[string]string{
		"VisibilityTimeout": "30",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":2}`,
	})
	id := e.send(t, url, "poison")
	for i := 1; i <= 2; i++ {
		got := e.receive(t, url, nil)
		if len(got) != 1 {
			t.Fatalf("receive %d: got %d messages, want 1", i, len(got))
		}
		e.clock.Advance(30 * time.Second)
	}
	// The third receive would exceed maxReceiveCount: the message moves.
	if got := e.receive(t, url, nil); len(got) != 0 {
		t.Fatalf("message delivered beyond maxReceiveCount: %v", got)
	}
	if c := e.counts(t, url); c != [3]int{} {
		t.Fatalf("source counts = %v, want none", c)
	}
	got := e.receive(t, dlq, &sqs.ReceiveMessageInput{MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if len(got) != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want 1", len(got))
	}
	m := got[0]
	if aws.ToString(m.MessageId) != id || aws.ToString(m.Body) != "poison" {
		t.Errorf("dead-lettered message %s %q, want %s %q", aws.ToString(m.MessageId), aws.ToString(m.Body), id, "poison")
	}
	if m.Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:123456789012:events" || m.Attributes["ApproximateReceiveCount"] != "3" {
		t.Errorf("dead-lettered attributes = %v", m.Attributes)
	}
	src, err := e.client.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{url}, src.QueueUrls); diff != "" {
		t.Errorf("ListDeadLetterSourceQueues (-want +got):\n%s", diff)
	}
}

func TestPurgeQueue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "purge", nil)
	e.send(t, url, "a")
	e.send(t, url, "b")
	inFlight := e.receive(t, url, nil)[0]
	if _, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	if c := e.counts(t, url); c != [3]int{} {
		t.Fatalf("counts after purge = %v, want none", c)
	}
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: inFlight.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage of a purged message: %v, want success", err)
	}
	_, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	var inProgress *types.PurgeQueueInProgress
	if !errors.As(err, &inProgress) {
		t.Fatalf("second purge within 60s: %v, want PurgeQueueInProgress", err)
	}
	e.clock.Advance(60 * time.Second)
	if _, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatalf("purge after 60s: %v", err)
	}
}

func TestReceiveMessageInvalid(t *testing.T) {
	e := newEnv(t)
	url := e.createQueue(t, "recv", nil)
	tests := []struct {
		name string
		in   sqs.ReceiveMessageInput
	}{
		{"zero messages", sqs.ReceiveMessageInput{MaxNumberOfMessages: -1}},
		{"eleven messages", sqs.ReceiveMessageInput{MaxNumberOfMessages: 11}},
		{"wait too long", sqs.ReceiveMessageInput{WaitTimeSeconds: 21}},
		{"negative visibility", sqs.ReceiveMessageInput{VisibilityTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.QueueUrl = aws.String(url)
			_, err := e.client.ReceiveMessage(context.Background(), &in)
			if got := errorCode(t, err); got != "InvalidParameterValue" {
				t.Fatalf("code %q (%v), want InvalidParameterValue", got, err)
			}
		})
	}
}

// TestManyMessagesRemovedInOnePass removes hundreds of messages within one
// operation (purge, retention, redrive), which reclaims storage mid-way.
func TestManyMessagesRemovedInOnePass(t *testing.T) {
	const n = 300
	e := newEnv(t)
	ctx := context.Background()
	fill := func(url string) {
		t.Helper()
		for i := 0; i < n; i += 10 {
			entries := make([]types.SendMessageBatchRequestEntry, 10)
			for j := range entries {
				entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(itoa(int64(j))), MessageBody: aws.String("m" + itoa(int64(i+j)))}
			}
			if _, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				t.Fatal(err)
			}
		}
	}

	purged := e.createQueue(t, "purged", nil)
	fill(purged)
	if _, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(purged)}); err != nil {
		t.Fatal(err)
	}
	if c := e.counts(t, purged); c != [3]int{} {
		t.Errorf("after purging %d: counts %v", n, c)
	}

	expiring := e.createQueue(t, "expiring", map[string]string{"MessageRetentionPeriod": "60"})
	fill(expiring)
	e.clock.Advance(time.Minute)
	e.send(t, expiring, "fresh")
	got := e.receive(t, expiring, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10})
	if len(got) != 1 || aws.ToString(got[0].Body) != "fresh" {
		t.Errorf("after %d expired: received %v, want only the fresh message", n, got)
	}

	dlq := e.createQueue(t, "many-dlq", nil)
	source := e.createQueue(t, "many", map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + e.queueArn(t, dlq) + `","maxReceiveCount":1}`,
	})
	fill(source)
	for i := 0; i < n; i += 10 {
		if got := e.receive(t, source, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10}); len(got) != 10 {
			t.Fatalf("receive %d: got %d", i, len(got))
		}
	}
	e.clock.Advance(time.Second)
	if got := e.receive(t, source, &sqs.ReceiveMessageInput{MaxNumberOfMessages: 10}); len(got) != 0 {
		t.Fatalf("source delivered %d messages past maxReceiveCount", len(got))
	}
	if c := e.counts(t, dlq); c != [3]int{n, 0, 0} {
		t.Errorf("dead-letter queue counts %v, want %d visible", c, n)
	}
}
