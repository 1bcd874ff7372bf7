package ecrsim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var ignoreSmithy = cmpopts.IgnoreUnexported(
	ecrtypes.Repository{}, ecrtypes.ImageScanningConfiguration{}, ecrtypes.EncryptionConfiguration{},
	ecrtypes.Tag{}, ecrtypes.PullThroughCacheRule{}, ecrtypes.RepositoryCreationTemplate{},
	ecrtypes.EncryptionConfigurationForRepositoryCreationTemplate{}, ecrtypes.ImageTagMutabilityExclusionFilter{},
	ecrtypes.ImageDetail{}, ecrtypes.ImageIdentifier{}, ecrtypes.ImageFailure{},
)

func TestGetAuthorizationToken(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	out, err := b.api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AuthorizationData) != 1 {
		t.Fatalf("got %d authorization data, want 1", len(out.AuthorizationData))
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "AWS:") || len(raw) < 20 {
		t.Errorf("token decodes to %q, want AWS:PASSWORD", raw)
	}
	if aws.ToString(d.ProxyEndpoint) != b.regURL {
		t.Errorf("proxyEndpoint = %q, want the registry URL %q", aws.ToString(d.ProxyEndpoint), b.regURL)
	}
	if want := epoch.Add(12 * time.Hour); !aws.ToTime(d.ExpiresAt).Equal(want) {
		t.Errorf("expiresAt = %v, want %v", aws.ToTime(d.ExpiresAt), want)
	}
	tok := b.ecr.Token()
	if tok.Username != "AWS" || !tok.ExpiresAt.Equal(epoch.Add(12*time.Hour)) {
		t.Errorf("Token() = %s expiring %v", tok.Username, tok.ExpiresAt)
	}
}

