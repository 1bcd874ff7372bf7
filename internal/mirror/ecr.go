package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
)

// RepositoryAPI is the part of the ECR API the mirror uses to create and
// align repositories; *ecr.Client satisfies it.
type RepositoryAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, optFns ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	PutLifecyclePolicy(ctx context.Context, in *ecr.PutLifecyclePolicyInput, optFns ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error)
	PutImageTagMutability(ctx context.Context, in *ecr.PutImageTagMutabilityInput, optFns ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error)
	PutImageScanningConfiguration(ctx context.Context, in *ecr.PutImageScanningConfigurationInput, optFns ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error)
}

// RepositorySettings are what a mirrored repository is created with.
type RepositorySettings struct {
	// RegistryID is the account whose registry holds the repository; empty
	// means the caller's own.
	RegistryID string
	ScanOnPush bool
	// TagMutability is MUTABLE or IMMUTABLE; empty means MUTABLE, ECR's
	// default. With IMMUTABLE a tag, once mirrored, keeps its digest; a
	// re-mirror of a moved upstream tag then fails instead of overwriting.
	TagMutability ecrtypes.ImageTagMutability
	// Encryption is fixed at creation; nil means AES256, ECR's default.
	// Cross-repository mounts only work between repositories with the same
	// encryption type and key.
	Encryption *ecrtypes.EncryptionConfiguration
	// Tags are set at creation only.
	Tags map[string]string
	// LifecyclePolicy is the policy text (JSON); empty sets none.
	LifecyclePolicy string
	// Reconcile brings an existing repository in line with TagMutability,
	// ScanOnPush and LifecyclePolicy. Encryption and tags of an existing
	// repository are left as they are (the first cannot change; the second
	// belong to whoever created it).
	Reconcile bool
}

// Validate checks the settings before any call is made.
func (s RepositorySettings) Validate() error {
	if s.RegistryID != "" && !accountIDPattern.MatchString(s.RegistryID) {
		return fmt.Errorf("repository settings: registry id %q is not a 12-digit account id", s.RegistryID)
	}
	switch s.TagMutability {
	case "", ecrtypes.ImageTagMutabilityMutable, ecrtypes.ImageTagMutabilityImmutable:
	default:
		return fmt.Errorf("repository settings: tag mutability %q is not MUTABLE or IMMUTABLE", s.TagMutability)
	}
	if e := s.Encryption; e != nil {
		switch e.EncryptionType {
		case ecrtypes.EncryptionTypeAes256:
			if aws.ToString(e.KmsKey) != "" {
				return errors.New("repository settings: a KMS key needs encryption type KMS or KMS_DSSE, not AES256")
			}
		case ecrtypes.EncryptionTypeKms, ecrtypes.EncryptionTypeKmsDsse:
		default:
			return fmt.Errorf("repository settings: encryption type %q is not AES256, KMS or KMS_DSSE", e.EncryptionType)
		}
	}
	for k, v := range s.Tags {
		switch {
		case k == "" || len(k) > 128:
			return fmt.Errorf("repository settings: tag key %q must be 1 to 128 characters", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return fmt.Errorf("repository settings: tag key %q uses the reserved aws: prefix", k)
		case len(v) > 256:
			return fmt.Errorf("repository settings: tag %q value is longer than 256 characters", k)
		}
	}
	if p := strings.TrimSpace(s.LifecyclePolicy); p != "" {
		var doc struct {
			Rules []json.RawMessage `json:"rules"`
		}
		if err := json.Unmarshal([]byte(p), &doc); err != nil {
			return fmt.Errorf("repository settings: lifecycle policy is not JSON: %w", err)
		}
		if len(doc.Rules) == 0 {
			return errors.New("repository settings: lifecycle policy has no rules")
		}
	}
	return nil
}

// EnsureResult says what EnsureRepository did.
type EnsureResult struct {
	Created bool
	// Updated names the settings changed on an existing repository
	// ("tag mutability", "scan on push", "lifecycle policy").
	Updated []string
}

// EnsureRepository creates repository (a name like "mirror/library/nginx")
// with s if it does not exist, and with s.Reconcile aligns an existing one.
// A repository created concurrently by someone else counts as existing.
func EnsureRepository(ctx context.Context, api RepositoryAPI, repository string, s RepositorySettings, log *slog.Logger) (EnsureResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !repositoryPattern.MatchString(repository) || len(repository) < 2 || len(repository) > 256 {
		return EnsureResult{}, fmt.Errorf("ensure repository: %q is not a valid ECR repository name", repository)
	}
	if err := s.Validate(); err != nil {
		return EnsureResult{}, err
	}
	registryID := optional(s.RegistryID)
	out, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
		RegistryId: registryID, RepositoryNames: []string{repository},
	})
	var notFound *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &notFound):
		created, err := createRepository(ctx, api, repository, s)
		if err != nil {
			return EnsureResult{}, err
		}
		if created {
			log.LogAttrs(ctx, slog.LevelInfo, "created repository", slog.String("target", repository))
			return EnsureResult{Created: true}, nil
		}
		if !s.Reconcile {
			return EnsureResult{}, nil
		}
		out, err = api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
			RegistryId: registryID, RepositoryNames: []string{repository},
		})
		if err != nil {
			return EnsureResult{}, fmt.Errorf("describe repository %s: %w", repository, err)
		}
	case err != nil:
		return EnsureResult{}, fmt.Errorf("describe repository %s: %w", repository, err)
	}
	if !s.Reconcile {
		return EnsureResult{}, nil
	}
	if len(out.Repositories) != 1 {
		return EnsureResult{}, fmt.Errorf("describe repository %s: got %d repositories", repository, len(out.Repositories))
	}
	return reconcileRepository(ctx, api, out.Repositories[0], repository, s, log)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// createRepository returns false when the repository appeared meanwhile.
