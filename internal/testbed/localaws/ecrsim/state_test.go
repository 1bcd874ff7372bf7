package ecrsim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := wire.NewManualClock(epoch)
	up := newUpstream(t, "pullheal-ci", "dckr_pat_local_test_token")
	start := func() *bed {
		secrets, err := secretsim.New(secretsim.Config{Clock: clk, StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		e, err := ecrsim.New(ecrsim.Config{Clock: clk, Secrets: secrets, StateDir: dir, Upstreams: map[string]string{"registry-1.docker.io": up.srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		return serveBed(t, e, secrets, clk)
	}
	ctx := context.Background()

	first := start()
	first.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable})
	pushed := first.push(t, "team/app:1", randomImage(t))
	if _, err := first.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("docker-hub"), AppliedFor: []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForPullThroughCache},
	}); err != nil {
		t.Fatal(err)
	}
	sec, err := first.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(readFixture(t, "dockerhub-credentials.json"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: sec.ARN,
	}); err != nil {
		t.Fatal(err)
	}
	cachedDigest := up.push(t, "library/nginx:1", randomImage(t))
	if _, err := remote.Image(first.ref(t, "docker-hub/library/nginx:1"), first.opts(t)...); err != nil {
		t.Fatal(err)
	}
	token := first.auth(t)

	second := start()
	opts := []remote.Option{remote.WithAuth(token), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	img, err := remote.Image(second.ref(t, "team/app:1"), opts...)
	if err != nil {
		t.Fatalf("pull after restart with a token issued before: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != pushed {
		t.Errorf("after restart pulled %s, want %s", d, pushed)
	}
	cached, err := remote.Image(second.ref(t, "docker-hub/library/nginx:1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := cached.Digest(); d != cachedDigest {
		t.Errorf("cached image after restart %s, want %s", d, cachedDigest)
	}
	if g := second.ecr.UpstreamManifestGets(); g != 0 {
		t.Errorf("the restarted cache went upstream %d times", g)
	}
	repos, err := second.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/app"}})
	if err != nil {
		t.Fatal(err)
	}
	if repos.Repositories[0].ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable {
		t.Errorf("mutability after restart: %s", repos.Repositories[0].ImageTagMutability)
	}
	setting, err := second.api.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")})
	if err != nil || aws.ToString(setting.Value) != "ENABLED" {
		t.Errorf("BLOB_MOUNTING after restart = %v, %v", aws.ToString(setting.Value), err)
	}
	rules, err := second.api.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil || len(rules.PullThroughCacheRules) != 1 {
		t.Errorf("rules after restart: %+v, %v", rules, err)
	}
	tmpl, err := second.api.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{})
	if err != nil || len(tmpl.RepositoryCreationTemplates) != 1 {
		t.Errorf("templates after restart: %+v, %v", tmpl, err)
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "ecr-blobs", "sha256"))
	if err != nil || len(blobs) == 0 {
		t.Errorf("blob files: %d, %v", len(blobs), err)
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ecr.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ecrsim.New(ecrsim.Config{StateDir: dir})
	if err == nil {
		t.Fatal("New accepted a corrupt state file")
	}
}
