package ecrsim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// get sends a raw registry request with optional Basic credentials.
func (b *bed) get(t testing.TB, method, path string, auth authn.Authenticator) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, b.regURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		cfg, err := auth.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(cfg.Username, cfg.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRegistryAuthentication(t *testing.T) {
	b := newBed(t)
	good := b.auth(t)
	tests := []struct {
		name       string
		auth       authn.Authenticator
		advance    time.Duration
		wantStatus int
	}{
		{"no credentials", nil, 0, http.StatusUnauthorized},
		{"not an ECR token", &authn.Basic{Username: "AWS", Password: "123.abc"}, 0, http.StatusUnauthorized},
		{"wrong user", &authn.Basic{Username: "admin", Password: "x"}, 0, http.StatusUnauthorized},
		{"token", good, 0, http.StatusOK},
		{"token after 11h", good, 11 * time.Hour, http.StatusOK},
		{"expired token", good, 2 * time.Hour, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.clk.Advance(tt.advance)
			resp := b.get(t, http.MethodGet, "/v2/", tt.auth)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET /v2/ = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				want := `Basic realm="` + b.regURL + `/",service="ecr.amazonaws.com"`
				if got := resp.Header.Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestPushPullHead(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")})
	img := randomImage(t)
	digest := b.push(t, "team/app:1.0", img)

	got, err := remote.Image(b.ref(t, "team/app:1.0"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image is not intact: %v", err)
	}
	if d, _ := got.Digest(); d != digest {
		t.Errorf("pulled %s, pushed %s", d, digest)
	}
	desc, err := remote.Head(b.ref(t, "team/app:1.0"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest || desc.MediaType != types.DockerManifestSchema2 {
		t.Errorf("HEAD = %s %s, want %s", desc.Digest, desc.MediaType, digest)
	}

	var wantSize int64
	m, _ := img.Manifest()
	wantSize += m.Config.Size
	for _, l := range m.Layers {
		wantSize += l.Size
	}
	if got := b.ecr.BlobBytesReceived("team/app"); got != wantSize {
		t.Errorf("BlobBytesReceived = %d, want %d (config and layers)", got, wantSize)
	}
	b.clk.Advance(time.Minute)
	if _, err := remote.Image(b.ref(t, "team/app@"+digest.String()), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	imgs, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		t.Fatal(err)
	}
	want := []ecrtypes.ImageDetail{{
		RegistryId:             aws.String("123456789012"),
		RepositoryName:         aws.String("team/app"),
		ImageDigest:            aws.String(digest.String()),
		ImageTags:              []string{"1.0"},
		ImageSizeInBytes:       aws.Int64(wantSize),
		ImagePushedAt:          aws.Time(epoch),
		ImageManifestMediaType: aws.String(string(types.DockerManifestSchema2)),
		ArtifactMediaType:      aws.String(string(types.DockerConfigJSON)),
		LastRecordedPullTime:   aws.Time(epoch.Add(time.Minute)),
		ImageStatus:            ecrtypes.ImageStatusActive,
	}}
	if diff := cmp.Diff(want, imgs.ImageDetails, ignoreSmithy); diff != "" {
		t.Errorf("DescribeImages (-want +got):\n%s", diff)
	}
	byDigest, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest.String())}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, byDigest.ImageDetails, ignoreSmithy); diff != "" {
		t.Errorf("DescribeImages by digest (-want +got):\n%s", diff)
	}
	tags, err := remote.List(b.ref(t, "team/app").Context(), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.0"}, tags); diff != "" {
		t.Errorf("tags/list (-want +got):\n%s", diff)
	}

	batch, err := b.api.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("1.0")}, {ImageTag: aws.String("2.0")}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	if len(batch.Images) != 1 || aws.ToString(batch.Images[0].ImageManifest) != string(raw) || aws.ToString(batch.Images[0].ImageId.ImageDigest) != digest.String() {
		t.Errorf("BatchGetImage images = %+v", batch.Images)
	}
	wantFail := []ecrtypes.ImageFailure{{ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("2.0")}, FailureCode: ecrtypes.ImageFailureCodeImageNotFound, FailureReason: aws.String("Requested image not found")}}
	if diff := cmp.Diff(wantFail, batch.Failures, ignoreSmithy); diff != "" {
		t.Errorf("BatchGetImage failures (-want +got):\n%s", diff)
	}
	list, err := b.api.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest.String()), ImageTag: aws.String("1.0")}}, list.ImageIds, ignoreSmithy); diff != "" {
		t.Errorf("ListImages (-want +got):\n%s", diff)
	}
}

