package taskdef_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// ecsStub answers DescribeTaskDefinition with a recorded response and keeps
// the body of each RegisterTaskDefinition call, over real HTTP, so the test
// sees what the SDK actually sends.
type ecsStub struct {
	describe []byte

	mu         sync.Mutex
	registered [][]byte
}

func (s *ecsStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition":
		_, _ = w.Write(s.describe)
	case "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition":
		s.mu.Lock()
		s.registered = append(s.registered, body)
		s.mu.Unlock()
		_, _ = w.Write([]byte(`{"taskDefinition":{"taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/inference-worker:8","revision":8}}`))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException"}`))
	}
}

// client is an ECS client of region that calls the stub over loopback
// HTTP, until the test ends.
func (s *ecsStub) client(t *testing.T, region string) *ecs.Client {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return ecs.New(ecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "not-a-secret", ""),
		HTTPClient:   srv.Client(),
	})
}

// TestAgentPathOverHTTP runs the agent's round trip with the real SDK
// client: DescribeTaskDefinition (wire response in testdata), FromSDK,
// images and provenance, RegisterInput, RegisterTaskDefinition. The body the
// SDK sends must be the described task definition with only the rewrite
// applied.
func TestAgentPathOverHTTP(t *testing.T) {
	stub := &ecsStub{describe: readFile(t, "ec2-describe.json")}
	client := stub.client(t, "eu-west-1")
	ctx := context.Background()

	out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("inference-worker:7"),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatalf("DescribeTaskDefinition: %v", err)
	}
	doc, err := taskdef.FromSDK(out.TaskDefinition, out.Tags)
	if err != nil {
		t.Fatalf("FromSDK: %v", err)
	}
	images := map[string]string{
		"worker":  "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/python:3.12-slim",
		"metrics": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/prom/statsd-exporter:latest",
	}
	rewritten, err := doc.WithImages(images)
	if err != nil {
		t.Fatal(err)
	}
	prov := taskdef.Provenance{
		SourceArn:  doc.SourceArn(),
		Reason:     "Docker Hub rate limit",
		Generation: taskdef.GenerationOf(doc.Tags()) + 1,
		RewriteID:  taskdef.RewriteID(doc.SourceArn(), images),
	}
	rewritten = rewritten.WithTags(prov.Tags()...)
	in, err := rewritten.RegisterInput()
	if err != nil {
		t.Fatalf("RegisterInput: %v", err)
	}
	if _, err := client.RegisterTaskDefinition(ctx, in); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}

	if len(stub.registered) != 1 {
		t.Fatalf("%d register calls, want 1", len(stub.registered))
	}
	want := expectedRegisterInput(t, stub.describe, images, prov.Tags())
	// The SDK models container cpu as a plain int32 and leaves 0 out of
	// requests; ECS treats an absent cpu as 0.
	for _, c := range want["containerDefinitions"].([]any) {
		if c := c.(map[string]any); c["cpu"] != nil && c["cpu"].(interface{ String() string }).String() == "0" {
			delete(c, "cpu")
		}
	}
	if diff := cmp.Diff(want, decodeGeneric(t, stub.registered[0])); diff != "" {
		t.Errorf("RegisterTaskDefinition body is not the described task definition with only the rewrite applied (-want +got):\n%s", diff)
	}
	if doc.SourceArn() != "arn:aws:ecs:eu-west-1:123456789012:task-definition/inference-worker:7" {
		t.Errorf("SourceArn() = %q", doc.SourceArn())
	}
}
