package ecrsim_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
)

// hubBed is a test bed whose docker-hub rule pulls from an in-process
// upstream that wants the credentials of testdata/dockerhub-credentials.json.
func hubBed(t *testing.T, secretFixture string) (*bed, *upstream) {
	t.Helper()
	up := newUpstream(t, "pullheal-ci", "dckr_pat_local_test_token")
	b := newBed(t, func(c *ecrsim.Config) { c.Upstreams = map[string]string{"registry-1.docker.io": up.srv.URL} })
	ctx := context.Background()
	out, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(readFixture(t, secretFixture)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: out.ARN,
	}); err != nil {
		t.Fatal(err)
	}
	return b, up
}

func TestPullThroughImportsWithCredentials(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	ctx := context.Background()
	if _, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix:             aws.String("docker-hub"),
		AppliedFor:         []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForPullThroughCache},
		ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
		ResourceTags:       []ecrtypes.Tag{{Key: aws.String("source"), Value: aws.String("docker-hub")}},
		LifecyclePolicy:    aws.String(readFixture(t, "lifecycle-policy.json")),
		EncryptionConfiguration: &ecrtypes.EncryptionConfigurationForRepositoryCreationTemplate{
			EncryptionType: ecrtypes.EncryptionTypeKms,
		},
	}); err != nil {
		t.Fatal(err)
	}
	want := up.push(t, "library/nginx:1.27", randomImage(t))

	img, err := remote.Image(b.ref(t, "docker-hub/library/nginx:1.27"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("image pulled through the cache is not intact: %v", err)
	}
	if d, _ := img.Digest(); d != want {
		t.Errorf("pulled %s, upstream has %s", d, want)
	}
	if _, err := remote.Image(b.ref(t, "docker-hub/library/nginx:1.27"), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	if got := b.ecr.UpstreamManifestGets(); got != 1 {
		t.Errorf("UpstreamManifestGets = %d after two pulls, want 1", got)
	}
	if gets, _ := up.counts(); gets != 1 {
		t.Errorf("upstream served %d manifest GETs, want 1", gets)
	}

	desc, err := b.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"docker-hub/library/nginx"}})
	if err != nil {
		t.Fatalf("the cache did not create the repository: %v", err)
	}
	r := desc.Repositories[0]
	got := []string{string(r.ImageTagMutability), string(r.EncryptionConfiguration.EncryptionType), aws.ToString(r.EncryptionConfiguration.KmsKey), aws.ToString(r.RepositoryUri)}
	wantRepo := []string{"IMMUTABLE", "KMS", "arn:aws:kms:us-east-1:123456789012:alias/aws/ecr", b.regHost + "/docker-hub/library/nginx"}
	if diff := cmp.Diff(wantRepo, got); diff != "" {
		t.Errorf("cache repository (-want +got):\n%s", diff)
	}
	tags, err := b.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "docker-hub" {
		t.Errorf("cache repository tags = %+v, want the template's", tags.Tags)
	}
	if _, err := b.api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("docker-hub/library/nginx")}); err != nil {
		t.Errorf("template lifecycle policy: %v", err)
	}
	imgs, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("docker-hub/library/nginx")})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs.ImageDetails) != 1 || aws.ToString(imgs.ImageDetails[0].ImageDigest) != want.String() {
		t.Errorf("DescribeImages = %+v", imgs.ImageDetails)
	}
	if got := b.ecr.BlobBytesReceived("docker-hub/library/nginx"); got != 0 {
		t.Errorf("BlobBytesReceived = %d: cached blobs are not uploads", got)
	}
}

