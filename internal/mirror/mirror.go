// Package mirror copies container images from public registries (Docker Hub
// and others) into Amazon ECR or any OCI registry: every platform of an index by default, so
// that digests stay what they were upstream, or a chosen subset. It verifies
// every blob while it streams, skips what the destination already holds,
// mounts layers from sibling repositories, spends a source's pull budget
// only on manifest GETs it cannot avoid, and pushes manifests last, so that
// a tag never names an incomplete image. A Transform (WithTransform; package
// customize has one) rebuilds images on the way through the same pipeline.
//
// It also carries what a mirror needs around the copy: keychains for Docker
// Hub (Secrets Manager) and ECR (GetAuthorizationToken), creation of ECR
// repositories with given settings, and the naming scheme from upstream
// image to ECR repository (TargetRepository).
//
// The package is silent unless given a *slog.Logger (WithLogger).
package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Mirror copies images. It is safe for concurrent use; what it learns (which
// repositories hold which blobs, the sources' pull budgets, which
// repositories exist) is kept for the copies that follow.
type Mirror struct {
	opts    options
	budgets *budgets
	mounts  *mountIndex
	// filtered remembers the index a platform-filtered copy produced, keyed
	// by destination repository, source digest and platforms, so that a
	// repeated filtered copy needs no upstream manifest GET.
	filtered sync.Map // string -> v1.Hash
	// ensured holds destination repositories already created or checked.
	ensured sync.Map // string -> struct{}
	// chunkedUploads holds registries that refused a monolithic upload;
	// blobs go to them as PATCH then PUT.
	chunkedUploads sync.Map // registry host -> bool
	// noMounts holds registries that refused a mount known to be possible.
	noMounts sync.Map // registry host -> bool
	cache    *BlobCache
	flights  flights
}

func (m *Mirror) uploadsChunked(registry string) bool {
	_, ok := m.chunkedUploads.Load(registry)
	return ok
}

// Result describes one copy.
type Result struct {
	Source string // the source reference as given, normalised
	Target string // the destination repository @ TargetDigest
	// SourceDigest is the digest of the source manifest; TargetDigest that of
	// the pushed one. They differ only when a platform filter dropped
	// entries of an index.
	SourceDigest string
	TargetDigest string
	// Platforms lists the platforms copied (os/arch[/variant]); empty for a
	// single-platform image. BuildKit attestation entries (unknown/unknown)
	// are not platforms and are not listed.
	Platforms []string
	// AlreadyMirrored is true when the destination already held the image
	// and nothing but possibly the tag was written.
	AlreadyMirrored bool
	BytesCopied     int64 // blob bytes uploaded
	BlobsCopied     int   // blobs uploaded
	BlobsSkipped    int   // blobs the destination repository already had
	BlobsMounted    int   // blobs mounted from another repository of the destination registry
	// MountsRefused counts mounts the destination did not do (a stale
	// cache entry or hint, or a registry that does not mount); those blobs
	// were uploaded instead.
	MountsRefused   int
	ManifestsPushed int
	// ManifestGETs counts manifest GET requests sent to the source, the
	// requests a registry such as Docker Hub counts as pulls.
	ManifestGETs int
	// Referrers counts the signatures, attestations and other artifacts
	// attached to the image (OCI referrers, cosign's sha256-DIGEST.sig and
	// .att tags) that were copied with it or found in place.
	Referrers int
	Duration  time.Duration
}

// Progress reports the state of a copy, per platform and overall. A blob
// shared by several platforms counts for each of them, and once overall.
// Skipped and mounted blobs count as done when they are found. Once every
// blob is in place, each platform is reported once more, so that its last
// report carries the overall total too.
type Progress struct {
	Platform      string // os/arch[/variant]; "" for a single-platform image
	BytesDone     int64
	BytesTotal    int64
	BlobsDone     int
	BlobsTotal    int
	AllBytesDone  int64
	AllBytesTotal int64
}

// New returns a Mirror with the given options.
func New(opts ...Option) (*Mirror, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("mirror options: %w", err)
		}
	}
	b := newBudgets()
	b.gauge = o.gauge
	return &Mirror{opts: o, budgets: b, mounts: newMountIndex(), cache: o.cache}, nil
}

// Copy copies src to dst with a new Mirror; see Mirror.Copy.
func Copy(ctx context.Context, src, dst string, opts ...Option) (Result, error) {
	m, err := New(opts...)
	if err != nil {
		return Result{}, err
	}
	return m.Copy(ctx, src, dst)
}

