package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// Mirrorer copies an image the policy allowlists for mirroring into ECR and
// returns the reference the corrected revision uses (pinned to the copied
// digest).
type Mirrorer interface {
	Mirror(ctx context.Context, step plan.Step) (string, error)
}

// ErrCustomizeUnsupported: the policy asks for a customised image, which
// the agent's mirror route does not build; nothing is mirrored.
var ErrCustomizeUnsupported = errors.New("the policy customises this image (customize lines), which the agent's mirror route does not apply; mirror it ahead of time instead")

// ImageMirror is the mirror route: it copies with the mirror engine,
// creating the ECR repository with the policy's settings.
type ImageMirror struct {
	engine *mirror.Mirror
	repos  mirror.RepositoryAPI
}

// NewImageMirror returns a Mirrorer. source resolves upstream credentials
// (Docker Hub from Secrets Manager, or anonymous); the registry's keychain
// authenticates to ECR.
func NewImageMirror(reg *Registry, repos mirror.RepositoryAPI, source authn.Keychain, opts ...mirror.Option) (*ImageMirror, error) {
	all := append([]mirror.Option{
		mirror.WithSourceKeychain(source),
		mirror.WithDestinationKeychain(reg.Keychain()),
		mirror.WithTransport(reg.cfg.Transport),
	}, opts...)
	m, err := mirror.New(all...)
	if err != nil {
		return nil, fmt.Errorf("mirror engine: %w", err)
	}
	return &ImageMirror{engine: m, repos: repos}, nil
}

// Mirror copies step's image to its target and returns the target pinned
// to the digest that landed in ECR.
func (im *ImageMirror) Mirror(ctx context.Context, step plan.Step) (string, error) {
	d := step.Decision
	if len(d.Customize) > 0 {
		return "", ErrCustomizeUnsupported
	}
	opts := []mirror.Option{mirror.WithRepositoryCreation(im.repos, RepositorySettings(d.Repository))}
	if len(d.Platforms) > 0 {
		opts = append(opts, mirror.WithPlatforms(d.Platforms...))
	}
	res, err := im.engine.Copy(ctx, step.Ref.String(), step.Target, opts...)
	if err != nil {
		return "", err
	}
	// A mirrored reference is always pinned: the tag in ECR can be moved by
	// a later mirror, the digest cannot.
	target := step.Target
	if i := strings.Index(target, "@"); i >= 0 {
		target = target[:i]
	}
	return target + "@" + res.TargetDigest, nil
}

// RepositorySettings converts the policy's repository settings to the mirror
// engine's.
func RepositorySettings(s policy.RepositorySettings) mirror.RepositorySettings {
	out := mirror.RepositorySettings{ScanOnPush: s.ScanOnPush, TagMutability: ecrtypes.ImageTagMutability(s.TagMutability),
		Tags: s.Tags, LifecyclePolicy: s.LifecyclePolicy}
	if s.Encryption.Type != "" {
		out.Encryption = &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionType(s.Encryption.Type)}
		if s.Encryption.KMSKey != "" {
			out.Encryption.KmsKey = &s.Encryption.KMSKey
		}
	}
	return out
}