func createRepository(ctx context.Context, api RepositoryAPI, repository string, s RepositorySettings) (bool, error) {
	in := &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(repository),
		RegistryId:                 optional(s.RegistryID),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: s.ScanOnPush},
		ImageTagMutability:         s.mutability(),
		EncryptionConfiguration:    s.Encryption,
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	_, err := api.CreateRepository(ctx, in)
	var exists *ecrtypes.RepositoryAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create repository %s: %w", repository, err)
	}
	if strings.TrimSpace(s.LifecyclePolicy) != "" {
		if err := putLifecycle(ctx, api, repository, s); err != nil {
			return true, err
		}
	}
	return true, nil
}

func (s RepositorySettings) mutability() ecrtypes.ImageTagMutability {
	if s.TagMutability == "" {
		return ecrtypes.ImageTagMutabilityMutable
	}
	return s.TagMutability
}

func putLifecycle(ctx context.Context, api RepositoryAPI, repository string, s RepositorySettings) error {
	_, err := api.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{
		RepositoryName: aws.String(repository), RegistryId: optional(s.RegistryID),
		LifecyclePolicyText: aws.String(strings.TrimSpace(s.LifecyclePolicy)),
	})
	if err != nil {
		return fmt.Errorf("put lifecycle policy on %s: %w", repository, err)
	}
	return nil
}

func reconcileRepository(ctx context.Context, api RepositoryAPI, have ecrtypes.Repository, repository string, s RepositorySettings, log *slog.Logger) (EnsureResult, error) {
	var res EnsureResult
	if have.ImageTagMutability != s.mutability() {
		if _, err := api.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{
			RepositoryName: aws.String(repository), RegistryId: optional(s.RegistryID),
			ImageTagMutability: s.mutability(),
		}); err != nil {
			return res, fmt.Errorf("put tag mutability on %s: %w", repository, err)
		}
		res.Updated = append(res.Updated, "tag mutability")
	}
	scan := have.ImageScanningConfiguration != nil && have.ImageScanningConfiguration.ScanOnPush
	if scan != s.ScanOnPush {
		if _, err := api.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{
			RepositoryName: aws.String(repository), RegistryId: optional(s.RegistryID),
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: s.ScanOnPush},
		}); err != nil {
			return res, fmt.Errorf("put scanning configuration on %s: %w", repository, err)
		}
		res.Updated = append(res.Updated, "scan on push")
	}
	if strings.TrimSpace(s.LifecyclePolicy) != "" {
		// Without GetLifecyclePolicy there is nothing to compare with;
		// putting the same text again is harmless.
		if err := putLifecycle(ctx, api, repository, s); err != nil {
			return res, err
		}
		res.Updated = append(res.Updated, "lifecycle policy")
	}
	if want := s.Encryption; want != nil && have.EncryptionConfiguration != nil &&
		(want.EncryptionType != have.EncryptionConfiguration.EncryptionType ||
			aws.ToString(want.KmsKey) != "" && aws.ToString(want.KmsKey) != aws.ToString(have.EncryptionConfiguration.KmsKey)) {
		log.LogAttrs(ctx, slog.LevelWarn, "repository encryption differs from the settings and cannot be changed",
			slog.String("target", repository), slog.String("have", string(have.EncryptionConfiguration.EncryptionType)),
			slog.String("want", string(want.EncryptionType)))
	}
	if len(res.Updated) > 0 {
		log.LogAttrs(ctx, slog.LevelInfo, "aligned repository", slog.String("target", repository),
			slog.String("updated", strings.Join(res.Updated, ", ")))
	}
	return res, nil
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// repositoryPattern is ECR's (and the distribution spec's) repository name
// grammar.
var repositoryPattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// TargetRepository names the ECR repository that mirrors src (an image
// reference, with or without tag or digest) under prefix:
//
//	docker.io/library/nginx:1.27      -> PREFIX/library/nginx   (official images keep library/)
//	bitnami/redis:7.2                 -> PREFIX/bitnami/redis
//	quay.io/prometheus/node-exporter  -> PREFIX/quay.io/prometheus/node-exporter
//	localhost:5000/team/app           -> PREFIX/localhost-5000/team/app
//
// Docker Hub images keep their path as ECR's pull-through cache lays it out;
// images of other registries are placed under their host, so that
// quay.io/x/y and docker.io/x/y cannot land in the same repository.
func TargetRepository(prefix, src string) (string, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" && !repositoryPattern.MatchString(prefix) {
		return "", fmt.Errorf("repository prefix %q is not a valid ECR repository path", prefix)
	}
	repo, err := parseRepository(src)
	if err != nil {
		return "", fmt.Errorf("target repository for %q: %w", src, err)
	}
	path := repo.RepositoryStr()
	switch host := repo.RegistryStr(); {
	case isDockerHub(host):
		if !strings.Contains(path, "/") {
			path = "library/" + path
		}
	default:
		path = strings.ToLower(strings.ReplaceAll(host, ":", "-")) + "/" + path
	}
	if prefix != "" {
		path = prefix + "/" + path
	}
	if !repositoryPattern.MatchString(path) || len(path) > 256 {
		return "", fmt.Errorf("target repository for %q: %q is not a valid ECR repository name", src, path)
	}
	return path, nil
}

func parseRepository(s string) (name.Repository, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return name.Repository{}, err
	}
	return ref.Context(), nil
}
