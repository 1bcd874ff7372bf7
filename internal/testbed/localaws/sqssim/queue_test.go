package sqssim_test

import (
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
)

func TestCreateQueueURLAndIdempotence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "pullheal-events", map[string]string{"VisibilityTimeout": "60"})
	if want := e.url + "/123456789012/pullheal-events"; url != want {
		t.Fatalf("QueueUrl = %q, want %q", url, want)
	}

	// Same attributes: the existing queue's URL.
	if again := e.createQueue(t, "pullheal-events", map[string]string{"VisibilityTimeout": "60"}); again != url {
		t.Fatalf("repeated CreateQueue = %q, want %q", again, url)
	}
	// No attributes compares nothing: still idempotent.
	if again := e.createQueue(t, "pullheal-events", nil); again != url {
		t.Fatalf("CreateQueue without attributes = %q, want %q", again, url)
	}
	// A different value is refused with SQS's typed error and query code.
	_, err := e.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pullheal-events"), Attributes: map[string]string{"VisibilityTimeout": "30"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) {
		t.Fatalf("CreateQueue with other attributes: %v, want QueueNameExists", err)
	}
	if got := errorCode(t, err); got != "QueueAlreadyExists" {
		t.Fatalf("error code %q, want QueueAlreadyExists", got)
	}

	got, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("pullheal-events")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl = %q, want %q", aws.ToString(got.QueueUrl), url)
	}
}

func TestGetQueueURLMissing(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("GetQueueUrl of a missing queue: %v, want QueueDoesNotExist", err)
	}
	if got := errorCode(t, err); got != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("error code %q, want AWS.SimpleQueueService.NonExistentQueue", got)
	}
}

func TestCreateQueueInvalid(t *testing.T) {
	e := newEnv(t)
	e.createQueue(t, "dlq", nil)
	tests := []struct {
		name  string
		queue string
		attrs map[string]string
		code  string
	}{
		{"name with a dot", "bad.name", nil, "InvalidParameterValue"},
		{"name too long", strings.Repeat("q", 81), nil, "InvalidParameterValue"},
		{"fifo by name", "jobs.fifo", map[string]string{"FifoQueue": "true"}, "AWS.SimpleQueueService.UnsupportedOperation"},
		{"fifo by attribute", "jobs", map[string]string{"FifoQueue": "true"}, "AWS.SimpleQueueService.UnsupportedOperation"},
		{"fifo-only attribute", "jobs", map[string]string{"ContentBasedDeduplication": "true"}, "InvalidAttributeName"},
		{"unknown attribute", "jobs", map[string]string{"Colour": "blue"}, "InvalidAttributeName"},
		{"visibility too long", "jobs", map[string]string{"VisibilityTimeout": "43201"}, "InvalidAttributeValue"},
		{"visibility not a number", "jobs", map[string]string{"VisibilityTimeout": "soon"}, "InvalidAttributeValue"},
		{"retention too short", "jobs", map[string]string{"MessageRetentionPeriod": "59"}, "InvalidAttributeValue"},
		{"wait too long", "jobs", map[string]string{"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue"},
		{"delay too long", "jobs", map[string]string{"DelaySeconds": "901"}, "InvalidAttributeValue"},
		{"message size too small", "jobs", map[string]string{"MaximumMessageSize": "1023"}, "InvalidAttributeValue"},
		{"redrive not json", "jobs", map[string]string{"RedrivePolicy": "dlq"}, "InvalidParameterValue"},
		{"redrive to a missing queue", "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:gone","maxReceiveCount":3}`}, "InvalidParameterValue"},
		{"redrive count zero", "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":0}`}, "InvalidParameterValue"},
		{"redrive count missing", "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq"}`}, "InvalidParameterValue"},
		{"redrive to itself", "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:jobs","maxReceiveCount":3}`}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(tt.queue), Attributes: tt.attrs})
			if err == nil {
				t.Fatal("CreateQueue succeeded, want an error")
			}
			if got := errorCode(t, err); got != tt.code {
				t.Fatalf("error code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	// Nothing was created by the failed calls.
	out, err := e.client.ListQueues(context.Background(), &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{e.url + "/123456789012/dlq"}, out.QueueUrls); diff != "" {
		t.Fatalf("queues after failed creates (-want +got):\n%s", diff)
	}
}

func TestListQueues(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"b-two", "a-one", "b-one", "b-three"} {
		e.createQueue(t, name, nil)
	}
	prefix := e.url + "/123456789012/"

	all, err := e.client.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{prefix + "a-one", prefix + "b-one", prefix + "b-three", prefix + "b-two"}, all.QueueUrls); diff != "" {
		t.Fatalf("ListQueues (-want +got):\n%s", diff)
	}

	var pages [][]string
	p := sqs.NewListQueuesPaginator(e.client, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("b-"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page.QueueUrls)
	}
	if diff := cmp.Diff([][]string{{prefix + "b-one", prefix + "b-three"}, {prefix + "b-two"}}, pages); diff != "" {
		t.Fatalf("paged ListQueues (-want +got):\n%s", diff)
	}

	_, err = e.client.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1001)})
	if got := errorCode(t, err); got != "InvalidParameterValue" {
		t.Fatalf("MaxResults 1001: code %q, want InvalidParameterValue", got)
	}
}

func TestQueueAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := e.createQueue(t, "events-dlq", nil)
	dlqArn := e.queueArn(t, dlq)
	url := e.createQueue(t, "events", map[string]string{
		"VisibilityTimeout":             "45",
		"MessageRetentionPeriod":        "3600",
		"ReceiveMessageWaitTimeSeconds": "20",
		"RedrivePolicy":                 `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"5"}`,
		"Policy":                        `{"Version":"2012-10-17","Statement":[]}`,
	})
	created := e.clock.Now().Unix()

	out, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ApproximateNumberOfMessages":           "0",
		"ApproximateNumberOfMessagesDelayed":    "0",
		"ApproximateNumberOfMessagesNotVisible": "0",
		"CreatedTimestamp":                      itoa(created),
		"LastModifiedTimestamp":                 itoa(created),
		"DelaySeconds":                          "0",
		"MaximumMessageSize":                    "1048576",
		"MessageRetentionPeriod":                "3600",
		"QueueArn":                              "arn:aws:sqs:us-east-1:123456789012:events",
		"ReceiveMessageWaitTimeSeconds":         "20",
		"VisibilityTimeout":                     "45",
		"RedrivePolicy":                         `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:events-dlq","maxReceiveCount":5}`,
		"Policy":                                `{"Version":"2012-10-17","Statement":[]}`,
		"SqsManagedSseEnabled":                  "true",
	}
	if diff := cmp.Diff(want, out.Attributes); diff != "" {
		t.Fatalf("attributes (-want +got):\n%s", diff)
	}

	// Named attributes only; unknown names are refused.
	out, err = e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"VisibilityTimeout", "QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"VisibilityTimeout": "45", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:events"}, out.Attributes); diff != "" {
		t.Fatalf("named attributes (-want +got):\n%s", diff)
	}
	_, err = e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"Colour"}})
	var badName *types.InvalidAttributeName
	if !errors.As(err, &badName) {
		t.Fatalf("unknown attribute: %v, want InvalidAttributeName", err)
	}

	// SetQueueAttributes changes values, removes the redrive policy with "",
	// and leaves everything unchanged when one value is invalid.
	e.clock.Advance(90 * time.Second)
	if _, err := e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"VisibilityTimeout": "10", "RedrivePolicy": ""}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"DelaySeconds": "5", "VisibilityTimeout": "-1"}})
	var badValue *types.InvalidAttributeValue
	if !errors.As(err, &badValue) {
		t.Fatalf("invalid value: %v, want InvalidAttributeValue", err)
	}
	out, err = e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"VisibilityTimeout", "RedrivePolicy", "DelaySeconds", "LastModifiedTimestamp"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"VisibilityTimeout": "10", "DelaySeconds": "0", "LastModifiedTimestamp": itoa(created + 90)}, out.Attributes); diff != "" {
		t.Fatalf("after SetQueueAttributes (-want +got):\n%s", diff)
	}
}