func TestPullThroughErrors(t *testing.T) {
	tests := []struct {
		name       string
		secret     string
		setup      func(t *testing.T, b *bed, up *upstream)
		ref        string
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{
			name:   "upstream rejects the credentials",
			secret: "wrong-credentials.json",
			setup: func(t *testing.T, b *bed, up *upstream) {
				up.push(t, "library/redis:7", randomImage(t))
			},
			ref: "docker-hub/library/redis:7", wantStatus: http.StatusForbidden, wantCode: "DENIED", wantText: "registry-1.docker.io",
		},
		{
			name:   "rate limited upstream",
			secret: "dockerhub-credentials.json",
			setup: func(t *testing.T, b *bed, up *upstream) {
				up.push(t, "library/redis:7", randomImage(t))
				up.setRateLimited(true)
			},
			ref: "docker-hub/library/redis:7", wantStatus: http.StatusTooManyRequests, wantCode: "TOOMANYREQUESTS", wantText: "You have reached your pull rate limit",
		},
		{
			name:   "unknown upstream image",
			secret: "dockerhub-credentials.json",
			ref:    "docker-hub/library/nothing:1", wantStatus: http.StatusNotFound, wantCode: "MANIFEST_UNKNOWN", wantText: "not found",
		},
		{
			name:   "first pull by digest",
			secret: "dockerhub-credentials.json",
			setup: func(t *testing.T, b *bed, up *upstream) {
				up.push(t, "library/redis:7", randomImage(t))
			},
			ref: "docker-hub/library/redis@sha256:" + strings.Repeat("a", 64), wantStatus: http.StatusNotFound, wantCode: "MANIFEST_UNKNOWN", wantText: "by digest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, up := hubBed(t, tt.secret)
			if tt.setup != nil {
				tt.setup(t, b, up)
			}
			_, err := remote.Image(b.ref(t, tt.ref), b.opts(t)...)
			terr := registryError(t, err)
			if terr.StatusCode != tt.wantStatus || len(terr.Errors) == 0 || string(terr.Errors[0].Code) != tt.wantCode || !strings.Contains(terr.Errors[0].Message, tt.wantText) {
				t.Errorf("pull = %d %+v, want %d %s mentioning %q", terr.StatusCode, terr.Errors, tt.wantStatus, tt.wantCode, tt.wantText)
			}
		})
	}
}

func TestPullThroughKeepsRetryAfter(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	up.push(t, "library/redis:7", randomImage(t))
	up.setRateLimited(true)
	resp := b.get(t, http.MethodGet, "/v2/docker-hub/library/redis/manifests/7", b.auth(t))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "3600" {
		t.Errorf("Retry-After = %q, want the upstream's 3600", got)
	}
}

