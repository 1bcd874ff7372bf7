package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/pullcheck"
)

// PullPermission is what the review event says of the healed tasks' own
// ECR pulls: who pulls, and whether they may, as far as can be told.
type PullPermission struct {
	Result    string   `json:"result"` // allowed, denied or unknown
	Principal string   `json:"principal,omitempty"`
	Missing   []string `json:"missingActions,omitempty"`
	Reason    string   `json:"reason"`
}

// pullChecker answers pullcheck's question for one target; the real one
// asks IAM, ECR, ECS and EC2 (pullcheck.Check), nil skips the check.
type pullChecker func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict

func newPullChecker(c pullcheck.Clients) pullChecker {
	return func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict {
		return pullcheck.Check(ctx, c, r)
	}
}

// pullCheckClients are the clients the real checker needs; the agent's
// role must be allowed iam:SimulatePrincipalPolicy and ecr:GetRegistryPolicy,
// ecr:GetRepositoryPolicy and ecr:DescribeRepositories, and, for EC2 tasks
// without an execution role, ecs:DescribeContainerInstances,
// ec2:DescribeInstances and iam:GetInstanceProfile, or the answer is
// "unknown".
func pullCheckClients(cfg aws.Config) pullChecker {
	iamc := iam.NewFromConfig(cfg)
	return newPullChecker(pullcheck.Clients{
		IAM: iamc, ECR: ecr.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg), Profiles: iamc,
	})
}

// checkPulls asks, for every image the heal moves to ECR, whether the
// principal that will pull it may. The first definite "no" refuses the
// heal before anything is registered: the revision would fail the same
// way, with a 403 instead of a 429. "Cannot tell" lets the heal go on and
// says so in the review.
func (h *Healer) checkPulls(ctx context.Context, p plan.Plan, images map[string]string, routes map[string]plan.Route) (*PullPermission, bool) {
	if h.pullCheck == nil || len(images) == 0 {
		return nil, false
	}
	td := p.TaskDefinition
	fargate := pullcheck.OnFargate(p.Task.LaunchType, p.Task.CapacityProviders(), p.Task.ContainerInstanceArn, td.RequiresCompatibilities())
	var last *PullPermission
	for _, c := range slices.Sorted(maps.Keys(images)) {
		target := images[c]
		ref, err := name.ParseReference(target)
		if err != nil {
			continue
		}
		account, region, ok := imageref.ECRHost(ref.Context().RegistryStr())
		if !ok {
			continue
		}
		v := h.pullCheck(ctx, pullcheck.Request{
			ExecutionRoleArn: td.ExecutionRoleArn(), Fargate: fargate,
			Cluster: p.Task.ClusterArn, ContainerInstanceArn: p.Task.ContainerInstanceArn,
			Region: region, Account: account, Repository: ref.Context().RepositoryStr(),
			PullThrough: routes[c] == plan.PullThrough,
		})
		pp := &PullPermission{Result: string(v.Result), Principal: v.Principal, Missing: v.Missing, Reason: v.Reason}
		if v.Result == pullcheck.Denied {
			return pp, true
		}
		if last == nil || v.Result == pullcheck.Unknown {
			last = pp
		}
	}
	return last, false
}

// tagVerifier resolves an upstream tag to its digest with a HEAD request,
// which Docker Hub does not count as a pull.
type tagVerifier func(ctx context.Context, ref string) (string, error)

func newTagVerifier(keychain authn.Keychain, opts ...remote.Option) tagVerifier {
	return func(ctx context.Context, ref string) (string, error) {
		r, err := name.NewTag(ref)
		if err != nil {
			return "", err
		}
		desc, err := remote.Head(r, append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain)}, opts...)...)
		if err != nil {
			return "", err
		}
		return desc.Digest.String(), nil
	}
}

// verifyTag is policy.Decision.VerifyTag carried out: a name:tag@digest
// reference whose decision rested on its tag is acted on only once the
// upstream tag is shown to resolve to that digest. It returns "" when it
// is, or the reason it is not (the image is then denied).
func (h *Healer) verifyTag(ctx context.Context, step plan.Step) string {
	if !step.Decision.VerifyTag {
		return ""
	}
	if h.verify == nil {
		return fmt.Sprintf("%s: the policy's tag rules rest on tag %q, and this agent cannot resolve tags upstream to prove the digest is that tag's", step.Image, step.Ref.Tag)
	}
	tagRef := step.Ref.Registry + "/" + step.Ref.Repository + ":" + step.Ref.Tag
	got, err := h.verify(ctx, tagRef)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: cannot prove that %s is tag %q upstream (%v); the policy's tag rules do not apply to an unproven digest", step.Image, step.Ref.Digest, step.Ref.Tag, err)
	case got != step.Ref.Digest:
		return fmt.Sprintf("%s: tag %q resolves upstream to %s, not to the pinned %s; the policy's tag rules do not cover that digest", step.Image, step.Ref.Tag, got, step.Ref.Digest)
	}
	return ""
}
