package mirror_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pullheal/pullheal/internal/mirror"
)

// fakeRepositories is a pure-logic stand-in for the ECR repository calls:
// it keeps repositories in a map and records the calls made.
type fakeRepositories struct {
	mu    sync.Mutex
	repos map[string]ecrtypes.Repository
	calls []any
	// createRace makes CreateRepository answer as if someone else created
	// the repository first.
	createRace  bool
	describeErr error
}

func newFakeRepositories(existing ...ecrtypes.Repository) *fakeRepositories {
	f := &fakeRepositories{repos: map[string]ecrtypes.Repository{}}
	for _, r := range existing {
		f.repos[aws.ToString(r.RepositoryName)] = r
	}
	return f
}

func (f *fakeRepositories) record(in any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
}

func (f *fakeRepositories) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	f.record(in)
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecr.DescribeRepositoriesOutput{}
	for _, n := range in.RepositoryNames {
		r, ok := f.repos[n]
		if !ok {
			return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("The repository with name '" + n + "' does not exist")}
		}
		out.Repositories = append(out.Repositories, r)
	}
	return out, nil
}

func (f *fakeRepositories) CreateRepository(_ context.Context, in *ecr.CreateRepositoryInput, _ ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	f.record(in)
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.RepositoryName)
	if _, ok := f.repos[name]; ok || f.createRace {
		f.repos[name] = ecrtypes.Repository{RepositoryName: in.RepositoryName, ImageTagMutability: ecrtypes.ImageTagMutabilityMutable}
		return nil, &ecrtypes.RepositoryAlreadyExistsException{Message: aws.String("exists")}
	}
	r := ecrtypes.Repository{
		RepositoryName: in.RepositoryName, ImageTagMutability: in.ImageTagMutability,
		ImageScanningConfiguration: in.ImageScanningConfiguration, EncryptionConfiguration: in.EncryptionConfiguration,
	}
	f.repos[name] = r
	return &ecr.CreateRepositoryOutput{Repository: &r}, nil
}

func (f *fakeRepositories) PutLifecyclePolicy(_ context.Context, in *ecr.PutLifecyclePolicyInput, _ ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error) {
	f.record(in)
	return &ecr.PutLifecyclePolicyOutput{}, nil
}

func (f *fakeRepositories) PutImageTagMutability(_ context.Context, in *ecr.PutImageTagMutabilityInput, _ ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error) {
	f.record(in)
	return &ecr.PutImageTagMutabilityOutput{}, nil
}

func (f *fakeRepositories) PutImageScanningConfiguration(_ context.Context, in *ecr.PutImageScanningConfigurationInput, _ ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error) {
	f.record(in)
	return &ecr.PutImageScanningConfigurationOutput{}, nil
}

func (f *fakeRepositories) recorded() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]any(nil), f.calls...)
}

