// Package imagesync mirrors the images a policy allowlists into ECR ahead of
// time, so that no workload depends on Docker Hub when it starts: `pullheal
// sync`, run by hand or on a schedule. Every image goes through the mirror
// engine: plain images byte for byte (digests kept), images whose rule has
// customize lines rebuilt on the way (a customize.Transform).
//
// What is synced: every images rule with action mirror, for each of its
// match names that is concrete (no glob: sync cannot list a registry's
// repositories), and the tags its selector names. tags.exact lists them;
// tags.glob and tags.semver are matched against the upstream's tag list (a
// tags/list request, which Docker Hub does not count as a pull), keeping
// the MaxTags newest by semantic-version order. A rule that selects every
// tag (no tags section) is skipped: sync would have to guess which tags
// matter, and each costs pulls.
//
// Nothing the policy does not allow is mirrored: each reference is decided
// again by policy.Decide through plan.For, so deny rules, typosquat
// protection, rule order (the first matching rule decides, and it must say
// mirror) and scopes all apply; what they refuse is reported as skipped with
// the policy's reason.
//
// Sync is idempotent and cheap to repeat: an image already in ECR costs a
// HEAD on the source and no pull.
package imagesync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/customize"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// DefaultJobs is how many images Sync copies at once when Config.Jobs is 0.
const DefaultJobs = 4

// DefaultMaxTags is how many tags a glob or semver selector syncs at most
// per image name when Config.MaxTags is 0.
const DefaultMaxTags = 20

// ErrInvalidConfig is wrapped by the errors of Config.Validate and of a
// policy that cannot be synced as configured (no registry, overlapping
// prefixes): the caller's input, not the registries, is at fault.
var ErrInvalidConfig = errors.New("invalid sync configuration")

// Config is what Sync needs besides the policy.
type Config struct {
	// Registry is the ECR registry host to sync into. Required: resolve the
	// policy's "discover" before calling (mirror.ECRKeychain.Endpoint).
	Registry string
	// Subject is the workload decisions are made for. Policies and rules
	// with a scope are written for workloads; sync has none, so a scoped
	// rule applies only when Subject passes its scope.
	Subject policy.Subject
	// SourceKeychain finds upstream credentials (authn.DefaultKeychain when
	// nil); DestinationKeychain ECR's (a *mirror.ECRKeychain).
	SourceKeychain      authn.Keychain
	DestinationKeychain authn.Keychain
	// Transport carries registry requests (nil: the mirror engine's and
	// remote's defaults); Endpoints reaches mapped hosts at other URLs.
	Transport http.RoundTripper
	Endpoints hostmap.Map
	// Insecure allows plain HTTP to registries (mirror.WithInsecure).
	Insecure bool
	// BlobCache remembers blob locations across runs (nil: none); the
	// caller saves it.
	BlobCache *mirror.BlobCache
	// Repositories creates missing ECR repositories with each rule's
	// settings; nil expects them to exist.
	Repositories mirror.RepositoryAPI
	// Reserve keeps that many of the upstream's advertised pulls unspent.
	Reserve int
	// MaxTags bounds the tags one glob or semver selector syncs per name;
	// 0 means DefaultMaxTags.
	MaxTags int
	// DryRun decides and lists tags, and copies nothing.
	DryRun bool
	// NoReferrers leaves signatures and attestations behind
	// (mirror.WithReferrers).
	NoReferrers bool
	// Jobs bounds the images copied at once; 0 means DefaultJobs. The
	// copies share one engine, so a blob one of them is moving is mounted,
	// not uploaded again, by the others.
	Jobs int
	// OnImage, when set, is called with each image's outcome as it is
	// known (serialised, in completion order); Progress with the progress
	// of each copy.
	OnImage  func(Image)
	Progress func(source string, p mirror.Progress)
	// Logger receives a line per image; nil is silent.
	Logger *slog.Logger
}