func TestDeleteQueue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "gone-soon", nil)
	if _, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"GetQueueUrl": func() error {
			_, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("gone-soon")})
			return err
		},
		"SendMessage": func() error {
			_, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
			return err
		},
		"DeleteQueue": func() error {
			_, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
			return err
		},
	} {
		var missing *types.QueueDoesNotExist
		if err := call(); !errors.As(err, &missing) {
			t.Errorf("%s after DeleteQueue: %v, want QueueDoesNotExist", name, err)
		}
	}
	// The name is free again at once.
	e.createQueue(t, "gone-soon", nil)
}

func TestQueueTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("tagged"), Tags: map[string]string{"team": "platform"}})
	if err != nil {
		t.Fatal(err)
	}
	url := out.QueueUrl
	if _, err := e.client.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: url, Tags: map[string]string{"app": "pullheal", "tmp": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: url, TagKeys: []string{"tmp"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: url})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"team": "platform", "app": "pullheal"}, tags.Tags); diff != "" {
		t.Fatalf("tags (-want +got):\n%s", diff)
	}
}

func TestQueueURLFromAnyHost(t *testing.T) {
	e := newEnv(t)
	e.createQueue(t, "jobs", nil)
	// A URL from another host name (as printed by the real service) still
	// names the queue by its path.
	_, err := e.client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String("https://sqs.us-east-1.amazonaws.com/123456789012/jobs"),
		MessageBody: aws.String("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String("not-a-url"), MessageBody: aws.String("x")})
	var bad *types.InvalidAddress
	if !errors.As(err, &bad) {
		t.Fatalf("SendMessage to %q: %v, want InvalidAddress", "not-a-url", err)
	}
	_, err = e.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(e.url + "/999999999999/jobs"), MessageBody: aws.String("x")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("SendMessage to another account: %v, want QueueDoesNotExist", err)
	}
}

func TestBaseURL(t *testing.T) {
	sim, err := sqssim.New(sqssim.Config{BaseURL: "http://sqs.local:4566"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := newClient(simtest.Serve(t, sim.Service())).CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.QueueUrl), "http://sqs.local:4566/123456789012/jobs"; got != want {
		t.Fatalf("QueueUrl = %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sqssim.Config
		wantErr string
	}{
		{"zero value", sqssim.Config{}, ""},
		{"explicit", sqssim.Config{Account: "000000000000", Region: "eu-west-2", BaseURL: "https://localhost:4566/"}, ""},
		{"short account", sqssim.Config{Account: "1234"}, `account "1234" is not 12 digits`},
		{"bad region", sqssim.Config{Region: "Mars"}, `region "Mars"`},
		{"base URL with path", sqssim.Config{BaseURL: "http://localhost/sqs"}, "must be scheme://host[:port] with no path"},
		{"base URL without scheme", sqssim.Config{BaseURL: "localhost:4566"}, "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := sqssim.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

// TestDefaultMaximumMessageSize: SQS raised the default and the maximum to
// 1 MiB (CreateQueue: "Default: 1,048,576 bytes (1 MiB)"), so a queue
// created without the attribute takes a 1 MiB body and refuses one byte more.
func TestDefaultMaximumMessageSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.createQueue(t, "big", nil)
	if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strings.Repeat("x", 1<<20))}); err != nil {
		t.Fatalf("1 MiB body: %v", err)
	}
	_, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strings.Repeat("x", 1<<20+1))})
	if got := errorCode(t, err); got != "InvalidParameterValue" {
		t.Fatalf("1 MiB + 1 byte body: %v, want InvalidParameterValue", err)
	}
}