// TestGetAuthorizationTokenRegistryIds covers the deprecated registryIds
// member, which the SDK marks deprecated but still sends.
func TestGetAuthorizationTokenRegistryIds(t *testing.T) {
	e, err := ecrsim.New(ecrsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	op := e.Service().Ops["GetAuthorizationToken"]
	out, err := op(context.Background(), []byte(`{"registryIds":["123456789012","210987654321"]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	var got struct{ AuthorizationData []map[string]any }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.AuthorizationData) != 2 {
		t.Errorf("got %d authorization data, want one per registry id", len(got.AuthorizationData))
	}
	_, err = op(context.Background(), []byte(`{"registryIds":["not-an-id"]}`))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != "InvalidParameterException" {
		t.Errorf("bad registry id: %v, want InvalidParameterException", err)
	}
}

func TestCreateAndDescribeRepository(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	created, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("mirror/library/nginx"),
		Tags:                       []ecrtypes.Tag{{Key: aws.String("owner"), Value: aws.String("platform")}},
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
		EncryptionConfiguration:    &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeKms},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ecrtypes.Repository{
		RepositoryArn:              aws.String("arn:aws:ecr:us-east-1:123456789012:repository/mirror/library/nginx"),
		RegistryId:                 aws.String("123456789012"),
		RepositoryName:             aws.String("mirror/library/nginx"),
		RepositoryUri:              aws.String(b.regHost + "/mirror/library/nginx"),
		CreatedAt:                  aws.Time(epoch),
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
		EncryptionConfiguration: &ecrtypes.EncryptionConfiguration{
			EncryptionType: ecrtypes.EncryptionTypeKms,
			KmsKey:         aws.String("arn:aws:kms:us-east-1:123456789012:alias/aws/ecr"),
		},
	}
	if diff := cmp.Diff(want, *created.Repository, ignoreSmithy); diff != "" {
		t.Errorf("CreateRepository (-want +got):\n%s", diff)
	}
	desc, err := b.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/library/nginx"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ecrtypes.Repository{want}, desc.Repositories, ignoreSmithy); diff != "" {
		t.Errorf("DescribeRepositories (-want +got):\n%s", diff)
	}
	if _, err := b.api.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: want.RepositoryArn, Tags: []ecrtypes.Tag{{Key: aws.String("cost"), Value: aws.String("ci")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := b.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: want.RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []ecrtypes.Tag{{Key: aws.String("owner"), Value: aws.String("platform")}, {Key: aws.String("cost"), Value: aws.String("ci")}}
	if diff := cmp.Diff(wantTags, tags.Tags, ignoreSmithy); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

func TestDescribeRepositoriesPages(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	names := []string{"a1", "b2", "c3", "d4", "e5"}
	for _, n := range names {
		b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n)})
	}
	var got []string
	pages := 0
	p := ecr.NewDescribeRepositoriesPaginator(b.api, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Repositories {
			got = append(got, aws.ToString(r.RepositoryName))
		}
	}
	if diff := cmp.Diff(names, got); diff != "" || pages != 3 {
		t.Errorf("paged %d times; repositories (-want +got):\n%s", pages, diff)
	}
}

// TestErrorsAreTyped drives failing calls through the SDK and checks that
// each comes back as the SDK's typed exception.
func TestErrorsAreTyped(t *testing.T) {
	b := newBed(t, func(c *ecrsim.Config) { c.Upstreams = map[string]string{"registry-1.docker.io": "http://127.0.0.1:1"} })
	ctx := context.Background()
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
	if _, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(readFixture(t, "dockerhub-credentials.json"))}); err != nil {
		t.Fatal(err)
	}
	secret := b.secretArn(t, "ecr-pullthroughcache/docker-hub")
	if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(secret),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("team"), AppliedFor: []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForCreateOnPush},
	}); err != nil {
		t.Fatal(err)
	}
	b.push(t, "app:1", randomImage(t))

	tests := []struct {
		name string
		call func() error
		want any // pointer to a pointer of the SDK's exception type
	}{
		{"repository exists", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
			return err
		}, new(*ecrtypes.RepositoryAlreadyExistsException)},
		{"repository name with capitals", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("App")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"repository name too short", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"kms key with AES256", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("enc"), EncryptionConfiguration: &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeAes256, KmsKey: aws.String("k")}})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"exclusion filters on MUTABLE", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mut"), ImageTagMutability: ecrtypes.ImageTagMutabilityMutable,
				ImageTagMutabilityExclusionFilters: []ecrtypes.ImageTagMutabilityExclusionFilter{{FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("latest")}}})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"aws: tag", func() error {
			_, err := b.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("tagged"), Tags: []ecrtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}, new(*ecrtypes.InvalidTagParameterException)},
		{"describe missing repository", func() error {
			_, err := b.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"nope"}})
			return err
		}, new(*ecrtypes.RepositoryNotFoundException)},
		{"describe images of missing repository", func() error {
			_, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("nope")})
			return err
		}, new(*ecrtypes.RepositoryNotFoundException)},
		{"missing image", func() error {
			_, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("2")}}})
			return err
		}, new(*ecrtypes.ImageNotFoundException)},
		{"bad page token", func() error {
			_, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: aws.String("garbage")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"delete non-empty repository", func() error {
			_, err := b.api.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app")})
			return err
		}, new(*ecrtypes.RepositoryNotEmptyException)},
		{"no lifecycle policy", func() error {
			_, err := b.api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
			return err
		}, new(*ecrtypes.LifecyclePolicyNotFoundException)},
		{"lifecycle policy without rules", func() error {
			_, err := b.api.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(`{"rules":[]}`)})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"bad mutability", func() error {
			_, err := b.api.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("app"), ImageTagMutability: "SOMETIMES"})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"rule exists", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(secret)})
			return err
		}, new(*ecrtypes.PullThroughCacheRuleAlreadyExistsException)},
		{"unsupported upstream", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("example"), UpstreamRegistryUrl: aws.String("registry.example.com")})
			return err
		}, new(*ecrtypes.UnsupportedUpstreamRegistryException)},
		{"ecr upstream", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("other"), UpstreamRegistryUrl: aws.String("210987654321.dkr.ecr.eu-west-1.amazonaws.com"), CustomRoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
			return err
		}, new(*ecrtypes.UnsupportedUpstreamRegistryException)},
		{"docker hub without credentials", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub2"), UpstreamRegistryUrl: aws.String("registry-1.docker.io")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"credentials for ecr-public", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), CredentialArn: aws.String(secret)})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"upstream type and url disagree", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("k8s"), UpstreamRegistryUrl: aws.String("registry.k8s.io"), UpstreamRegistry: ecrtypes.UpstreamRegistryQuay})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"secret outside ecr-pullthroughcache/", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ghcr"), UpstreamRegistryUrl: aws.String("ghcr.io"), CredentialArn: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:github-AbCdEf")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"missing secret", func() error {
			_, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ghcr"), UpstreamRegistryUrl: aws.String("ghcr.io"), CredentialArn: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf")})
			return err
		}, new(*ecrtypes.SecretNotFoundException)},
		{"describe missing rule", func() error {
			_, err := b.api.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{EcrRepositoryPrefixes: []string{"quay"}})
			return err
		}, new(*ecrtypes.PullThroughCacheRuleNotFoundException)},
		{"delete missing rule", func() error {
			_, err := b.api.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("quay")})
			return err
		}, new(*ecrtypes.PullThroughCacheRuleNotFoundException)},
		{"validate missing rule", func() error {
			_, err := b.api.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("quay")})
			return err
		}, new(*ecrtypes.PullThroughCacheRuleNotFoundException)},
		{"template exists", func() error {
			_, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{Prefix: aws.String("team"), AppliedFor: []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForCreateOnPush}})
			return err
		}, new(*ecrtypes.TemplateAlreadyExistsException)},
		{"template applied for nothing known", func() error {
			_, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{Prefix: aws.String("other"), AppliedFor: []ecrtypes.RCTAppliedFor{"SOMETIMES"}})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"describe missing template", func() error {
			_, err := b.api.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{Prefixes: []string{"nope"}})
			return err
		}, new(*ecrtypes.TemplateNotFoundException)},
		{"delete missing template", func() error {
			_, err := b.api.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("nope")})
			return err
		}, new(*ecrtypes.TemplateNotFoundException)},
		{"bad account setting value", func() error {
			_, err := b.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("MAYBE")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"unknown account setting", func() error {
			_, err := b.api.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("FAST_MODE")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
		{"tags of a repository elsewhere", func() error {
			_, err := b.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:eu-west-1:210987654321:repository/app")})
			return err
		}, new(*ecrtypes.InvalidParameterException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tt.want) {
				t.Fatalf("error %v is not a %T", err, tt.want)
			}
		})
	}
}

// TestRepositoryNotFoundMessage is the check callers write: errors.As to
// the SDK type, and ECR's own wording.
func TestRepositoryNotFoundMessage(t *testing.T) {
	b := newBed(t)
	_, err := b.api.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"docker-hub/library/nginx"}})
	var rnf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("error %v is not a RepositoryNotFoundException", err)
	}
	want := "The repository with name 'docker-hub/library/nginx' does not exist in the registry with id '123456789012'"
	if rnf.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", rnf.ErrorMessage(), want)
	}
}

func TestRepositorySettings(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("svc/api")})
	policy := readFixture(t, "lifecycle-policy.json")
	if _, err := b.api.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("svc/api"), LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	lp, err := b.api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("svc/api")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(lp.LifecyclePolicyText) != policy || aws.ToString(lp.RegistryId) != "123456789012" {
		t.Errorf("GetLifecyclePolicy = %q in %q", aws.ToString(lp.LifecyclePolicyText), aws.ToString(lp.RegistryId))
	}
	filters := []ecrtypes.ImageTagMutabilityExclusionFilter{{FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("latest*")}}
	mut, err := b.api.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{
		RepositoryName: aws.String("svc/api"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutableWithExclusion, ImageTagMutabilityExclusionFilters: filters,
	})
	if err != nil {
		t.Fatal(err)
	}
	if mut.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutableWithExclusion {
		t.Errorf("PutImageTagMutability answered %s", mut.ImageTagMutability)
	}
	scan, err := b.api.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{
		RepositoryName: aws.String("svc/api"), ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !scan.ImageScanningConfiguration.ScanOnPush {
		t.Error("PutImageScanningConfiguration did not answer scanOnPush")
	}
	desc, err := b.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"svc/api"}})
	if err != nil {
		t.Fatal(err)
	}
	r := desc.Repositories[0]
	if r.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutableWithExclusion || !r.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("repository = %s scanOnPush %v", r.ImageTagMutability, r.ImageScanningConfiguration.ScanOnPush)
	}
	if diff := cmp.Diff(filters, r.ImageTagMutabilityExclusionFilters, ignoreSmithy); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	del, err := b.api.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("svc/api")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Repository.RepositoryName) != "svc/api" {
		t.Errorf("DeleteRepository answered %v", aws.ToString(del.Repository.RepositoryName))
	}
}

func TestAccountSetting(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	get := func() string {
		out, err := b.api.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Value)
	}
	if got := get(); got != "DISABLED" {
		t.Errorf("default BLOB_MOUNTING = %q, want DISABLED", got)
	}
	put, err := b.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.Value) != "ENABLED" || get() != "ENABLED" {
		t.Errorf("after PutAccountSetting: answered %q, reads %q", aws.ToString(put.Value), get())
	}
}

func (b *bed) secretArn(t testing.TB, name string) string {
	t.Helper()
	out, err := b.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

func TestPullThroughCacheRules(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	if _, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(readFixture(t, "dockerhub-credentials.json"))}); err != nil {
		t.Fatal(err)
	}
	secret := b.secretArn(t, "ecr-pullthroughcache/docker-hub")
	created, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(secret),
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.UpstreamRegistry != ecrtypes.UpstreamRegistryDockerHub || !aws.ToTime(created.CreatedAt).Equal(epoch) {
		t.Errorf("CreatePullThroughCacheRule answered upstream %q created %v", created.UpstreamRegistry, aws.ToTime(created.CreatedAt))
	}
	if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), UpstreamRegistry: ecrtypes.UpstreamRegistryEcrPublic,
	}); err != nil {
		t.Fatal(err)
	}
	all, err := b.api.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ecrtypes.PullThroughCacheRule{
		{EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), UpstreamRegistry: ecrtypes.UpstreamRegistryDockerHub,
			CredentialArn: aws.String(secret), RegistryId: aws.String("123456789012"), CreatedAt: aws.Time(epoch), UpdatedAt: aws.Time(epoch)},
		{EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), UpstreamRegistry: ecrtypes.UpstreamRegistryEcrPublic,
			RegistryId: aws.String("123456789012"), CreatedAt: aws.Time(epoch), UpdatedAt: aws.Time(epoch)},
	}
	if diff := cmp.Diff(want, all.PullThroughCacheRules, ignoreSmithy); diff != "" {
		t.Errorf("DescribePullThroughCacheRules (-want +got):\n%s", diff)
	}
	one, err := b.api.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{EcrRepositoryPrefixes: []string{"ecr-public"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], one.PullThroughCacheRules, ignoreSmithy); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
	if _, err := b.api.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public")}); err != nil {
		t.Fatal(err)
	}
	left, err := b.api.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:1], left.PullThroughCacheRules, ignoreSmithy); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
}

func TestRepositoryCreationTemplates(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	policy := readFixture(t, "lifecycle-policy.json")
	in := &ecr.CreateRepositoryCreationTemplateInput{
		Prefix:             aws.String("docker-hub"),
		Description:        aws.String("cache repositories"),
		AppliedFor:         []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForPullThroughCache},
		ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
		LifecyclePolicy:    aws.String(policy),
		ResourceTags:       []ecrtypes.Tag{{Key: aws.String("source"), Value: aws.String("cache")}},
	}
	out, err := b.api.CreateRepositoryCreationTemplate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := ecrtypes.RepositoryCreationTemplate{
		Prefix:                  aws.String("docker-hub"),
		Description:             aws.String("cache repositories"),
		AppliedFor:              []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForPullThroughCache},
		ImageTagMutability:      ecrtypes.ImageTagMutabilityImmutable,
		LifecyclePolicy:         aws.String(policy),
		ResourceTags:            []ecrtypes.Tag{{Key: aws.String("source"), Value: aws.String("cache")}},
		EncryptionConfiguration: &ecrtypes.EncryptionConfigurationForRepositoryCreationTemplate{EncryptionType: ecrtypes.EncryptionTypeAes256},
		CreatedAt:               aws.Time(epoch),
		UpdatedAt:               aws.Time(epoch),
	}
	if diff := cmp.Diff(want, *out.RepositoryCreationTemplate, ignoreSmithy); diff != "" {
		t.Errorf("CreateRepositoryCreationTemplate (-want +got):\n%s", diff)
	}
	desc, err := b.api.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ecrtypes.RepositoryCreationTemplate{want}, desc.RepositoryCreationTemplates, ignoreSmithy); diff != "" {
		t.Errorf("DescribeRepositoryCreationTemplates (-want +got):\n%s", diff)
	}
	if _, err := b.api.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("docker-hub")}); err != nil {
		t.Fatal(err)
	}
	desc, err = b.api.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.RepositoryCreationTemplates) != 0 {
		t.Errorf("templates after delete: %d", len(desc.RepositoryCreationTemplates))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ecrsim.Config
		wantErr string
	}{
		{"defaults", ecrsim.Config{}, ""},
		{"full", ecrsim.Config{Account: "210987654321", Region: "eu-central-1", RegistryURL: "http://127.0.0.1:5000", Upstreams: map[string]string{"registry-1.docker.io": "http://127.0.0.1:5001/"}}, ""},
		{"account", ecrsim.Config{Account: "abc"}, "account"},
		{"region", ecrsim.Config{Region: "useast1"}, "region"},
		{"registry url with path", ecrsim.Config{RegistryURL: "http://127.0.0.1:5000/v2"}, "registry url"},
		{"registry url scheme", ecrsim.Config{RegistryURL: "ftp://127.0.0.1"}, "scheme"},
		{"upstream off loopback", ecrsim.Config{Upstreams: map[string]string{"quay.io": "https://quay.io"}}, "loopback"},
		{"upstream host with path", ecrsim.Config{Upstreams: map[string]string{"quay.io/x": "http://127.0.0.1:1"}}, "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}
