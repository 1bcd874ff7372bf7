package localaws_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
)

// The rule pattern platform teams deploy (FACTS.md, EventBridge -> SQS).
const stoppedPullPattern = `{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"],"$or":[{"stoppedReason":[{"prefix":"CannotPull"}]},{"containers":{"reason":[{"prefix":"CannotPull"}]}}]}}`

func start(t *testing.T) *localaws.Server {
	t.Helper()
	s, err := localaws.Start(context.Background(), localaws.Config{RestartDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRateLimitedServiceReachesTheQueue is the test bed end to end: a
// Fargate service pulling nginx:1.27 from the hub with the anonymous limit
// used up stops its tasks with ECS's text, and the events arrive in SQS
// through an EventBridge rule, all through the real SDK clients.
func TestRateLimitedServiceReachesTheQueue(t *testing.T) {
	ctx := context.Background()
	s := start(t)
	cfg := s.AWSConfig()
	ecsc, sqsc, ebc := ecs.NewFromConfig(cfg), sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)

	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pullheal-events")})
	must(t, err)
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	must(t, err)
	_, err = ebc.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stopped-pulls"), EventPattern: aws.String(stoppedPullPattern)})
	must(t, err)
	_, err = ebc.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stopped-pulls"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes["QueueArn"])}}})
	must(t, err)

	raw, err := os.ReadFile("testdata/web-taskdef.json")
	must(t, err)
	doc, err := taskdef.Decode(raw)
	must(t, err)
	in, err := doc.RegisterInput()
	must(t, err)
	td, err := ecsc.RegisterTaskDefinition(ctx, in)
	must(t, err)
	_, err = ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	must(t, err)
	_, err = ecsc.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), DesiredCount: aws.Int32(2),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0123456789abcdef0"}}},
	})
	must(t, err)

	s.Hub.Exhaust("127.0.0.1")
	for i := 0; i < 3; i++ {
		must(t, s.Tick(ctx))
	}

	// Received as a consumer must: a receive whose response is lost (the
	// SDK then retries) leaves its messages in flight until their
	// visibility timeout, 1 s here, and a later receive gets them.
	var msgs []sqstypes.Message
	for deadline := time.Now().Add(10 * time.Second); len(msgs) == 0 && time.Now().Before(deadline); {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 1})
		if err != nil {
			t.Logf("receive: %v", err)
			continue
		}
		msgs = out.Messages
	}
	if len(msgs) == 0 {
		t.Fatal("no event reached the queue")
	}
	for _, m := range msgs {
		var ev struct {
			Source     string `json:"source"`
			DetailType string `json:"detail-type"`
			Detail     struct {
				LastStatus, StopCode, StoppedReason, Group string
				Containers                                 []struct{ Name, Image, Reason string }
			} `json:"detail"`
		}
		must(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &ev))
		d := ev.Detail
		if ev.Source != "aws.ecs" || ev.DetailType != "ECS Task State Change" || d.LastStatus != "STOPPED" || d.StopCode != "TaskFailedToStart" || d.Group != "service:web" {
			t.Errorf("unexpected event: %+v", ev)
		}
		const want = "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:"
		if !strings.HasPrefix(d.StoppedReason, want) || !strings.HasSuffix(d.StoppedReason, ": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit") {
			t.Errorf("stoppedReason %q is not Fargate's rate-limit text", d.StoppedReason)
		}
		if len(d.Containers) != 1 || d.Containers[0].Reason != d.StoppedReason {
			t.Errorf("container reason does not carry the pull error: %+v", d.Containers)
		}
	}
	// The events are the only traffic: a RUNNING task would not match.
	if got := s.Hub.Pulls().Throttled; got == 0 {
		t.Error("the hub refused no pull")
	}
}

func TestSTSAndEnv(t *testing.T) {
	s := start(t)
	id, err := sts.NewFromConfig(s.AWSConfig()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	must(t, err)
	if aws.ToString(id.Account) != "123456789012" {
		t.Errorf("account %q", aws.ToString(id.Account))
	}
	env := strings.Join(s.Env(), "\n")
	// AWS_DEFAULT_REGION too: the AWS CLI v1 and boto3 read only that one.
	for _, want := range []string{"AWS_ENDPOINT_URL=" + s.APIURL(), "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "PULLHEAL_REGISTRY_ENDPOINTS=", "123456789012.dkr.ecr.us-east-1.amazonaws.com=http://127.0.0.1:"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
