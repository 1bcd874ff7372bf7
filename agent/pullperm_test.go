package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

// registryPolicy lets the account's roles make the cache's first pull, as
// the deploys offer it (the ECR user guide's pull-through cache example).
const registryPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PullThroughCacheFirstPull","Effect":"Allow",
 "Principal":{"AWS":"arn:aws:iam::123456789012:root"},
 "Action":["ecr:CreateRepository","ecr:BatchImportUpstreamImage"],
 "Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`

// TestRoleThatCannotPullIsNotSwitched: the service's execution role has
// only AmazonECSTaskExecutionRolePolicy, which cannot import through the
// cache (the agent's preflight created the cache repository, so
// ecr:CreateRepository is no longer needed, but every refresh of the tag
// from upstream is an import). The agent registers nothing, and Healing
// Failed names the role and the action it lacks: switching would trade a
// 429 for a 403.
func TestRoleThatCannotPullIsNotSwitched(t *testing.T) {
	b := newBedWith(t, localaws.Config{EnforceIAM: true}, scenario.Options{Desired: 1, ExecutionRolePolicy: scenario.ManagedPolicyOnly})
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailFailed)
	role := "arn:aws:iam::123456789012:role/" + scenario.ExecutionRoleName
	if !strings.Contains(rv.Reason, role) || !strings.Contains(rv.Reason, "ecr:BatchImportUpstreamImage") {
		t.Errorf("reason %q does not name the role and the missing action", rv.Reason)
	}
	if rv.PullPermission == nil || rv.PullPermission.Result != "denied" || rv.PullPermission.Principal != role {
		t.Errorf("pullPermission %+v", rv.PullPermission)
	}
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
}

// TestRegistryPolicyLetsItHeal: the same role, with the registry policy the
// deploys apply, may make the first pull; the agent heals, and the healed
// tasks really pull from ECR as that role (the test bed enforces IAM).
func TestRegistryPolicyLetsItHeal(t *testing.T) {
	b := newBedWith(t, localaws.Config{EnforceIAM: true}, scenario.Options{Desired: 1,
		ExecutionRolePolicy: scenario.ManagedPolicyOnly, RegistryPolicy: registryPolicy})
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	healed := b.waitHealed(t)
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.PullPermission == nil || rv.PullPermission.Result != "allowed" {
		t.Errorf("pullPermission %+v, want allowed", rv.PullPermission)
	}
	b.waitRunning(t, healed)
}

// TestPinnedDigestMustBeItsTag: the policy lets nginx through by tag 1.27
// only. A task pinned to nginx:1.27@DIGEST is healed when DIGEST is what
// 1.27 resolves to upstream (a HEAD, no counted pull), and left alone with
// the reason when it is not: a tag rule cannot vouch for another image.
func TestPinnedDigestMustBeItsTag(t *testing.T) {
	pol, err := policy.Parse("policy.yaml", []byte("version: 1\nimages:\n  - match: nginx\n    tags: {exact: [\"1.27\"]}\n    action: pull-through\n"))
	if err != nil {
		t.Fatal(err)
	}
	probe := newBed(t, scenario.Options{Desired: 1, NoService: true})
	real := hubDigest(t, probe, "docker.io/library/nginx:1.27")
	other := hubDigest(t, probe, "docker.io/library/nginx:1.26")
	for _, tc := range []struct {
		name, digest string
		heals        bool
	}{
		{"the tag's own digest", real, true},
		{"the digest of another tag (1.26) under 1.27", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, scenario.Options{Desired: 1, Image: "nginx:1.27@" + tc.digest})
			o := b.options("r1")
			o.Policy = pol
			stop := b.runAgents(t, o)
			defer stop()
			if tc.heals {
				rv := b.waitReview(t, agent.DetailCorrected)
				if len(rv.Images) != 1 || !strings.HasSuffix(rv.Images[0].To, "@"+tc.digest) {
					t.Errorf("images %+v, want the digest kept", rv.Images)
				}
				return
			}
			rv := b.waitReview(t, agent.DetailSkipped)
			if len(rv.Images) != 1 || rv.Images[0].Route != "deny" || !strings.Contains(rv.Images[0].Reason, "not to the pinned "+tc.digest) {
				t.Errorf("images %+v, want nginx denied for its digest", rv.Images)
			}
			if revs := b.revisions(t); len(revs) != 1 {
				t.Errorf("revisions %v, want none added", revs)
			}
		})
	}
}

// hubDigest is what a tag of the test bed's hub resolves to (a HEAD).
func hubDigest(t *testing.T, b *bed, ref string) string {
	t.Helper()
	r, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r, remote.WithTransport(b.srv.Endpoints().Transport(remote.DefaultTransport)))
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

