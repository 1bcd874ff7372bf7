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
	"github.com/aws/aws-sdk-go-v2/service/iam"

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
	s, c, sc := iamBed(t, scenario.Options{NoService: true, ExecutionRolePolicy: scenario.ManagedPolicyOnly})
	run := func() ecstypes.Task {
		t.Helper()
		return runToOutcome(t, s, c, &ecs.RunTaskInput{Cluster: aws.String(sc.Cluster), TaskDefinition: aws.String(sc.TaskDefinitionArn),
			LaunchType:           ecstypes.LaunchTypeFargate,
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0123456789abcdef0"}}}})
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

// TestEC2PullsAsTheInstanceRole: with IAM enforced, an EC2 task without an
// execution role pulls from ECR as its container instance's profile role.
// With AmazonEC2ContainerServiceforEC2Role alone it cannot make the first
// pull through the cache; granted the import, it pulls. A task on an instance without a profile presents no
// credentials at all.
func TestEC2PullsAsTheInstanceRole(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		noProfile bool
	}{{"instance role", false}, {"no instance profile", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, sc := iamBed(t, scenario.Options{NoService: true, EC2: true, NoExecutionRole: true, NoInstanceProfile: tc.noProfile})
			run := func() ecstypes.Task {
				t.Helper()
				task := runToOutcome(t, s, c, &ecs.RunTaskInput{Cluster: aws.String(sc.Cluster), TaskDefinition: aws.String(sc.TaskDefinitionArn),
					LaunchType: ecstypes.LaunchTypeEc2, NetworkConfiguration: sc.Network()})
				if got := aws.ToString(task.ContainerInstanceArn); got != sc.ContainerInstanceArn {
					t.Errorf("placed on %s, want the registered %s", got, sc.ContainerInstanceArn)
				}
				return task
			}
			denied := run()
			// On EC2 the stop reason is "Task failed to start"; the
			// container's reason carries the pull's error.
			reason := aws.ToString(denied.StoppedReason)
			if len(denied.Containers) > 0 {
				reason += " / " + aws.ToString(denied.Containers[0].Reason)
			}
			t.Logf("denied: %s", reason)
			// Docker's text for ECR's 403 does not name the principal.
			want := "denied: requested access to the resource is denied"
			if tc.noProfile {
				want = "no basic auth credentials"
			}
			if aws.ToString(denied.LastStatus) != "STOPPED" || !strings.Contains(reason, want) {
				t.Fatalf("task: %s, %q; want STOPPED saying %q", aws.ToString(denied.LastStatus), reason, want)
			}
			if tc.noProfile {
				return
			}
			// Granting the import to the instance role, and to nothing
			// else, is what lets the pull through: it is that role's.
			if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(scenario.ContainerInstanceRoleName),
				PolicyName: aws.String("cache"), PolicyDocument: aws.String(scenario.DefaultExecutionRolePolicy)}); err != nil {
				t.Fatal(err)
			}
			if got := run(); aws.ToString(got.LastStatus) != "RUNNING" {
				t.Errorf("task with the import granted to the instance role: %s, %q; want RUNNING", aws.ToString(got.LastStatus), aws.ToString(got.StoppedReason))
			}
		})
	}
}

// iamBed starts a test bed that enforces IAM and sets up o's scenario for
// the cache path of nginx:1.27, with the hub account's credentials.
func iamBed(t *testing.T, o scenario.Options) (*localaws.Server, scenario.Clients, *scenario.Scenario) {
	t.Helper()
	s, err := localaws.Start(context.Background(), localaws.Config{RestartDelay: time.Millisecond, EnforceIAM: true})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	c := scenario.NewClients(s.AWSConfig())
	o.Image = s.RegistryHost() + "/docker-hub/library/nginx:1.27"
	o.HubUser, o.HubToken = localaws.HubUser, localaws.HubToken
	sc, err := scenario.Setup(context.Background(), c, o)
	must(t, err)
	return s, c, sc
}

// runToOutcome runs a task and ticks the scheduler until its pull has
// settled one way or the other, then describes it.
func runToOutcome(t *testing.T, s *localaws.Server, c scenario.Clients, in *ecs.RunTaskInput) ecstypes.Task {
	t.Helper()
	ctx := context.Background()
	out, err := c.ECS.RunTask(ctx, in)
	must(t, err)
	for range 5 {
		must(t, s.Tick(ctx))
	}
	d, err := c.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: in.Cluster, Tasks: []string{aws.ToString(out.Tasks[0].TaskArn)}})
	must(t, err)
	return d.Tasks[0]
}
