// Package pullcheck tells, before pullheal registers a corrected revision,
// whether the principal that will pull the new image may pull it from ECR.
// After a heal the tasks pull from ECR with their execution role (Fargate,
// and EC2 tasks that set one), and a role that only ever pulled from Docker
// Hub often may not: a first pull through a pull-through cache also needs
// ecr:BatchImportUpstreamImage, and ecr:CreateRepository while the cache
// repository does not exist, which AmazonECSTaskExecutionRolePolicy does
// not grant (the ECR user guide, "IAM permissions required to sync an
// upstream registry with an Amazon ECR private registry").
//
// The answer combines the role's identity policies, asked of IAM with
// SimulatePrincipalPolicy, with the ECR registry permissions policy and
// the repository policy, read and evaluated here (IAM's simulator takes a
// resource policy only together with an IAM user as caller). It is one of:
// allowed; denied, naming the actions missing; or unknown, saying why
// (the agent may not call the simulator, a statement has a condition, the
// container instance's role could not be found).
//
// An EC2 task whose task definition has no execution role pulls from ECR
// with its container instance's role: the role of the EC2 instance
// profile (the ECS developer guide, "Amazon ECS container instance IAM
// role"). pullcheck finds it as ECS, EC2 and IAM tell it: the container
// instance's EC2 instance ID (ecs:DescribeContainerInstances), the
// instance's profile (ec2:DescribeInstances), and the profile's role
// (iam:GetInstanceProfile); then it judges that role as it would an
// execution role. A lookup that fails makes the answer unknown, never
// denied: the check must not refuse a heal for what it could not read.
package pullcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/iampolicy"
)