func TestPushNeedsARepository(t *testing.T) {
	b := newBed(t)
	err := remote.Write(b.ref(t, "nowhere/app:1"), randomImage(t), b.opts(t)...)
	terr := registryError(t, err)
	want := "The repository with name 'nowhere/app' does not exist in the registry with id '123456789012'"
	if terr.StatusCode != http.StatusNotFound || len(terr.Errors) == 0 || terr.Errors[0].Code != "NAME_UNKNOWN" || terr.Errors[0].Message != want {
		t.Errorf("push to a missing repository = %d %+v, want 404 NAME_UNKNOWN %q", terr.StatusCode, terr.Errors, want)
	}
	_, err = remote.Image(b.ref(t, "nowhere/app:1"), b.opts(t)...)
	if terr := registryError(t, err); terr.StatusCode != http.StatusNotFound {
		t.Errorf("pull from a missing repository = %d", terr.StatusCode)
	}
}

func TestCreateOnPushTemplate(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	if _, err := b.api.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix:             aws.String("team"),
		AppliedFor:         []ecrtypes.RCTAppliedFor{ecrtypes.RCTAppliedForCreateOnPush},
		ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
		ResourceTags:       []ecrtypes.Tag{{Key: aws.String("created-by"), Value: aws.String("push")}},
		LifecyclePolicy:    aws.String(readFixture(t, "lifecycle-policy.json")),
	}); err != nil {
		t.Fatal(err)
	}
	b.push(t, "team/web:1", randomImage(t))
	desc, err := b.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/web"}})
	if err != nil {
		t.Fatalf("push did not create the repository: %v", err)
	}
	if desc.Repositories[0].ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable {
		t.Errorf("created repository is %s, want the template's IMMUTABLE", desc.Repositories[0].ImageTagMutability)
	}
	tags, err := b.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: desc.Repositories[0].RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "created-by" {
		t.Errorf("created repository tags = %+v", tags.Tags)
	}
	if _, err := b.api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("team/web")}); err != nil {
		t.Errorf("template lifecycle policy not applied: %v", err)
	}
	err = remote.Write(b.ref(t, "other/web:1"), randomImage(t), b.opts(t)...)
	if terr := registryError(t, err); terr.StatusCode != http.StatusNotFound {
		t.Errorf("push outside the template's prefix = %d, want 404", terr.StatusCode)
	}
}

func TestTagImmutability(t *testing.T) {
	filter := func(f string) []ecrtypes.ImageTagMutabilityExclusionFilter {
		return []ecrtypes.ImageTagMutabilityExclusionFilter{{FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String(f)}}
	}
	tests := []struct {
		name       string
		mutability ecrtypes.ImageTagMutability
		filters    []ecrtypes.ImageTagMutabilityExclusionFilter
		tag        string
		wantMoved  bool
	}{
		{"mutable", ecrtypes.ImageTagMutabilityMutable, nil, "1.0", true},
		{"immutable", ecrtypes.ImageTagMutabilityImmutable, nil, "1.0", false},
		{"immutable, excluded tag", ecrtypes.ImageTagMutabilityImmutableWithExclusion, filter("latest*"), "latest-amd64", true},
		{"immutable, other tag", ecrtypes.ImageTagMutabilityImmutableWithExclusion, filter("latest*"), "1.0", false},
		{"mutable, excluded tag", ecrtypes.ImageTagMutabilityMutableWithExclusion, filter("v*.*"), "v1.2", false},
		{"mutable, other tag", ecrtypes.ImageTagMutabilityMutableWithExclusion, filter("v*.*"), "dev", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t)
			b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app"), ImageTagMutability: tt.mutability, ImageTagMutabilityExclusionFilters: tt.filters})
			first := randomImage(t)
			firstDigest := b.push(t, "app:"+tt.tag, first)
			b.push(t, "app:"+tt.tag, first) // the same digest again is always fine
			err := remote.Write(b.ref(t, "app:"+tt.tag), randomImage(t), b.opts(t)...)
			if tt.wantMoved {
				if err != nil {
					t.Fatalf("moving a mutable tag: %v", err)
				}
				return
			}
			terr := registryError(t, err)
			want := "The image tag '" + tt.tag + "' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."
			if terr.StatusCode != http.StatusBadRequest || len(terr.Errors) == 0 || terr.Errors[0].Code != "TAG_INVALID" || terr.Errors[0].Message != want {
				t.Errorf("overwrite = %d %+v, want 400 TAG_INVALID %q", terr.StatusCode, terr.Errors, want)
			}
			desc, err := remote.Head(b.ref(t, "app:"+tt.tag), b.opts(t)...)
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != firstDigest {
				t.Errorf("tag moved to %s", desc.Digest)
			}
		})
	}
}

