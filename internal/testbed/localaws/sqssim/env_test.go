package sqssim_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func newFakeClock() *wire.ManualClock {
	return wire.NewManualClock(time.Date(2026, 6, 2, 10, 15, 42, 0, time.UTC))
}

type env struct {
	sim    *sqssim.SQS
	clock  *wire.ManualClock
	client *sqs.Client
	url    string
}

// newEnv serves a fresh SQS on loopback and returns a real SDK client
// configured only through the SDK's standard settings.
func newEnv(t testing.TB) *env {
	t.Helper()
	clock := newFakeClock()
	sim, err := sqssim.New(sqssim.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Serve(t, sim.Service())
	return &env{sim: sim, clock: clock, client: newClient(url), url: url}
}

func newClient(endpoint string) *sqs.Client {
	cfg := simtest.Config(endpoint)
	// Enough idle connections for the concurrency tests' 200 receivers, so
	// they reuse connections instead of dialling per request.
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 256
	})
	return sqs.NewFromConfig(cfg)
}

func (e *env) createQueue(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := e.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (e *env) queueArn(t *testing.T, url string) string {
	t.Helper()
	out, err := e.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes["QueueArn"]
}

// errorCode returns the API error code err carries, or fails the test.
func errorCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	return apiErr.ErrorCode()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
