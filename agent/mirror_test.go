package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

func loadPolicy(t *testing.T, text string) *policy.Policy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func seededDigest(t *testing.T, srv *localaws.Server, repo, tag string) string {
	t.Helper()
	for _, im := range srv.Hub.Images() {
		if im.Repository == repo && im.Tag == tag {
			return im.Digest
		}
	}
	t.Fatalf("the hub has no %s:%s", repo, tag)
	return ""
}

// TestMirrorsWhatThePolicyAllows: no pull-through rule, the policy
// allowlists nginx for mirroring; the agent copies it into ECR with the
// Docker Hub account from Secrets Manager and heals onto the pinned copy.
func TestMirrorsWhatThePolicyAllows(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 2, NoPullThrough: true})
	o := b.options("r1")
	o.Policy = loadPolicy(t, "version: 1\nmirror:\n  repository:\n    scanOnPush: true\nimages:\n  - match: [nginx]\n    action: mirror\n    reason: Core images are mirrored.\n")
	o.DockerHubSecret = b.sc.HubSecretArn
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	stop := b.runAgents(t, o)
	healed := b.waitHealed(t)
	stop()
	// The hub advertised the account's remaining budget to the mirror.
	if got := gaugeValue(t, reg, "pullheal_upstream_ratelimit_remaining"); got <= 0 || got >= 200 {
		t.Errorf("pullheal_upstream_ratelimit_remaining = %v, want what is left of the account's 200", got)
	}
	td, err := b.c.ECS.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(healed)})
	if err != nil {
		t.Fatal(err)
	}
	want := b.srv.RegistryHost() + "/mirror/library/nginx:1.27@" + seededDigest(t, b.srv, "library/nginx", "1.27")
	if got := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); got != want {
		t.Errorf("image %q, want %q (same digest as Docker Hub)", got, want)
	}
	repos, err := b.c.ECR.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/library/nginx"}})
	if err != nil {
		t.Fatal(err)
	}
	if sc := repos.Repositories[0].ImageScanningConfiguration; sc == nil || !sc.ScanOnPush {
		t.Errorf("repository settings of the policy not applied: %+v", sc)
	}
	rv := b.waitReview(t, agent.DetailCorrected)
	if len(rv.Images) != 1 || rv.Images[0].Route != "mirror" || !strings.HasPrefix(rv.Images[0].Rule, "images[0]") {
		t.Errorf("review images %+v", rv.Images)
	}
}

// TestDoesNotMirrorWhatThePolicyDoesNotAllow: nothing is copied, and the
// review event says why.
func TestDoesNotMirrorWhatThePolicyDoesNotAllow(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, NoPullThrough: true})
	o := b.options("r1")
	o.Policy = loadPolicy(t, "version: 1\nimages:\n  - match: [docker.io/bitnami/**]\n    action: mirror\n")
	o.DockerHubSecret = b.sc.HubSecretArn
	stop := b.runAgents(t, o)
	rv := b.waitReview(t, agent.DetailSkipped)
	stop()
	if !strings.Contains(rv.Reason, "does not allowlist mirroring") {
		t.Errorf("reason %q", rv.Reason)
	}
	_, err := b.c.ECR.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/library/nginx"}})
	var rnf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("a mirror repository exists (%v): something was copied", err)
	}
	if got := b.srv.Hub.Pulls().ByRepository["library/nginx"][localaws.HubUser]; got != 0 {
		t.Errorf("the account pulled nginx %d times", got)
	}
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
}

// TestMirrorsACustomisedImage: the policy customises nginx; the agent
// builds the customised image in ECR and pins the revision to its digest.
func TestMirrorsACustomisedImage(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, NoPullThrough: true})
	o := b.options("r1")
	o.Policy = loadPolicy(t, "version: 1\nimages:\n  - match: [nginx]\n    action: mirror\n    customize:\n      - ENV FOO=bar\n      - VOLUME /data\n      - DIR /data 0750\n")
	o.DockerHubSecret = b.sc.HubSecretArn
	stop := b.runAgents(t, o)
	healed := b.waitHealed(t)
	stop()
	td, err := b.c.ECS.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(healed)})
	if err != nil {
		t.Fatal(err)
	}
	image := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image)
	prefix := b.srv.RegistryHost() + "/mirror/library/nginx:1.27@sha256:"
	if !strings.HasPrefix(image, prefix) || strings.HasSuffix(image, seededDigest(t, b.srv, "library/nginx", "1.27")) {
		t.Fatalf("image %q, want %s<the customised digest>", image, prefix)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	kc := mirror.NewECRKeychain(b.c.ECR, nil)
	img, err := remote.Image(ref, remote.WithAuthFromKeychain(kc), remote.WithTransport(b.srv.Endpoints().Transport(nil)),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cf.Config.Env, "FOO=bar") {
		t.Errorf("env %v lacks FOO=bar", cf.Config.Env)
	}
	if _, ok := cf.Config.Volumes["/data"]; !ok {
		t.Errorf("volumes %v lack /data", cf.Config.Volumes)
	}
}
