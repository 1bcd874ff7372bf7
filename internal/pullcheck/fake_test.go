package pullcheck_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
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
	got := pullcheck.Check(context.Background(), pullcheck.Clients{IAM: refusingIAM{}, ECR: emptyECR{}}, pullcheck.Request{
		ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true, Region: "us-east-1", Account: "123456789012", Repository: "docker-hub/library/nginx",
	})
	if got.Result != pullcheck.Unknown || !strings.Contains(got.Reason, "iam:SimulatePrincipalPolicy") || !strings.Contains(got.Reason, "AccessDenied") {
		t.Errorf("got %+v, want unknown naming iam:SimulatePrincipalPolicy and AccessDenied", got)
	}
}

// instanceBed answers the container instance lookup from fixed data: a
// container instance per ARN, an instance's profile ARN ("" for none) per
// instance ID, a profile's role ARNs per name, and an error per call.
type instanceBed struct {
	containers map[string]string // container instance ARN -> instance ID
	profiles   map[string]string // instance ID -> profile ARN
	roles      map[string][]string
	ecsErr     error
	ec2Err     error
	iamErr     error
}

func (b *instanceBed) DescribeContainerInstances(_ context.Context, in *ecs.DescribeContainerInstancesInput, _ ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	if b.ecsErr != nil {
		return nil, b.ecsErr
	}
	out := &ecs.DescribeContainerInstancesOutput{}
	for _, arn := range in.ContainerInstances {
		id, ok := b.containers[arn]
		if !ok {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
			continue
		}
		out.ContainerInstances = append(out.ContainerInstances, ecstypes.ContainerInstance{ContainerInstanceArn: aws.String(arn), Ec2InstanceId: aws.String(id)})
	}
	return out, nil
}

func (b *instanceBed) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if b.ec2Err != nil {
		return nil, b.ec2Err
	}
	res := ec2types.Reservation{}
	for _, id := range in.InstanceIds {
		p, ok := b.profiles[id]
		if !ok {
			return nil, &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", id)}
		}
		i := ec2types.Instance{InstanceId: aws.String(id)}
		if p != "" {
			i.IamInstanceProfile = &ec2types.IamInstanceProfile{Arn: aws.String(p)}
		}
		res.Instances = append(res.Instances, i)
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{res}}, nil
}

func (b *instanceBed) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	if b.iamErr != nil {
		return nil, b.iamErr
	}
	name := aws.ToString(in.InstanceProfileName)
	roles, ok := b.roles[name]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("Instance Profile " + name + " cannot be found.")}
	}
	p := &iamtypes.InstanceProfile{InstanceProfileName: aws.String(name)}
	for _, r := range roles {
		p.Roles = append(p.Roles, iamtypes.Role{Arn: aws.String(r)})
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: p}, nil
}

// SimulatePrincipalPolicy allows every action asked, for the lookups
// that succeed.
func (b *instanceBed) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: iamtypes.PolicyEvaluationDecisionTypeAllowed})
	}
	return out, nil
}

// TestContainerInstanceRoleLookup: an EC2 task without an execution role
// is judged as its container instance's role; each way the lookup can
// fail is unknown, naming the call and the reason, never denied.
func TestContainerInstanceRoleLookup(t *testing.T) {
	const (
		ci      = "arn:aws:ecs:us-east-1:123456789012:container-instance/web/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
		id      = "i-0123456789abcdef0"
		profile = "arn:aws:iam::123456789012:instance-profile/ecs/ecsInstanceProfile"
		role    = "arn:aws:iam::123456789012:role/ecsInstanceRole"
	)
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}
	good := func() *instanceBed {
		return &instanceBed{containers: map[string]string{ci: id}, profiles: map[string]string{id: profile},
			roles: map[string][]string{"ecsInstanceProfile": {role}}}
	}
	for _, tc := range []struct {
		name   string
		bed    func(b *instanceBed)
		ci     string
		nilEC2 bool
		result pullcheck.Result
		reason []string
	}{
		{name: "found: judged as the instance role", ci: ci, result: pullcheck.Allowed, reason: []string{"container instance role " + role + " of instance " + id}},
		{name: "no container instance in the event", result: pullcheck.Unknown, reason: []string{"names no container instance"}},
		{name: "no EC2 client", ci: ci, nilEC2: true, result: pullcheck.Unknown, reason: []string{"no clients"}},
		{name: "DescribeContainerInstances refused", ci: ci, bed: func(b *instanceBed) { b.ecsErr = denied }, result: pullcheck.Unknown,
			reason: []string{"ecs:DescribeContainerInstances", "AccessDenied"}},
		{name: "container instance missing", ci: ci, bed: func(b *instanceBed) { b.containers = nil }, result: pullcheck.Unknown,
			reason: []string{"ecs:DescribeContainerInstances", "MISSING"}},
		{name: "DescribeInstances refused", ci: ci, bed: func(b *instanceBed) { b.ec2Err = denied }, result: pullcheck.Unknown,
			reason: []string{"ec2:DescribeInstances", id, "AccessDenied"}},
		{name: "instance not found", ci: ci, bed: func(b *instanceBed) { b.profiles = nil }, result: pullcheck.Unknown,
			reason: []string{"ec2:DescribeInstances", "InvalidInstanceID.NotFound"}},
		{name: "instance without a profile", ci: ci, bed: func(b *instanceBed) { b.profiles[id] = "" }, result: pullcheck.Unknown,
			reason: []string{id, "has no IAM instance profile"}},
		{name: "GetInstanceProfile refused", ci: ci, bed: func(b *instanceBed) { b.iamErr = denied }, result: pullcheck.Unknown,
			reason: []string{"iam:GetInstanceProfile", "ecsInstanceProfile", "AccessDenied"}},
		{name: "profile does not exist", ci: ci, bed: func(b *instanceBed) { b.roles = nil }, result: pullcheck.Unknown,
			reason: []string{"iam:GetInstanceProfile", "NoSuchEntity"}},
		{name: "profile without a role", ci: ci, bed: func(b *instanceBed) { b.roles["ecsInstanceProfile"] = nil }, result: pullcheck.Unknown,
			reason: []string{"ecsInstanceProfile", "has no role"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := good()
			if tc.bed != nil {
				tc.bed(b)
			}
			c := pullcheck.Clients{IAM: b, ECR: emptyECR{}, ECS: b, EC2: b, Profiles: b}
			if tc.nilEC2 {
				c.EC2 = nil
			}
			got := pullcheck.Check(context.Background(), c, pullcheck.Request{
				Cluster: "web", ContainerInstanceArn: tc.ci, PullThrough: true,
				Region: "us-east-1", Account: "123456789012", Repository: "docker-hub/library/nginx",
			})
			if got.Result != tc.result {
				t.Errorf("result %s (%s), want %s", got.Result, got.Reason, tc.result)
			}
			for _, w := range tc.reason {
				if !strings.Contains(got.Reason, w) {
					t.Errorf("reason %q does not say %q", got.Reason, w)
				}
			}
			if tc.result == pullcheck.Allowed && got.Principal != role {
				t.Errorf("principal %q, want %s", got.Principal, role)
			}
		})
	}
}
