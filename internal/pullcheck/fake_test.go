package pullcheck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/pullcheck"
)

// refusingIAM answers as IAM does to a caller without
// iam:SimulatePrincipalPolicy.
type refusingIAM struct{}

func (refusingIAM) SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::123456789012:assumed-role/pullheal/agent is not authorized to perform: iam:SimulatePrincipalPolicy"}
}

// emptyECR has no repositories and no policies.
type emptyECR struct{}

func (emptyECR) GetRegistryPolicy(context.Context, *ecr.GetRegistryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRegistryPolicyOutput, error) {
	return nil, &ecrtypes.RegistryPolicyNotFoundException{}
}

func (emptyECR) GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	return nil, &ecrtypes.RepositoryPolicyNotFoundException{}
}

func (emptyECR) DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	return nil, &ecrtypes.RepositoryNotFoundException{}
}

// TestCannotSimulateIsUnknown: an agent without iam:SimulatePrincipalPolicy
// cannot tell, and says which permission it lacks.
func TestCannotSimulateIsUnknown(t *testing.T) {
	got := pullcheck.Check(context.Background(), refusingIAM{}, emptyECR{}, pullcheck.Request{
		ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true, Region: "us-east-1", Account: "123456789012", Repository: "docker-hub/library/nginx",
	})
	if got.Result != pullcheck.Unknown || !strings.Contains(got.Reason, "iam:SimulatePrincipalPolicy") || !strings.Contains(got.Reason, "AccessDenied") {
		t.Errorf("got %+v, want unknown naming iam:SimulatePrincipalPolicy and AccessDenied", got)
	}
}