func TestPullThroughDigestAfterTag(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	want := up.push(t, "bitnami/redis:7", randomImage(t))
	byDigest := b.ref(t, "docker-hub/bitnami/redis@"+want.String())
	if _, err := remote.Image(byDigest, b.opts(t)...); err == nil {
		t.Fatal("a first pull by digest was served")
	}
	// containerd resolves a tag with HEAD, then fetches by digest.
	desc, err := remote.Head(b.ref(t, "docker-hub/bitnami/redis:7"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Fatalf("HEAD = %s, want %s", desc.Digest, want)
	}
	img, err := remote.Image(byDigest, b.opts(t)...)
	if err != nil {
		t.Fatalf("pull by digest after the tag was cached: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

func TestPullThroughRefreshesDaily(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	first := up.push(t, "library/alpine:3", randomImage(t))
	pull := func() v1.Hash {
		t.Helper()
		desc, err := remote.Get(b.ref(t, "docker-hub/library/alpine:3"), b.opts(t)...)
		if err != nil {
			t.Fatal(err)
		}
		return desc.Digest
	}
	type step struct {
		advance  time.Duration
		push     bool // upstream moves the tag before the pull
		wantNew  bool
		wantGets int // UpstreamManifestGets after the pull
		heads    int // upstream manifest HEADs after the pull
	}
	var second v1.Hash
	steps := []step{
		{0, false, false, 1, 0},
		{0, true, false, 1, 0},               // moved upstream, but checked minutes ago
		{23 * time.Hour, false, false, 1, 0}, // still within the day
		{2 * time.Hour, false, true, 2, 1},   // due: HEAD differs, GET
		{25 * time.Hour, false, true, 2, 2},  // due: HEAD matches, no GET
		{time.Hour, false, true, 2, 2},
	}
	for i, s := range steps {
		b.clk.Advance(s.advance)
		if s.push {
			second = up.push(t, "library/alpine:3", randomImage(t))
		}
		got := pull()
		want := first
		if s.wantNew {
			want = second
		}
		if got != want {
			t.Errorf("step %d: pulled %s, want %s", i, got, want)
		}
		if g := b.ecr.UpstreamManifestGets(); g != s.wantGets {
			t.Errorf("step %d: UpstreamManifestGets = %d, want %d", i, g, s.wantGets)
		}
		if _, heads := up.counts(); heads != s.heads {
			t.Errorf("step %d: upstream HEADs = %d, want %d", i, heads, s.heads)
		}
	}
}

func TestPullThroughServesCacheWhenUpstreamThrottles(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	want := up.push(t, "library/alpine:3", randomImage(t))
	if _, err := remote.Get(b.ref(t, "docker-hub/library/alpine:3"), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	up.push(t, "library/alpine:3", randomImage(t))
	up.setRateLimited(true)
	b.clk.Advance(25 * time.Hour)
	desc, err := remote.Get(b.ref(t, "docker-hub/library/alpine:3"), b.opts(t)...)
	if err != nil {
		t.Fatalf("cached tag with a throttled upstream: %v", err)
	}
	if desc.Digest != want {
		t.Errorf("served %s, want the cached %s", desc.Digest, want)
	}
}

func TestPullThroughIndexChildrenOnDemand(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	ctx := context.Background()
	idx, err := random.Index(1024, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := up.pushIndex(t, "library/busybox:1", idx)
	got, err := remote.Index(b.ref(t, "docker-hub/library/busybox:1"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("index %s, want %s", d, want)
	}
	if g := b.ecr.UpstreamManifestGets(); g != 1 {
		t.Errorf("after the index: %d upstream GETs, want 1 (children on demand)", g)
	}
	im, _ := idx.IndexManifest()
	child := im.Manifests[1].Digest
	img, err := remote.Image(b.ref(t, "docker-hub/library/busybox@"+child.String()), b.opts(t)...)
	if err != nil {
		t.Fatalf("child of a cached index: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	if g := b.ecr.UpstreamManifestGets(); g != 2 {
		t.Errorf("after one child: %d upstream GETs, want 2", g)
	}
	imgs, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("docker-hub/library/busybox")})
	if err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, d := range imgs.ImageDetails {
		digests = append(digests, aws.ToString(d.ImageDigest))
	}
	if diff := cmp.Diff([]string{want.String(), child.String()}, digests, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("cached images (-want +got):\n%s", diff)
	}
}

func TestPullThroughSharesConcurrentFetches(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	want := up.push(t, "library/postgres:16", randomImage(t))
	opts := b.opts(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	digests := make([]v1.Hash, 8)
	for i := range 8 {
		wg.Go(func() {
			desc, err := remote.Get(b.ref(t, "docker-hub/library/postgres:16"), opts...)
			errs[i] = err
			if err == nil {
				digests[i] = desc.Digest
			}
		})
	}
	wg.Wait()
	for i := range 8 {
		if errs[i] != nil || digests[i] != want {
			t.Errorf("puller %d: %v %s", i, errs[i], digests[i])
		}
	}
	if g := b.ecr.UpstreamManifestGets(); g != 1 {
		t.Errorf("8 concurrent pulls made %d upstream GETs, want 1", g)
	}
}

func TestBatchGetImageThroughTheCache(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	ctx := context.Background()
	want := up.push(t, "library/nginx:1", randomImage(t))
	up.push(t, "library/nginx:2", randomImage(t))
	out, err := b.api.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName: aws.String("docker-hub/library/nginx"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String("1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId.ImageDigest) != want.String() {
		t.Fatalf("BatchGetImage images = %+v failures = %+v", out.Images, out.Failures)
	}
	up.setRateLimited(true)
	out, err = b.api.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName: aws.String("docker-hub/library/nginx"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String("1")}, {ImageTag: aws.String("2")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 || len(out.Failures) != 1 || out.Failures[0].FailureCode != ecrtypes.ImageFailureCodeUpstreamTooManyRequests {
		t.Errorf("with a throttled upstream: images %d, failures %+v; want the cached one and UpstreamTooManyRequests", len(out.Images), out.Failures)
	}
}

func TestPullThroughUnmappedUpstream(t *testing.T) {
	b := newBed(t)
	if _, err := b.api.CreatePullThroughCacheRule(context.Background(), &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("quay"), UpstreamRegistryUrl: aws.String("quay.io"),
	}); err != nil {
		t.Fatal(err)
	}
	_, err := remote.Image(b.ref(t, "quay/prometheus/node-exporter:v1"), b.opts(t)...)
	terr := registryError(t, err)
	if terr.StatusCode != http.StatusServiceUnavailable || !strings.Contains(terr.Errors[0].Message, "not reachable") {
		t.Errorf("pull from an unmapped upstream = %d %+v, want 503 naming the unreachable host", terr.StatusCode, terr.Errors)
	}
}

func TestValidatePullThroughCacheRule(t *testing.T) {
	tests := []struct {
		name        string
		secret      string
		mapUpstream bool
		wantValid   bool
		wantFailure string
	}{
		{"reachable with good credentials", "dockerhub-credentials.json", true, true, ""},
		{"credentials rejected", "wrong-credentials.json", true, false, "401"},
		{"upstream unreachable", "dockerhub-credentials.json", false, false, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, "pullheal-ci", "dckr_pat_local_test_token")
			b := newBed(t, func(c *ecrsim.Config) {
				if tt.mapUpstream {
					c.Upstreams = map[string]string{"registry-1.docker.io": up.srv.URL}
				}
			})
			ctx := context.Background()
			sec, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/hub"), SecretString: aws.String(readFixture(t, tt.secret))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
				EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: sec.ARN,
			}); err != nil {
				t.Fatal(err)
			}
			out, err := b.api.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub")})
			if err != nil {
				t.Fatal(err)
			}
			if out.IsValid != tt.wantValid || !strings.Contains(aws.ToString(out.Failure), tt.wantFailure) {
				t.Errorf("isValid %v failure %q, want %v mentioning %q", out.IsValid, aws.ToString(out.Failure), tt.wantValid, tt.wantFailure)
			}
			if aws.ToString(out.CredentialArn) != aws.ToString(sec.ARN) || aws.ToString(out.UpstreamRegistryUrl) != "registry-1.docker.io" {
				t.Errorf("answer names %q %q", aws.ToString(out.CredentialArn), aws.ToString(out.UpstreamRegistryUrl))
			}
		})
	}
}

func TestValidateNoticesDeletedSecret(t *testing.T) {
	up := newUpstream(t, "", "")
	b := newBed(t, func(c *ecrsim.Config) { c.Upstreams = map[string]string{"ghcr.io": up.srv.URL} })
	ctx := context.Background()
	sec, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/ghcr"), SecretString: aws.String(readFixture(t, "dockerhub-credentials.json"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("github"), UpstreamRegistryUrl: aws.String("ghcr.io"), CredentialArn: sec.ARN,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: sec.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	out, err := b.api.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("github")})
	if err != nil {
		t.Fatal(err)
	}
	if out.IsValid || !strings.Contains(aws.ToString(out.Failure), "secret") {
		t.Errorf("isValid %v failure %q, want invalid because of the secret", out.IsValid, aws.ToString(out.Failure))
	}
}

// TestPullThroughDockerHubTokenFlow pulls from an upstream that answers
// like Docker Hub: a Bearer challenge naming https://auth.docker.io/token,
// where the rule's credentials buy a token. Both hosts map to loopback.
func TestPullThroughDockerHubTokenFlow(t *testing.T) {
	tests := []struct {
		name      string
		secret    string
		wantValid bool
		wantPull  bool
	}{
		{"good credentials", "dockerhub-credentials.json", true, true},
		{"revoked credentials", "wrong-credentials.json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newTokenUpstream(t, "pullheal-ci", "dckr_pat_local_test_token")
			b := newBed(t, func(c *ecrsim.Config) {
				c.Upstreams = map[string]string{"registry-1.docker.io": up.srv.URL, "auth.docker.io": up.srv.URL}
			})
			ctx := context.Background()
			sec, err := b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(readFixture(t, tt.secret))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
				EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: sec.ARN,
			}); err != nil {
				t.Fatal(err)
			}
			want := up.push(t, "library/nginx:1.27", randomImage(t))
			v, err := b.api.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub")})
			if err != nil {
				t.Fatal(err)
			}
			if v.IsValid != tt.wantValid {
				t.Errorf("isValid = %v (%s), want %v", v.IsValid, aws.ToString(v.Failure), tt.wantValid)
			}
			img, err := remote.Image(b.ref(t, "docker-hub/library/nginx:1.27"), b.opts(t)...)
			if !tt.wantPull {
				if terr := registryError(t, err); terr.StatusCode != http.StatusForbidden {
					t.Errorf("pull with revoked credentials = %d %+v, want 403", terr.StatusCode, terr.Errors)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatal(err)
			}
			if d, _ := img.Digest(); d != want {
				t.Errorf("pulled %s, want %s", d, want)
			}
		})
	}
}

func TestMountRefusesCacheRepositories(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	ctx := context.Background()
	if _, err := b.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatal(err)
	}
	img := randomImage(t)
	up.push(t, "library/nginx:1", img)
	if _, err := remote.Image(b.ref(t, "docker-hub/library/nginx:1"), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/nginx")})
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	resp := b.get(t, http.MethodPost, "/v2/mirror/nginx/blobs/uploads/?mount="+d.String()+"&from=docker-hub/library/nginx", b.auth(t))
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("mount from a pull-through cache repository = %d, want 202 (upload instead)", resp.StatusCode)
	}
}

func TestPullThroughKeepsImmutableTags(t *testing.T) {
	b, up := hubBed(t, "dockerhub-credentials.json")
	ctx := context.Background()
	if _, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("ROOT"), AppliedFor: []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForPullThroughCache}, ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
	}); err != nil {
		t.Fatal(err)
	}
	first := up.push(t, "library/alpine:3", randomImage(t))
	if _, err := remote.Get(b.ref(t, "docker-hub/library/alpine:3"), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	up.push(t, "library/alpine:3", randomImage(t))
	b.clk.Advance(25 * time.Hour)
	desc, err := remote.Get(b.ref(t, "docker-hub/library/alpine:3"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != first {
		t.Errorf("immutable cached tag moved to %s, want %s", desc.Digest, first)
	}
}