// Validate checks the Config before any request is made.
func (c Config) Validate() error {
	var errs []error
	if c.Registry == "" {
		errs = append(errs, errors.New("registry: none given (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"))
	} else if err := policy.CheckRegistry(imageref.CanonicalHost(c.Registry)); err != nil {
		errs = append(errs, fmt.Errorf("registry: %w", err))
	}
	if c.Reserve < 0 {
		errs = append(errs, fmt.Errorf("reserve must not be negative, got %d", c.Reserve))
	}
	if c.Jobs < 0 {
		errs = append(errs, fmt.Errorf("jobs must not be negative, got %d", c.Jobs))
	}
	if c.MaxTags < 0 {
		errs = append(errs, fmt.Errorf("max tags must not be negative, got %d", c.MaxTags))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Action is what happened to one image.
type Action string

// Actions.
const (
	Copied          Action = "copied"           // mirrored byte for byte
	Customized      Action = "customized"       // rebuilt with the rule's customize lines and pushed
	AlreadyMirrored Action = "already-mirrored" // ECR already held it (customised: with the same source and lines)
	Planned         Action = "planned"          // dry run: would be synced
	Skipped         Action = "skipped"          // the policy does not let sync mirror it; Reason says why
	Failed          Action = "failed"           // Error says why
)

// Image is the outcome for one image reference (or, for a rule's name that
// could not be expanded into tags, for that name).
type Image struct {
	Source string `json:"source"`           // docker.io/library/nginx:1.27
	Target string `json:"target,omitempty"` // REGISTRY/mirror/library/nginx:1.27
	// Digest is the digest in ECR; SourceDigest upstream's. They are equal
	// for plain copies of every platform.
	Digest       string   `json:"digest,omitempty"`
	SourceDigest string   `json:"sourceDigest,omitempty"`
	Action       Action   `json:"action"`
	Rule         string   `json:"rule,omitempty"` // the policy rule that decided
	Reason       string   `json:"reason,omitempty"`
	Error        string   `json:"error,omitempty"`
	Customize    []string `json:"customize,omitempty"`
	Platforms    []string `json:"platforms,omitempty"`
	BytesCopied  int64    `json:"bytesCopied"`
	ManifestGETs int      `json:"manifestGets"`
	// BlobsMounted and MountsRefused count cross-repository mounts.
	BlobsMounted  int `json:"blobsMounted"`
	MountsRefused int `json:"mountsRefused"`
	// Referrers counts signatures and attestations copied with it.
	Referrers int `json:"referrers"`
	// Err is the error behind Error, for errors.Is (mirror.ErrRateLimited,
	// mirror.ErrRateLimitReserve, ...).
	Err error `json:"-"`
}

// Summary counts the images by action.
type Summary struct {
	Copied          int `json:"copied"`
	Customized      int `json:"customized"`
	AlreadyMirrored int `json:"alreadyMirrored"`
	Planned         int `json:"planned"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
}

// Report is the outcome of one Sync, images in policy order.
type Report struct {
	Registry string  `json:"registry"`
	DryRun   bool    `json:"dryRun"`
	Images   []Image `json:"images"`
	Summary  Summary `json:"summary"`
	Mounts   Mounts  `json:"mounts"`
	// ManifestGETs is the run's manifest GETs upstream, what Docker Hub
	// counts as pulls.
	ManifestGETs int `json:"manifestGets"`
	// Referrers counts the signatures and attestations copied with the
	// images (or found in place).
	Referrers int `json:"referrers"`
}

// Mounts counts cross-repository mounts over the run: blobs mounted, and
// mounts the registry refused (those blobs were uploaded instead).
type Mounts struct {
	Mounted int `json:"mounted"`
	Refused int `json:"refused"`
}

func (r *Report) add(im Image) {
	r.Images = append(r.Images, im)
	r.Mounts.Mounted += im.BlobsMounted
	r.Mounts.Refused += im.MountsRefused
	r.ManifestGETs += im.ManifestGETs
	r.Referrers += im.Referrers
	s := &r.Summary
	switch im.Action {
	case Copied:
		s.Copied++
	case Customized:
		s.Customized++
	case AlreadyMirrored:
		s.AlreadyMirrored++
	case Planned:
		s.Planned++
	case Skipped:
		s.Skipped++
	case Failed:
		s.Failed++
	}
}

// Sync mirrors what pol allowlists (see the package doc) into cfg.Registry
// and reports on every image, in policy order. Images are copied
// cfg.Jobs at a time; one that fails does not stop the others. The error is for what
// stops the whole run: an invalid Config (ErrInvalidConfig) or the context
// ending, with the report so far.
func Sync(ctx context.Context, cfg Config, pol *policy.Policy) (Report, error) {
	if pol == nil {
		return Report{}, fmt.Errorf("%w: no policy", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	pc := plan.Config{Registry: cfg.Registry, Policy: pol}
	if err := pc.Validate(); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s, err := newSyncer(cfg, pc)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Registry: imageref.CanonicalHost(cfg.Registry), DryRun: cfg.DryRun, Images: []Image{}}
	// First every reference to sync, in policy order (listing tags costs no
	// pull); then the copies, jobs at a time, into slots in that order.
	type item struct {
		ref  imageref.Ref
		done *Image // decided without a copy (skipped, failed to expand)
	}
	var items []item
	seen := map[string]bool{}
	for i := range pol.Images {
		r := &pol.Images[i]
		if r.Action != policy.ActionMirror {
			continue
		}
		for _, pattern := range r.Match {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			refs, skip := s.expand(ctx, pol, i, r, pattern)
			if skip != nil {
				items = append(items, item{done: skip})
				continue
			}
			for _, ref := range refs {
				if !seen[ref.String()] {
					seen[ref.String()] = true
					items = append(items, item{ref: ref})
				}
			}
		}
	}
	results := make([]*Image, len(items))
	var mu sync.Mutex
	finish := func(i int, im Image) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = &im
		s.log(ctx, im)
		if cfg.OnImage != nil {
			cfg.OnImage(im)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.jobs())
	for i, it := range items {
		if it.done != nil {
			finish(i, *it.done)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			finish(i, s.syncOne(ctx, it.ref))
		}()
	}
	wg.Wait()
	for _, im := range results {
		if im != nil {
			rep.add(*im)
		}
	}
	return rep, ctx.Err()
}

func (s *syncer) jobs() int {
	if s.cfg.Jobs > 0 {
		return s.cfg.Jobs
	}
	return DefaultJobs
}

type syncer struct {
	cfg    Config
	plan   plan.Config
	engine *mirror.Mirror
	list   []remote.Option
	logger *slog.Logger
}

func newSyncer(cfg Config, pc plan.Config) (*syncer, error) {
	s := &syncer{cfg: cfg, plan: pc, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	src := cfg.SourceKeychain
	if src == nil {
		src = authn.DefaultKeychain
	}
	dst := cfg.DestinationKeychain
	if dst == nil {
		dst = authn.DefaultKeychain
	}
	base := cfg.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	s.list = []remote.Option{remote.WithAuthFromKeychain(src), remote.WithTransport(cfg.Endpoints.Transport(base))}
	if cfg.DryRun {
		return s, nil
	}
	opts := []mirror.Option{mirror.WithSourceKeychain(src), mirror.WithDestinationKeychain(dst), mirror.WithLogger(s.logger),
		mirror.WithRateLimitReserve(cfg.Reserve)}
	if cfg.Transport != nil {
		opts = append(opts, mirror.WithTransport(cfg.Transport))
	}
	for host, u := range cfg.Endpoints {
		opts = append(opts, mirror.WithEndpoint(host, u.String()))
	}
	if cfg.Insecure {
		opts = append(opts, mirror.WithInsecure())
	}
	if cfg.BlobCache != nil {
		opts = append(opts, mirror.WithBlobCache(cfg.BlobCache))
	}
	if cfg.NoReferrers {
		opts = append(opts, mirror.WithReferrers(false))
	}
	engine, err := mirror.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s.engine = engine
	return s, nil
}

func (s *syncer) log(ctx context.Context, im Image) {
	attrs := []slog.Attr{slog.String("image", im.Source), slog.String("action", string(im.Action))}
	if im.Target != "" {
		attrs = append(attrs, slog.String("target", im.Target), slog.String("route", string(plan.Mirror)))
	}
	level := slog.LevelInfo
	switch im.Action {
	case Skipped:
		attrs = append(attrs, slog.String("rule", im.Rule), slog.String("reason", im.Reason))
	case Failed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", im.Error))
	default:
		attrs = append(attrs, slog.String("digest", im.Digest))
	}
	s.logger.LogAttrs(ctx, level, "sync", attrs...)
}

// expand turns one match name of images[index] into the references to sync,
// or into the one report entry that says why it cannot be.
func (s *syncer) expand(ctx context.Context, pol *policy.Policy, index int, r *policy.ImageRule, pattern string) ([]imageref.Ref, *Image) {
	rule := fmt.Sprintf("images[%d] (%s)", index, pattern)
	skip := func(reason string) *Image {
		return &Image{Source: pattern, Action: Skipped, Rule: rule, Reason: reason}
	}
	if pattern == "**" || strings.ContainsAny(pattern, "*?[]\\") {
		return nil, skip("the match pattern is a glob; sync mirrors named images only (list them in match)")
	}
	nameRef, err := imageref.Parse(pattern)
	if err != nil {
		return nil, skip(err.Error())
	}
	sel := r.Tags
	if len(sel.Exact) == 0 && len(sel.Glob) == 0 && sel.Semver == "" {
		return nil, skip("the rule selects every tag; give tags.exact, tags.glob or tags.semver so that sync knows which to mirror")
	}
	var refs []imageref.Ref
	add := func(tag string) *Image {
		ref, err := imageref.Parse(nameRef.Name() + ":" + tag)
		if err != nil {
			return &Image{Source: nameRef.Name() + ":" + tag, Action: Failed, Rule: rule, Error: err.Error(), Err: err}
		}
		refs = append(refs, ref)
		return nil
	}
	for _, t := range sel.Exact {
		if bad := add(t); bad != nil {
			return nil, bad
		}
	}
	if len(sel.Glob) == 0 && sel.Semver == "" {
		return refs, nil
	}
	// A name the policy denies whatever the tag (a deny rule without tags,
	// a typosquat) is not even listed. A deny rule restricted to tags
	// denies only those: each listed tag is decided again in syncOne.
	if d, denied := pol.DeniesEveryTag(nameRef, s.cfg.Subject); denied {
		return nil, &Image{Source: nameRef.Name(), Action: Skipped, Rule: d.Rule, Reason: d.Reason}
	}
	tags, err := s.listTags(ctx, nameRef)
	if err != nil {
		return nil, &Image{Source: nameRef.Name(), Action: Failed, Rule: rule, Error: err.Error(), Err: err}
	}
	for _, t := range newest(selected(tags, sel), s.maxTags()) {
		if !slices.Contains(sel.Exact, t) {
			if bad := add(t); bad != nil {
				return nil, bad
			}
		}
	}
	return refs, nil
}

func (s *syncer) maxTags() int {
	if s.cfg.MaxTags > 0 {
		return s.cfg.MaxTags
	}
	return DefaultMaxTags
}

func (s *syncer) listTags(ctx context.Context, ref imageref.Ref) ([]string, error) {
	var opts []name.Option
	if s.cfg.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(ref.Name(), opts...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", ref.Name(), err)
	}
	tags, err := remote.List(repo, append(slices.Clip(s.list), remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", ref.Name(), err)
	}
	return tags, nil
}

// selected returns the listed tags sel selects by glob or semver range
// (exact tags are taken as they are, not listed).
func selected(tags []string, sel policy.TagSelector) []string {
	var out []string
	for _, t := range tags {
		if sel.Selects(t) && !slices.Contains(sel.Exact, t) {
			out = append(out, t)
		}
	}
	return out
}

// newest returns at most n of tags, newest first: those that read as
// semantic versions by version (1.27.3 before 1.27 before 1.26; a
// pre-release such as 3.12-slim after its release), the others after them
// in reverse lexical order. A tag that is a number (20240601) reads as a
// major version, here as in the policy's semver ranges.
func newest(tags []string, n int) []string {
	type tag struct {
		s string
		v *semver.Version
	}
	ts := make([]tag, 0, len(tags))
	for _, t := range tags {
		v, _ := semver.NewVersion(t)
		ts = append(ts, tag{t, v})
	}
	slices.SortFunc(ts, func(a, b tag) int {
		switch {
		case a.v != nil && b.v != nil:
			if c := b.v.Compare(a.v); c != 0 {
				return c
			}
		case a.v != nil:
			return -1
		case b.v != nil:
			return 1
		}
		return cmp.Compare(b.s, a.s)
	})
	out := make([]string, 0, min(n, len(ts)))
	for _, t := range ts[:min(n, len(ts))] {
		out = append(out, t.s)
	}
	return out
}

// syncOne decides ref again and copies it when the policy says mirror.
func (s *syncer) syncOne(ctx context.Context, ref imageref.Ref) Image {
	st := plan.For(s.plan, ref.String(), s.cfg.Subject)
	im := Image{Source: ref.String(), Rule: st.Rule}
	d := st.Decision
	switch {
	case st.Route == plan.Deny || st.Rule == "scope" || d.Action == policy.ActionMirror && st.Route != plan.Mirror:
		im.Action, im.Reason = Skipped, st.Reason
		return im
	case d.Action == policy.ActionPullThrough:
		im.Action = Skipped
		im.Reason = "the first rule that matches says pull-through; sync mirrors only what an action: mirror rule allowlists"
		return im
	case d.Action != policy.ActionMirror:
		im.Action = Skipped
		im.Reason = "no images rule applies to it; a rule with a scope applies only to the workloads the scope lets through"
		return im
	}
	im.Target, im.Customize, im.Platforms = st.Target, d.Customize, d.Platforms
	if s.cfg.DryRun {
		im.Action = Planned
		return im
	}
	fail := func(err error) Image {
		im.Action, im.Error, im.Err = Failed, err.Error(), err
		return im
	}
	opts, err := CopyOptions(d)
	if err != nil {
		return fail(err)
	}
	if s.cfg.Repositories != nil {
		opts = append(opts, mirror.WithRepositoryCreation(s.cfg.Repositories, SettingsFromPolicy(d.Repository)))
	}
	if fn := s.cfg.Progress; fn != nil {
		source := ref.String()
		opts = append(opts, mirror.WithProgress(func(p mirror.Progress) { fn(source, p) }))
	}
	res, err := s.engine.Copy(ctx, ref.String(), st.Target, opts...)
	im.SourceDigest, im.Digest, im.BytesCopied, im.ManifestGETs = res.SourceDigest, res.TargetDigest, res.BytesCopied, res.ManifestGETs
	im.BlobsMounted, im.MountsRefused, im.Referrers = res.BlobsMounted, res.MountsRefused, res.Referrers
	if err != nil {
		return fail(err)
	}
	switch {
	case res.AlreadyMirrored:
		im.Action = AlreadyMirrored
	case len(d.Customize) > 0:
		im.Action = Customized
	default:
		im.Action = Copied
	}
	return im
}

// CopyOptions are the mirror options a policy decision asks for: its
// platforms, and its customisation as a transform.
func CopyOptions(d policy.Decision) ([]mirror.Option, error) {
	var opts []mirror.Option
	if len(d.Platforms) > 0 {
		opts = append(opts, mirror.WithPlatforms(d.Platforms...))
	}
	if len(d.Customize) > 0 {
		lines, err := customize.Parse(d.Customize)
		if err != nil {
			return nil, err
		}
		t, err := customize.NewTransform(lines)
		if err != nil {
			return nil, err
		}
		opts = append(opts, mirror.WithTransform(t))
	}
	return opts, nil
}

// SettingsFromPolicy converts a policy's repository settings.
func SettingsFromPolicy(s policy.RepositorySettings) mirror.RepositorySettings {
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
