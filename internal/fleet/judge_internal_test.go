package fleet

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// TestJudgeTakesTheWorstInstanceRole: a service whose tasks run on
// container instances with different roles gets the worst answer of them
// (no, then unknown, then yes), and the reason names the roles.
func TestJudgeTakesTheWorstInstanceRole(t *testing.T) {
	const a, b = "arn:aws:iam::123456789012:role/ecs-a", "arn:aws:iam::123456789012:role/ecs-b"
	ka := pullKey{role: a, repo: "docker-hub/library/nginx", pullThrough: true, instance: true}
	kb := pullKey{role: b, repo: "docker-hub/library/nginx", pullThrough: true, instance: true}
	verdict := map[pullcheck.Result]pullcheck.Verdict{
		pullcheck.Allowed: {Result: pullcheck.Allowed, Reason: "may pull"},
		pullcheck.Denied:  {Result: pullcheck.Denied, Reason: "container instance role " + b + " may not ecr:BatchImportUpstreamImage"},
		pullcheck.Unknown: {Result: pullcheck.Unknown, Reason: "a condition"},
	}
	for _, tc := range []struct {
		name   string
		ra, rb pullcheck.Result
		failed string
		want   string
		reason []string
	}{
		{"both may", pullcheck.Allowed, pullcheck.Allowed, "", ECRPullYes, []string{"roles ecs-a, ecs-b, which each may pull docker-hub/library/nginx"}},
		{"one may not", pullcheck.Allowed, pullcheck.Denied, "", ECRPullNo, []string{"ecs-b may not ecr:BatchImportUpstreamImage", "roles ecs-a, ecs-b"}},
		{"no beats unknown", pullcheck.Unknown, pullcheck.Denied, "", ECRPullNo, []string{"ecr:BatchImportUpstreamImage"}},
		{"one cannot be told", pullcheck.Allowed, pullcheck.Unknown, "", ECRPullUnknown, []string{"a condition", "roles ecs-a, ecs-b"}},
		{"an instance's role not found", pullcheck.Allowed, pullcheck.Allowed, "ec2:DescribeInstances failed", ECRPullUnknown, []string{"ec2:DescribeInstances failed"}},
		{"an instance's role not found, another may not", pullcheck.Allowed, pullcheck.Denied, "ec2:DescribeInstances failed", ECRPullNo, []string{"ecs-b may not"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verdicts := map[pullKey]pullcheck.Verdict{ka: verdict[tc.ra], kb: verdict[tc.rb]}
			got, reason := judge([]pullKey{kb, ka}, verdicts, tc.failed, []string{a, b})
			if got != tc.want {
				t.Errorf("%s (%s), want %s", got, reason, tc.want)
			}
			for _, w := range tc.reason {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q does not say %q", reason, w)
				}
			}
		})
	}
}

// TestIsFargateReadsTheCapacityProviders: a service without a launch type
// runs where its capacity provider strategy says (FARGATE and FARGATE_SPOT
// are Fargate, any other provider EC2 instances), and only without one
// where the task definition's compatibilities say.
func TestIsFargateReadsTheCapacityProviders(t *testing.T) {
	both, err := taskdef.Decode([]byte(`{"family":"web","requiresCompatibilities":["EC2","FARGATE"],"containerDefinitions":[{"name":"web","image":"nginx"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ec2Only, err := taskdef.Decode([]byte(`{"family":"web","requiresCompatibilities":["EC2"],"containerDefinitions":[{"name":"web","image":"nginx"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	strategy := func(names ...string) []ecstypes.CapacityProviderStrategyItem {
		var out []ecstypes.CapacityProviderStrategyItem
		for _, n := range names {
			out = append(out, ecstypes.CapacityProviderStrategyItem{CapacityProvider: aws.String(n)})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		svc  ecstypes.Service
		doc  *taskdef.Document
		want bool
	}{
		{"launch type FARGATE", ecstypes.Service{LaunchType: ecstypes.LaunchTypeFargate}, ec2Only, true},
		{"launch type EC2", ecstypes.Service{LaunchType: ecstypes.LaunchTypeEc2}, both, false},
		{"an Auto Scaling group provider", ecstypes.Service{CapacityProviderStrategy: strategy("asg-web")}, both, false},
		{"FARGATE_SPOT", ecstypes.Service{CapacityProviderStrategy: strategy("FARGATE", "FARGATE_SPOT")}, both, true},
		{"neither: the compatibilities", ecstypes.Service{}, both, true},
		{"neither, EC2 only", ecstypes.Service{}, ec2Only, false},
	} {
		if got := isFargate(Service{Service: tc.svc}, &Revision{Doc: tc.doc}); got != tc.want {
			t.Errorf("%s: Fargate %v, want %v", tc.name, got, tc.want)
		}
	}
}
