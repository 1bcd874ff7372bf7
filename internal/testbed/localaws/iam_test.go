package localaws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// registryPolicy is the ECR registry permissions policy the pull-through
// cache documentation gives, letting the account's roles create cache
// repositories and import images for the docker-hub prefix.
const registryPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PullThroughCache","Effect":"Allow",
 "Principal":{"AWS":"arn:aws:iam::123456789012:root"},
 "Action":["ecr:CreateRepository","ecr:BatchImportUpstreamImage"],
 "Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`

// TestECRPullsFollowIAM: with IAM enforced, a Fargate task whose execution
// role has only AmazonECSTaskExecutionRolePolicy cannot make the first pull
// through the cache (it lacks ecr:CreateRepository), and stops with a 403;
// with the registry policy it pulls.
func TestECRPullsFollowIAM(t *testing.T) {
	ctx := context.Background()
	s, err := localaws.Start(ctx, localaws.Config{RestartDelay: time.Millisecond, EnforceIAM: true})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	c := scenario.NewClients(s.AWSConfig())
	image := s.RegistryHost() + "/docker-hub/library/nginx:1.27"
	sc, err := scenario.Setup(ctx, c, scenario.Options{Image: image, NoService: true, ExecutionRolePolicy: scenario.ManagedPolicyOnly,
		HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	must(t, err)

	run := func() ecstypes.Task {
		t.Helper()
		out, err := c.ECS.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(sc.Cluster), TaskDefinition: aws.String(sc.TaskDefinitionArn),
			LaunchType:           ecstypes.LaunchTypeFargate,
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0123456789abcdef0"}}}})
		must(t, err)
		for range 5 {
			must(t, s.Tick(ctx))
		}
		d, err := c.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(sc.Cluster), Tasks: []string{aws.ToString(out.Tasks[0].TaskArn)}})
		must(t, err)
		return d.Tasks[0]
	}
	denied := run()
	t.Logf("denied: %s", aws.ToString(denied.StoppedReason))
	if aws.ToString(denied.LastStatus) != "STOPPED" || !strings.Contains(aws.ToString(denied.StoppedReason), "403 Forbidden") {
		t.Fatalf("task with the managed policy only: %s, %q; want STOPPED with a 403", aws.ToString(denied.LastStatus), aws.ToString(denied.StoppedReason))
	}
	if _, err := c.ECR.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(registryPolicy)}); err != nil {
		t.Fatal(err)
	}
	if got := run(); aws.ToString(got.LastStatus) != "RUNNING" {
		t.Errorf("task with the registry policy: %s, %q; want RUNNING", aws.ToString(got.LastStatus), aws.ToString(got.StoppedReason))
	}
}

// TestRepositoryPolicyRoundTrip: SetRepositoryPolicy keeps the text,
// GetRepositoryPolicy returns it, and a policy that does not parse is
// refused, through the real SDK client.
func TestRepositoryPolicyRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := start(t)
	c := ecr.NewFromConfig(s.AWSConfig())
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/app")})
	must(t, err)
	if _, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("mirror/app")}); err == nil || !strings.Contains(err.Error(), "RepositoryPolicyNotFoundException") {
		t.Errorf("policy of a new repository: %v, want RepositoryPolicyNotFoundException", err)
	}
	_, err = c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("mirror/app"), PolicyText: aws.String(registryPolicy)})
	must(t, err)
	out, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("mirror/app")})
	must(t, err)
	if aws.ToString(out.PolicyText) != registryPolicy {
		t.Errorf("policy text %q, want what was set", aws.ToString(out.PolicyText))
	}
	if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("mirror/app"), PolicyText: aws.String("{}")}); err == nil {
		t.Error("a policy without statements was accepted")
	}
}