// The SDK clients satisfy the narrow interfaces as they are.
var (
	_ mirror.RepositoryAPI = (*ecr.Client)(nil)
	_ mirror.TokenAPI      = (*ecr.Client)(nil)
	_ mirror.SecretsAPI    = (*secretsmanager.Client)(nil)
	_ mirror.RepositoryAPI = (*fakeRepositories)(nil)
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEnsureRepository(t *testing.T) {
	policy := readTestdata(t, "lifecycle-policy.json")
	const repo = "mirror/library/nginx"
	settings := mirror.RepositorySettings{
		ScanOnPush:      true,
		TagMutability:   ecrtypes.ImageTagMutabilityImmutable,
		Encryption:      &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeKms, KmsKey: aws.String("alias/mirror")},
		Tags:            map[string]string{"team": "platform", "managed-by": "pullheal"},
		LifecyclePolicy: policy,
	}
	reconcile := settings
	reconcile.Reconcile = true
	drifted := ecrtypes.Repository{
		RepositoryName: aws.String(repo), ImageTagMutability: ecrtypes.ImageTagMutabilityMutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: false},
		EncryptionConfiguration:    &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeAes256},
	}
	aligned := ecrtypes.Repository{
		RepositoryName: aws.String(repo), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	}
	describe := &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}}
	putPolicy := &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(strings.TrimSpace(policy))}

	tests := []struct {
		name      string
		api       *fakeRepositories
		settings  mirror.RepositorySettings
		want      mirror.EnsureResult
		wantCalls []any
		wantErr   string
	}{
		{
			name: "missing repository is created with the settings", api: newFakeRepositories(), settings: settings,
			want: mirror.EnsureResult{Created: true},
			wantCalls: []any{
				describe,
				&ecr.CreateRepositoryInput{
					RepositoryName:             aws.String(repo),
					ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
					ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
					EncryptionConfiguration:    settings.Encryption,
					Tags: []ecrtypes.Tag{
						{Key: aws.String("managed-by"), Value: aws.String("pullheal")},
						{Key: aws.String("team"), Value: aws.String("platform")},
					},
				},
				putPolicy,
			},
		},
		{
			name: "existing repository is left alone", api: newFakeRepositories(drifted), settings: settings,
			wantCalls: []any{describe},
		},
		{
			name: "existing repository is brought in line", api: newFakeRepositories(drifted), settings: reconcile,
			want: mirror.EnsureResult{Updated: []string{"tag mutability", "scan on push", "lifecycle policy"}},
			wantCalls: []any{
				describe,
				&ecr.PutImageTagMutabilityInput{RepositoryName: aws.String(repo), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable},
				&ecr.PutImageScanningConfigurationInput{RepositoryName: aws.String(repo), ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}},
				putPolicy,
			},
		},
		{
			name: "aligned repository only gets its policy again", api: newFakeRepositories(aligned), settings: reconcile,
			want:      mirror.EnsureResult{Updated: []string{"lifecycle policy"}},
			wantCalls: []any{describe, putPolicy},
		},
		{
			name: "created concurrently by someone else", api: &fakeRepositories{repos: map[string]ecrtypes.Repository{}, createRace: true},
			settings: mirror.RepositorySettings{},
			wantCalls: []any{
				describe,
				&ecr.CreateRepositoryInput{
					RepositoryName:             aws.String(repo),
					ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{},
					ImageTagMutability:         ecrtypes.ImageTagMutabilityMutable,
				},
			},
		},
		{
			name: "describe fails", api: &fakeRepositories{describeErr: errors.New("AccessDeniedException: not allowed")},
			settings: settings, wantErr: "describe repository mirror/library/nginx: AccessDeniedException",
			wantCalls: []any{describe},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mirror.EnsureRepository(t.Context(), tc.api, repo, tc.settings, nil)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, tc.api.recorded(), ignoreSDKInternals); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

var ignoreSDKInternals = cmpopts.IgnoreUnexported(
	ecr.DescribeRepositoriesInput{}, ecr.CreateRepositoryInput{}, ecr.PutLifecyclePolicyInput{},
	ecr.PutImageTagMutabilityInput{}, ecr.PutImageScanningConfigurationInput{},
	ecrtypes.ImageScanningConfiguration{}, ecrtypes.EncryptionConfiguration{}, ecrtypes.Tag{},
)