func TestMultiArchIndex(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("multi")})
	idx, err := random.Index(1024, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(b.ref(t, "multi:1"), idx, b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(b.ref(t, "multi:1"), b.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Fatalf("pulled index is not intact: %v", err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled index %s, pushed %s", d, want)
	}
	imgs, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs.ImageDetails) != 4 {
		t.Fatalf("DescribeImages listed %d images, want the index and its 3 children", len(imgs.ImageDetails))
	}
	var largest, indexSize int64
	for _, d := range imgs.ImageDetails {
		if aws.ToString(d.ImageDigest) == want.String() {
			indexSize = aws.ToInt64(d.ImageSizeInBytes)
			if diff := cmp.Diff([]string{"1"}, d.ImageTags); diff != "" {
				t.Errorf("index tags (-want +got):\n%s", diff)
			}
			continue
		}
		largest = max(largest, aws.ToInt64(d.ImageSizeInBytes))
		if len(d.ImageTags) != 0 {
			t.Errorf("child %s has tags %v", aws.ToString(d.ImageDigest), d.ImageTags)
		}
	}
	if indexSize != largest || largest == 0 {
		t.Errorf("index size %d, want the largest child's %d", indexSize, largest)
	}
	untagged, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("multi"), Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusUntagged}})
	if err != nil {
		t.Fatal(err)
	}
	if len(untagged.ImageDetails) != 3 {
		t.Errorf("untagged images = %d, want 3", len(untagged.ImageDetails))
	}
}

func TestManifestReferencingMissingBlob(t *testing.T) {
	b := newBed(t)
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
	img := randomImage(t)
	// Upload only the manifest, none of the blobs it references.
	err := remote.Put(b.ref(t, "app:1"), img, b.opts(t)...)
	terr := registryError(t, err)
	if terr.StatusCode != http.StatusBadRequest || terr.Errors[0].Code != "MANIFEST_BLOB_UNKNOWN" {
		t.Errorf("manifest without blobs = %d %+v, want 400 MANIFEST_BLOB_UNKNOWN", terr.StatusCode, terr.Errors)
	}
}

func TestBlobMount(t *testing.T) {
	tests := []struct {
		name      string
		mounting  string
		dstKMS    bool
		wantBytes bool // the destination received the layers by upload
	}{
		{"mounting disabled: upload", "DISABLED", false, true},
		{"mounting enabled: mounted", "ENABLED", false, false},
		{"different encryption: upload", "ENABLED", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t)
			ctx := context.Background()
			if _, err := b.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String(tt.mounting)}); err != nil {
				t.Fatal(err)
			}
			b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("src/app")})
			dst := &ecr.CreateRepositoryInput{RepositoryName: aws.String("dst/app")}
			if tt.dstKMS {
				dst.EncryptionConfiguration = &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeKms}
			}
			b.createRepo(t, dst)
			digest := b.push(t, "src/app:1", randomImage(t))
			// A copy within the registry: go-containerregistry offers a
			// mount from src for every layer it pulled from there.
			src, err := remote.Image(b.ref(t, "src/app:1"), b.opts(t)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(b.ref(t, "dst/app:1"), src, b.opts(t)...); err != nil {
				t.Fatal(err)
			}
			if got := b.ecr.BlobBytesReceived("dst/app"); (got > 0) != tt.wantBytes {
				t.Errorf("BlobBytesReceived(dst) = %d, want bytes uploaded: %v", got, tt.wantBytes)
			}
			pulled, err := remote.Image(b.ref(t, "dst/app:1"), b.opts(t)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(pulled); err != nil {
				t.Fatalf("copied image is not intact: %v", err)
			}
			if d, _ := pulled.Digest(); d != digest {
				t.Errorf("copied %s, want %s", d, digest)
			}
		})
	}
}