// Copy copies the image or index src (a tag or digest reference) to dst.
// When dst names no tag or digest it takes src's. opts apply to this copy on
// top of the Mirror's own (WithRateLimitGauge only takes effect in New).
//
// What is already in place is not copied again: when dst already holds the
// source digest, Copy makes no upstream manifest GET and moves no blob
// (it only points the tag at it if needed).
func (m *Mirror) Copy(ctx context.Context, src, dst string, opts ...Option) (Result, error) {
	o := m.opts.clone()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Result{}, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	srcRef, err := name.ParseReference(src, o.nameOptions()...)
	if err != nil {
		return Result{}, fmt.Errorf("source %q: %w", src, err)
	}
	dstRef, err := parseDestination(dst, srcRef, o.transform != nil, o.nameOptions()...)
	if err != nil {
		return Result{}, err
	}
	res, err := m.copy(ctx, &o, srcRef, dstRef)
	log := o.log.With(slog.String("image", srcRef.Name()), slog.String("target", dstRef.Name()))
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "mirror failed", slog.String("error", err.Error()))
		return res, fmt.Errorf("copy %s to %s: %w", srcRef.Name(), dstRef.Name(), err)
	}
	log.LogAttrs(ctx, slog.LevelInfo, "mirrored",
		slog.String("digest", res.TargetDigest), slog.Bool("already_mirrored", res.AlreadyMirrored),
		slog.Int64("bytes", res.BytesCopied), slog.Int("blobs_copied", res.BlobsCopied),
		slog.Int("blobs_skipped", res.BlobsSkipped), slog.Int("blobs_mounted", res.BlobsMounted), slog.Int("mounts_refused", res.MountsRefused),
		slog.Int("referrers", res.Referrers), slog.Int("manifest_gets", res.ManifestGETs), slog.Duration("duration", res.Duration))
	return res, nil
}

func (m *Mirror) copy(ctx context.Context, o *options, srcRef, dstRef name.Reference) (Result, error) {
	start := o.now()
	c := newCopier(m, o, srcRef, dstRef)
	res, err := c.run(ctx)
	res.Source = srcRef.Name()
	res.ManifestGETs = int(c.manifestGETs.Load())
	// Referrers travel with a copy that keeps the digest. An image already
	// in place is not looked at again, so that a repeat costs one HEAD
	// upstream: signatures added upstream after it was mirrored come with
	// the next digest.
	if err == nil && c.wantsReferrers() && !res.AlreadyMirrored && res.SourceDigest != "" && res.SourceDigest == res.TargetDigest {
		err = c.copyReferrers(ctx, &res)
	}
	res.Duration = o.now().Sub(start)
	return res, err
}

// wantsReferrers: referrers are copied with the image unless turned off or
// the image is customised (a new digest has nothing attached).
func (c *copier) wantsReferrers() bool { return c.o.referrers && c.o.transform == nil }

// parseDestination parses dst; without a tag or digest of its own it takes
// src's identifier. A transformed copy has a digest of its own, so its
// destination must be a tag.
func parseDestination(dst string, src name.Reference, transformed bool, opts ...name.Option) (name.Reference, error) {
	last := dst[strings.LastIndex(dst, "/")+1:]
	if strings.ContainsAny(last, ":@") {
		if transformed && strings.Contains(last, "@") {
			return nil, fmt.Errorf("destination %q names a digest; a customised image gets a digest of its own: name a tag", dst)
		}
		ref, err := name.ParseReference(dst, opts...)
		if err != nil {
			return nil, fmt.Errorf("destination %q: %w", dst, err)
		}
		return ref, nil
	}
	repo, err := name.NewRepository(dst, opts...)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", dst, err)
	}
	if d, ok := src.(name.Digest); ok {
		if transformed {
			return nil, fmt.Errorf("destination %q has no tag and the source %s has none to take", dst, src)
		}
		return repo.Digest(d.DigestStr()), nil
	}
	return repo.Tag(src.Identifier()), nil
}

// mountIndex remembers, per destination registry, which repositories hold a
// blob, from what this Mirror pushed, mounted or found there.
type mountIndex struct {
	mu sync.Mutex
	m  map[string]map[v1.Hash][]string
}

// mountIndexWidth bounds the repositories remembered per blob; one that
// works is enough, a few guard against deleted repositories.
const mountIndexWidth = 4

func newMountIndex() *mountIndex { return &mountIndex{m: map[string]map[v1.Hash][]string{}} }

func (x *mountIndex) add(registry string, h v1.Hash, repo string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	byDigest := x.m[registry]
	if byDigest == nil {
		byDigest = map[v1.Hash][]string{}
		x.m[registry] = byDigest
	}
	byDigest[h] = addRepo(byDigest[h], repo)
}

func (x *mountIndex) lookup(registry string, h v1.Hash) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.m[registry][h]...)
}