func TestRepositorySettingsValidate(t *testing.T) {
	tests := []struct {
		name     string
		settings mirror.RepositorySettings
		wantErr  string
	}{
		{name: "zero value", settings: mirror.RepositorySettings{}},
		{name: "full", settings: mirror.RepositorySettings{
			RegistryID: "123456789012", ScanOnPush: true, TagMutability: ecrtypes.ImageTagMutabilityImmutable,
			Encryption: &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeKmsDsse},
			Tags:       map[string]string{"team": "platform"}, LifecyclePolicy: readTestdata(t, "lifecycle-policy.json"),
		}},
		{name: "registry id", settings: mirror.RepositorySettings{RegistryID: "12345"}, wantErr: `registry id "12345"`},
		{name: "mutability with exclusions", settings: mirror.RepositorySettings{TagMutability: ecrtypes.ImageTagMutabilityImmutableWithExclusion}, wantErr: "tag mutability"},
		{name: "kms key with AES256", settings: mirror.RepositorySettings{Encryption: &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeAes256, KmsKey: aws.String("k")}}, wantErr: "KMS key"},
		{name: "unknown encryption", settings: mirror.RepositorySettings{Encryption: &ecrtypes.EncryptionConfiguration{EncryptionType: "ROT13"}}, wantErr: `encryption type "ROT13"`},
		{name: "reserved tag", settings: mirror.RepositorySettings{Tags: map[string]string{"aws:owner": "x"}}, wantErr: "reserved aws: prefix"},
		{name: "empty tag key", settings: mirror.RepositorySettings{Tags: map[string]string{"": "x"}}, wantErr: "tag key"},
		{name: "policy not JSON", settings: mirror.RepositorySettings{LifecyclePolicy: "rules: []"}, wantErr: "lifecycle policy is not JSON"},
		{name: "policy without rules", settings: mirror.RepositorySettings{LifecyclePolicy: `{"rules":[]}`}, wantErr: "no rules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.settings.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCopyCreatesRepositoryOnce(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/app:1", multiArch(t, 256, 1, "linux/amd64"))
	src.pushIndex("library/app:2", multiArch(t, 256, 1, "linux/amd64"))
	api := newFakeRepositories()
	m, err := mirror.New(mirror.WithRepositoryCreation(api, mirror.RepositorySettings{ScanOnPush: true}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1", "2"} {
		if _, err := m.Copy(t.Context(), src.ref("library/app:"+tag), dst.ref("mirror/library/app:"+tag)); err != nil {
			t.Fatal(err)
		}
	}
	var creates, describes int
	for _, c := range api.recorded() {
		switch c.(type) {
		case *ecr.CreateRepositoryInput:
			creates++
		case *ecr.DescribeRepositoriesInput:
			describes++
		}
	}
	if creates != 1 || describes != 1 {
		t.Errorf("%d creates and %d describes for two copies into one repository, want 1 and 1", creates, describes)
	}
	if _, ok := api.repos["mirror/library/app"]; !ok {
		t.Errorf("repository mirror/library/app not created; have %v", api.repos)
	}
}

func TestTargetRepository(t *testing.T) {
	tests := []struct {
		prefix, src string
		want        string
		wantErr     string
	}{
		{prefix: "mirror", src: "nginx", want: "mirror/library/nginx"},
		{prefix: "mirror", src: "nginx:1.27", want: "mirror/library/nginx"},
		{prefix: "mirror/", src: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64), want: "mirror/library/nginx"},
		{prefix: "mirror", src: "index.docker.io/bitnami/redis:7.2", want: "mirror/bitnami/redis"},
		{prefix: "mirror", src: "registry-1.docker.io/bitnami/redis", want: "mirror/bitnami/redis"},
		{prefix: "mirror", src: "quay.io/prometheus/node-exporter:v1.8.0", want: "mirror/quay.io/prometheus/node-exporter"},
		{prefix: "team/mirror", src: "ghcr.io/org/app", want: "team/mirror/ghcr.io/org/app"},
		{prefix: "mirror", src: "localhost:5000/app", want: "mirror/localhost-5000/app"},
		{prefix: "", src: "nginx", want: "library/nginx"},
		{prefix: "Mirror", src: "nginx", wantErr: `prefix "Mirror"`},
		{prefix: "mirror", src: "Not A Reference", wantErr: `target repository for "Not A Reference"`},
	}
	for _, tc := range tests {
		t.Run(tc.prefix+"+"+tc.src, func(t *testing.T) {
			got, err := mirror.TargetRepository(tc.prefix, tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("TargetRepository() = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("TargetRepository(%q, %q) = %q, want %q", tc.prefix, tc.src, got, tc.want)
			}
		})
	}
}
