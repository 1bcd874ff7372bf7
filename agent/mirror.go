package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pullheal/pullheal/internal/customize"
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
// creating the ECR repository with the policy's settings.
type imageMirror struct {
	engine *mirror.Mirror
	repos  mirror.RepositoryAPI
	// What a customised copy, which the engine does not build, needs.
	source    authn.Keychain
	dest      authn.Keychain
	transport http.RoundTripper
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
	return &imageMirror{engine: m, repos: repos, source: source, dest: reg.Keychain(), transport: reg.cfg.Transport}, nil
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
	settings := mirror.SettingsFromPolicy(d.Repository)
	if len(d.Customize) > 0 {
		return im.customized(ctx, step, target, settings)
	}
	opts := []mirror.Option{mirror.WithRepositoryCreation(im.repos, settings)}
	if len(d.Platforms) > 0 {
		opts = append(opts, mirror.WithPlatforms(d.Platforms...))
	}
	res, err := im.engine.Copy(ctx, step.Ref.String(), step.Target, opts...)
	if err != nil {
		return "", err
	}
	return target + "@" + res.TargetDigest, nil
}

// customized builds the policy's customisation of the image in ECR. A
// customised image has a digest of its own, so it is pushed under a tag:
// the source's, or for a digest-only source one named after that digest.
func (im *imageMirror) customized(ctx context.Context, step plan.Step, target string, settings mirror.RepositorySettings) (string, error) {
	lines, err := customize.Parse(step.Decision.Customize)
	if err != nil {
		return "", fmt.Errorf("customize %s: %w", step.Image, err)
	}
	if step.Ref.Tag == "" {
		target += ":" + strings.Replace(step.Ref.Digest, ":", "-", 1)
	}
	opts := []imagesync.Option{
		imagesync.WithSourceKeychain(im.source),
		imagesync.WithDestinationKeychain(im.dest),
		imagesync.WithTransport(im.transport),
		imagesync.WithRepositoryCreation(im.repos, settings),
	}
	if len(step.Decision.Platforms) > 0 {
		opts = append(opts, imagesync.WithPlatforms(step.Decision.Platforms...))
	}
	res, err := imagesync.CopyCustomized(ctx, step.Ref.String(), target, lines, opts...)
	if err != nil {
		return "", err
	}
	return target + "@" + res.TargetDigest, nil
}