// IAM is the part of the IAM client pullcheck uses.
type IAM interface {
	SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput, opts ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// Clients are what Check asks. IAM and ECR judge a role; ECS, EC2 and
// Profiles find an EC2 task's container instance role, and when any of
// them is nil that role is not looked up (the answer is unknown).
type Clients struct {
	IAM      IAM
	ECR      ECR
	ECS      ECS
	EC2      EC2
	Profiles InstanceProfiles
}

// ECR is the part of the ECR client pullcheck uses.
type ECR interface {
	GetRegistryPolicy(ctx context.Context, in *ecr.GetRegistryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRegistryPolicyOutput, error)
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, opts ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// Result is the kind of answer.
type Result string

// Results.
const (
	Allowed Result = "allowed"
	Denied  Result = "denied"
	Unknown Result = "unknown"
)

// Request says who pulls what.
type Request struct {
	// ExecutionRoleArn is the task definition's; "" means the pull uses
	// the EC2 container instance's role (or, on Fargate, nothing).
	ExecutionRoleArn string
	// Fargate: the task runs on Fargate, where no execution role means no
	// ECR pull at all.
	Fargate bool
	// Cluster and ContainerInstanceArn place an EC2 task (the task-state
	// change event carries both); they find the role an EC2 task without
	// an execution role pulls with.
	Cluster, ContainerInstanceArn string
	// InstanceRoleArn, for an EC2 task without an execution role, is the
	// container instance role it pulls with when the caller has found it
	// already (InstanceRole): Check judges it without looking it up.
	InstanceRoleArn string
	// Region and Account name the ECR registry; Repository the target
	// repository in it ("docker-hub/library/nginx").
	Region, Account, Repository string
	// PullThrough: the target is served by a pull-through cache rule, so a
	// pull may import from upstream and create the repository.
	PullThrough bool
}

// Verdict is the answer.
type Verdict struct {
	Result    Result
	Principal string
	// Missing are the actions the principal lacks (Denied).
	Missing []string
	// Reason is one sentence for logs and review events.
	Reason string
}

var (
	pullActions   = []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
	importAction  = "ecr:BatchImportUpstreamImage"
	createAction  = "ecr:CreateRepository"
	registryCover = map[string]bool{importAction: true, createAction: true}
	repoCover     = map[string]bool{"ecr:BatchGetImage": true, "ecr:GetDownloadUrlForLayer": true, importAction: true}
)

// Check answers for one request. It never fails: what it cannot find out
// makes the answer Unknown, so a heal is not held up by the check itself.
func Check(ctx context.Context, c Clients, r Request) Verdict {
	switch {
	case r.ExecutionRoleArn == "" && r.Fargate:
		return Verdict{Result: Denied, Missing: pullActions, Reason: "a Fargate task definition without an execution role cannot pull from private ECR"}
	case r.ExecutionRoleArn == "" && r.InstanceRoleArn != "":
		return evaluate(ctx, c, r, principal{arn: r.InstanceRoleArn, describe: "container instance role " + r.InstanceRoleArn})
	case r.ExecutionRoleArn == "":
		role, instance, err := instanceRole(ctx, c, r)
		if err != nil {
			return Verdict{Result: Unknown, Reason: "an EC2 task without an execution role pulls with its container instance's role, and " + err.Error()}
		}
		return evaluate(ctx, c, r, principal{arn: role, describe: fmt.Sprintf("container instance role %s of instance %s", role, instance)})
	}
	return evaluate(ctx, c, r, principal{arn: r.ExecutionRoleArn, describe: "execution role " + r.ExecutionRoleArn})
}

// principal is the role that pulls and how reasons name it.
type principal struct {
	arn, describe string
}

// evaluate judges p's pull: its identity policies (IAM's simulator) with
// the registry and repository policies.
func evaluate(ctx context.Context, c Clients, r Request, p principal) Verdict {
	v := Verdict{Principal: p.arn}
	resource := fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", r.Region, r.Account, r.Repository)
	actions := append([]string(nil), pullActions...)
	repoPolicy, exists, err := repository(ctx, c.ECR, r.Repository)
	if err != nil {
		return v.unknown("cannot read repository %s: %v", r.Repository, err)
	}
	var registryPolicy *iampolicy.Policy
	if r.PullThrough {
		actions = append(actions, importAction)
		if !exists {
			actions = append(actions, createAction)
		}
		if registryPolicy, err = registry(ctx, c.ECR); err != nil {
			return v.unknown("cannot read the registry policy: %v", err)
		}
	}
	out, err := c.IAM.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(p.arn), ActionNames: actions, ResourceArns: []string{resource},
	})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return Verdict{Result: Denied, Principal: p.arn, Missing: actions, Reason: fmt.Sprintf("%s does not exist", p.describe)}
	case err != nil:
		return v.unknown("cannot simulate %s's policies (iam:SimulatePrincipalPolicy): %v", p.arn, short(err))
	}
	identity := map[string]iamtypes.EvaluationResult{}
	for _, e := range out.EvaluationResults {
		identity[aws.ToString(e.EvalActionName)] = e
	}
	var conditional []string
	for _, a := range actions {
		var resPolicies []*iampolicy.Policy
		if registryCover[a] && registryPolicy != nil {
			resPolicies = append(resPolicies, registryPolicy)
		}
		if repoCover[a] && repoPolicy != nil {
			resPolicies = append(resPolicies, repoPolicy)
		}
		res := iampolicy.Evaluate(resPolicies, p.arn, a, resource)
		id, ok := identity[a]
		switch {
		case !ok:
			return v.unknown("the simulator said nothing of %s", a)
		case id.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeExplicitDeny, res.Decision == iampolicy.ExplicitDeny:
			v.Missing = append(v.Missing, a)
		case id.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed, res.Decision == iampolicy.Allowed:
		case len(id.MissingContextValues) > 0 || res.Conditional:
			conditional = append(conditional, a)
		default:
			v.Missing = append(v.Missing, a)
		}
	}
	switch {
	case len(v.Missing) > 0:
		v.Result = Denied
		v.Reason = fmt.Sprintf("%s may not %s on %s", p.describe, strings.Join(v.Missing, ", "), resource)
	case len(conditional) > 0:
		return v.unknown("%s depends on conditions pullheal cannot evaluate for %s", strings.Join(conditional, ", "), p.describe)
	default:
		v.Result = Allowed
		v.Reason = fmt.Sprintf("%s may pull %s", p.describe, resource)
	}
	return v
}

func (v Verdict) unknown(format string, args ...any) Verdict {
	v.Result, v.Missing, v.Reason = Unknown, nil, fmt.Sprintf(format, args...)
	return v
}

// repository reads the repository's policy; a repository that does not
// exist yet (a cache repository before its first pull) has none.
func repository(ctx context.Context, c ECR, name string) (*iampolicy.Policy, bool, error) {
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}}); err != nil {
		var nf *ecrtypes.RepositoryNotFoundException
		if errors.As(err, &nf) {
			return nil, false, nil
		}
		return nil, false, short(err)
	}
	out, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrtypes.RepositoryPolicyNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, true, nil
	case err != nil:
		return nil, true, short(err)
	}
	p, err := iampolicy.ParsePolicy(aws.ToString(out.PolicyText))
	return p, true, err
}

func registry(ctx context.Context, c ECR) (*iampolicy.Policy, error) {
	out, err := c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	var nf *ecrtypes.RegistryPolicyNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, short(err)
	}
	return iampolicy.ParsePolicy(aws.ToString(out.PolicyText))
}

// short keeps an AWS error to its code and message.
func short(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}