// TestProposedAheadIsReused: a corrected revision registered ahead of the
// failure (pullheal scan --apply propose, or a registered pullheal
// rewrite) carries the same rewrite ID; the agent that takes the
// failure's fresh lease finds and deploys it instead of registering a
// second one.
func TestProposedAheadIsReused(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1})
	ctx := context.Background()
	target := b.srv.RegistryHost() + "/docker-hub/library/nginx:1.27"
	src, err := b.c.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(b.sc.TaskDefinitionArn)})
	if err != nil {
		t.Fatal(err)
	}
	td := src.TaskDefinition
	td.ContainerDefinitions[0].Image = aws.String(target)
	ahead, err := b.c.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: td.Family, ContainerDefinitions: td.ContainerDefinitions, ExecutionRoleArn: td.ExecutionRoleArn,
		NetworkMode: td.NetworkMode, RequiresCompatibilities: td.RequiresCompatibilities, Cpu: td.Cpu, Memory: td.Memory,
		Tags: []ecstypes.Tag{
			{Key: aws.String(taskdef.TagRewriteID), Value: aws.String(taskdef.RewriteID(b.sc.TaskDefinitionArn, map[string]string{"web": target}))},
			{Key: aws.String(taskdef.TagGeneration), Value: aws.String("1")},
			{Key: aws.String(taskdef.TagSourceRevision), Value: aws.String(b.sc.TaskDefinitionArn)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := b.options("r1")
	if o.LockTable == "" {
		t.Fatal("the bed's agents have no lock table: this test is about a fresh table lease")
	}
	stop := b.runAgents(t, o)
	defer stop()
	if healed := b.waitHealed(t); healed != aws.ToString(ahead.TaskDefinition.TaskDefinitionArn) {
		t.Errorf("service healed onto %s, want the revision registered ahead, %s", healed, aws.ToString(ahead.TaskDefinition.TaskDefinitionArn))
	}
	if revs := b.revisions(t); len(revs) != 2 {
		t.Errorf("revisions %v, want the source and the one registered ahead", revs)
	}
}

// cacheImport grants the pull-through cache's import to a role; the
// agent's preflight creates the cache repository, so the import is what
// the healed tasks' pulls still need.
const cacheImport = `{"Version":"2012-10-17","Statement":[{"Sid":"PullThroughCache","Effect":"Allow",
 "Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:*:*:repository/docker-hub/*"}]}`

// TestContainerInstanceRole: an EC2 service whose task definition has no
// execution role pulls from ECR with its container instance's role. The
// agent finds that role (container instance, EC2 instance, instance
// profile) and judges it: with AmazonEC2ContainerServiceforEC2Role alone
// it cannot import through the cache and the heal is refused, naming the
// role and its instance; granted the import, the agent heals and the
// healed tasks really pull as that role (the test bed enforces IAM); an
// instance without a profile cannot be told, and the heal goes on.
func TestContainerInstanceRole(t *testing.T) {
	role := "arn:aws:iam::123456789012:role/" + scenario.ContainerInstanceRoleName
	t.Run("managed policy only: refused", func(t *testing.T) {
		b := newBedWith(t, localaws.Config{EnforceIAM: true}, scenario.Options{Desired: 1, EC2: true, NoExecutionRole: true})
		stop := b.runAgents(t, b.options("r1"))
		defer stop()
		rv := b.waitReview(t, agent.DetailFailed)
		for _, want := range []string{"container instance role " + role, b.sc.EC2InstanceID, "ecr:BatchImportUpstreamImage"} {
			if !strings.Contains(rv.Reason, want) {
				t.Errorf("reason %q does not say %q", rv.Reason, want)
			}
		}
		if rv.PullPermission == nil || rv.PullPermission.Result != "denied" || rv.PullPermission.Principal != role {
			t.Errorf("pullPermission %+v", rv.PullPermission)
		}
		if revs := b.revisions(t); len(revs) != 1 {
			t.Errorf("revisions %v, want none added", revs)
		}
	})
	t.Run("import granted: heals", func(t *testing.T) {
		b := newBedWith(t, localaws.Config{EnforceIAM: true}, scenario.Options{Desired: 1, EC2: true, NoExecutionRole: true, InstanceRolePolicy: cacheImport})
		stop := b.runAgents(t, b.options("r1"))
		defer stop()
		healed := b.waitHealed(t)
		rv := b.waitReview(t, agent.DetailCorrected)
		if rv.PullPermission == nil || rv.PullPermission.Result != "allowed" || rv.PullPermission.Principal != role {
			t.Errorf("pullPermission %+v, want allowed for %s", rv.PullPermission, role)
		}
		b.waitRunning(t, healed)
	})
	t.Run("instance without a profile: unknown, heals", func(t *testing.T) {
		b := newBed(t, scenario.Options{Desired: 1, EC2: true, NoExecutionRole: true, NoInstanceProfile: true})
		stop := b.runAgents(t, b.options("r1"))
		defer stop()
		rv := b.waitReview(t, agent.DetailCorrected)
		if rv.PullPermission == nil || rv.PullPermission.Result != "unknown" || !strings.Contains(rv.PullPermission.Reason, "has no IAM instance profile") {
			t.Errorf("pullPermission %+v, want unknown for want of a profile", rv.PullPermission)
		}
	})
}

// waitRunning waits until the service runs a task of taskDef.
func (b *bed) waitRunning(t *testing.T, taskDef string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := b.srv.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		out, err := b.c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(b.sc.Cluster), Services: []string{b.sc.Service}})
		if err != nil {
			t.Fatal(err)
		}
		if s := out.Services[0]; aws.ToString(s.TaskDefinition) == taskDef && s.RunningCount >= 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the healed service never ran a task on %s", taskDef)
}
