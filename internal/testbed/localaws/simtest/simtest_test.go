package simtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// An SDK client built from Config reaches the service Serve mounted: a
// known operation answers, an unknown one comes back as the mux's typed
// error.
func TestServeAndConfigReachTheService(t *testing.T) {
	svc := wire.Service{TargetPrefix: "AmazonSQS", JSONVersion: "1.0", Ops: map[string]wire.Op{
		"ListQueues": func(context.Context, []byte) (any, error) {
			return map[string]any{"QueueUrls": []string{"http://127.0.0.1/123456789012/jobs"}}, nil
		},
	}}
	client := sqs.NewFromConfig(simtest.Config(simtest.Serve(t, svc)))
	out, err := client.ListQueues(context.Background(), &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	if len(out.QueueUrls) != 1 || out.QueueUrls[0] != "http://127.0.0.1/123456789012/jobs" {
		t.Errorf("QueueUrls = %v, want the one the service returned", out.QueueUrls)
	}
	_, err = client.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnknownOperationException" {
		t.Errorf("GetQueueUrl err = %v, want UnknownOperationException", err)
	}
}
