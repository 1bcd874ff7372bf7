package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pullheal/pullheal/internal/imagesync"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/plan"
)

// mirrorer copies an image the policy allowlists for mirroring into ECR and
// returns the reference the corrected revision uses (pinned to the copied
// digest).
type mirrorer interface {
	Mirror(ctx context.Context, step plan.Step) (string, error)
}

// imageMirror is the mirror route: it copies with the mirror engine,
// customised when the policy says so, creating the ECR repository with the
// policy's settings.
type imageMirror struct {
	engine *mirror.Mirror
	repos  mirror.RepositoryAPI
}

// newImageMirror returns a mirrorer. source resolves upstream credentials
// (Docker Hub from Secrets Manager, or anonymous); the registry's keychain
// authenticates to ECR.
func newImageMirror(reg *ECRAccount, repos mirror.RepositoryAPI, source authn.Keychain, opts ...mirror.Option) (*imageMirror, error) {
	all := append([]mirror.Option{
		mirror.WithSourceKeychain(source),
		mirror.WithDestinationKeychain(reg.Keychain()),
		mirror.WithTransport(reg.cfg.Transport),
	}, opts...)
	m, err := mirror.New(all...)
	if err != nil {
		return nil, fmt.Errorf("mirror engine: %w", err)
	}
	return &imageMirror{engine: m, repos: repos}, nil
}

// Mirror copies step's image to its target, customised when the policy
// says so, and returns the target pinned to the digest that landed in ECR:
// the tag in ECR can be moved by a later mirror, the digest cannot.
func (im *imageMirror) Mirror(ctx context.Context, step plan.Step) (string, error) {
	d := step.Decision
	target := step.Target
	if i := strings.Index(target, "@"); i >= 0 {
		target = target[:i]
	}
	opts, err := imagesync.CopyOptions(d)
	if err != nil {
		return "", fmt.Errorf("mirror %s: %w", step.Image, err)
	}
	opts = append(opts, mirror.WithRepositoryCreation(im.repos, imagesync.SettingsFromPolicy(d.Repository)))
	dst := step.Target
	if len(d.Customize) > 0 {
		// A customised image has a digest of its own, so it is pushed under
		// a tag: the source's, or for a digest-only source one named after
		// that digest.
		dst = target
		if step.Ref.Tag == "" {
			dst += ":" + strings.Replace(step.Ref.Digest, ":", "-", 1)
		}
	}
	res, err := im.engine.Copy(ctx, step.Ref.String(), dst, opts...)
	if err != nil {
		return "", err
	}
	return target + "@" + res.TargetDigest, nil
}