func TestMountAnswersWithoutFallbackCases(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	if _, err := b.api.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatal(err)
	}
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("src")})
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("dst")})
	img := randomImage(t)
	b.push(t, "src:1", img)
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	tests := []struct {
		name       string
		query      string
		wantStatus int
	}{
		{"blob in source", "mount=" + layer.String() + "&from=src", http.StatusCreated},
		{"source without the blob", "mount=sha256:" + strings.Repeat("0", 64) + "&from=src", http.StatusAccepted},
		{"missing source", "mount=" + layer.String() + "&from=nope", http.StatusAccepted},
		{"no mount", "", http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.get(t, http.MethodPost, "/v2/dst/blobs/uploads/?"+tt.query, b.auth(t))
			if resp.StatusCode != tt.wantStatus {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("POST = %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusAccepted && !strings.HasPrefix(resp.Header.Get("Location"), "/v2/dst/blobs/uploads/") {
				t.Errorf("Location = %q, want an upload session", resp.Header.Get("Location"))
			}
		})
	}
}

func TestRecopyReceivesNoBytes(t *testing.T) {
	b := newBed(t)
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("mirror/app")})
	img := randomImage(t)
	b.push(t, "mirror/app:1", img)
	before := b.ecr.BlobBytesReceived("mirror/app")
	b.push(t, "mirror/app:1", img)
	if after := b.ecr.BlobBytesReceived("mirror/app"); after != before {
		t.Errorf("re-copy received %d blob bytes, want 0", after-before)
	}
}

func TestBlobsBelongToRepositories(t *testing.T) {
	b := newBed(t)
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("one")})
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("two")})
	img := randomImage(t)
	b.push(t, "one:1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	if resp := b.get(t, http.MethodHead, "/v2/one/blobs/"+d.String(), b.auth(t)); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD blob in its repository = %d", resp.StatusCode)
	}
	if resp := b.get(t, http.MethodGet, "/v2/two/blobs/"+d.String(), b.auth(t)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET blob from another repository = %d, want 404", resp.StatusCode)
	}
	if resp := b.get(t, http.MethodGet, "/v2/_catalog", b.auth(t)); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("catalog = %d, want 405", resp.StatusCode)
	}
}

func TestDeleteByDigest(t *testing.T) {
	b := newBed(t)
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
	digest := b.push(t, "app:1", randomImage(t))
	if err := remote.Delete(b.ref(t, "app@"+digest.String()), b.opts(t)...); err != nil {
		t.Fatal(err)
	}
	_, err := remote.Head(b.ref(t, "app:1"), b.opts(t)...)
	if terr := registryError(t, err); terr.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD deleted tag = %d, want 404", terr.StatusCode)
	}
}

func TestArtifactMediaTypeOfOCIImage(t *testing.T) {
	b := newBed(t)
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("oci")})
	img := mutate.MediaType(mutate.ConfigMediaType(randomImage(t), types.OCIConfigJSON), types.OCIManifestSchema1)
	digest := b.push(t, "oci:1", img)
	out, err := b.api.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String("oci"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	d := out.ImageDetails[0]
	got := []string{aws.ToString(d.ImageDigest), aws.ToString(d.ImageManifestMediaType), aws.ToString(d.ArtifactMediaType)}
	if diff := cmp.Diff([]string{digest.String(), string(types.OCIManifestSchema1), string(types.OCIConfigJSON)}, got); diff != "" {
		t.Errorf("OCI image detail (-want +got):\n%s", diff)
	}
}

func TestConcurrentPushesAndReads(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.createRepo(t, &ecr.CreateRepositoryInput{RepositoryName: aws.String("busy")})
	opts := b.opts(t)
	imgs := make([]v1.Image, 6)
	for i := range imgs {
		imgs[i] = randomImage(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(imgs))
	for i, img := range imgs {
		wg.Go(func() {
			errs <- remote.Write(b.ref(t, fmt.Sprintf("busy:%d", i)), img, opts...)
		})
		wg.Go(func() {
			_, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("busy")})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	out, err := b.api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("busy"), Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != len(imgs) {
		t.Errorf("%d tagged images after %d concurrent pushes", len(out.ImageDetails), len(imgs))
	}
}
