package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// cosignSuffixes are the tags cosign attaches to sha256-HEX: signatures
// and attestations.
var cosignSuffixes = []string{".sig", ".att"}

// discovered is what is attached to a source digest, as found at the
// source.
type discovered struct {
	listed    []v1.Descriptor // from the referrers API
	supported bool            // the source has the referrers API
	found     []bool          // per referrerTags entry: the tag exists
}

// referrerTags are the tags that may hold what is attached to subject: the
// OCI 1.1 fallback tag sha256-HEX, then cosign's.
func referrerTags(subject v1.Hash) []string {
	fallback := subject.Algorithm + "-" + subject.Hex
	return []string{fallback, fallback + cosignSuffixes[0], fallback + cosignSuffixes[1]}
}

// discover asks the source, in parallel, for the referrers API's list and
// the three tags: a request and three HEADs, none of them a pull.
func (c *copier) discover(ctx context.Context, subject v1.Hash) (discovered, error) {
	tags := referrerTags(subject)
	d := discovered{found: make([]bool, len(tags))}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		d.listed, d.supported, err = c.srcC.referrers(gctx, subject)
		if err != nil {
			return fmt.Errorf("list referrers of %s: %w", subject, err)
		}
		return nil
	})
	for i, tag := range tags {
		g.Go(func() error {
			var err error
			_, d.found[i], err = c.srcC.headManifest(gctx, tag)
			if err != nil {
				return fmt.Errorf("look up %s: %w", tag, err)
			}
			return nil
		})
	}
	return d, g.Wait()
}

// discoverAhead starts discover while the image itself is copied, so that
// its round trips overlap the blob transfers; copyReferrers waits for it.
func (c *copier) discoverAhead(ctx context.Context, subject v1.Hash) {
	done := make(chan struct{})
	var d discovered
	var err error
	go func() {
		defer close(done)
		d, err = c.discover(ctx, subject)
	}()
	c.discovery = func() (discovered, error) {
		<-done
		return d, err
	}
}

// copyReferrers copies what is attached to the source digest: the OCI
// referrers (from the referrers API, or the sha256-HEX fallback tag of a
// registry without it) and cosign's tags. Each goes through the engine as
// an image of its own (already present: nothing moves).
func (c *copier) copyReferrers(ctx context.Context, res *Result) error {
	subject, err := v1.NewHash(res.SourceDigest)
	if err != nil {
		return err
	}
	var disc discovered
	if c.discovery != nil {
		disc, err = c.discovery()
	} else {
		disc, err = c.discover(ctx, subject)
	}
	if err != nil {
		return err
	}
	tags := referrerTags(subject)
	fallback := tags[0]
	type pair struct{ src, dst name.Reference }
	var pairs []pair
	srcRepo, dstRepo := c.src.Context(), c.dst.Context()
	listed, supported, found := disc.listed, disc.supported, disc.found
	if supported {
		for _, d := range listed {
			pairs = append(pairs, pair{srcRepo.Digest(d.Digest.String()), dstRepo.Digest(d.Digest.String())})
		}
		found[0] = false // the API's list replaces the fallback tag
	}
	for i, tag := range tags {
		if found[i] {
			pairs = append(pairs, pair{srcRepo.Tag(tag), dstRepo.Tag(tag)})
		}
	}

	o := *c.o
	o.platforms, o.transform, o.progress, o.referrers = nil, nil, nil, false
	var copied []v1.Descriptor
	for _, p := range pairs {
		r, err := c.m.copy(ctx, &o, p.src, p.dst)
		res.ManifestGETs += r.ManifestGETs
		res.BytesCopied += r.BytesCopied
		res.BlobsCopied += r.BlobsCopied
		res.BlobsSkipped += r.BlobsSkipped
		res.BlobsMounted += r.BlobsMounted
		res.MountsRefused += r.MountsRefused
		res.ManifestsPushed += r.ManifestsPushed
		if err != nil {
			return fmt.Errorf("referrer %s: %w", p.src.Identifier(), err)
		}
		res.Referrers++
		if supported {
			for _, d := range listed {
				if d.Digest.String() == r.TargetDigest {
					copied = append(copied, d)
				}
			}
		}
	}
	if supported && len(copied) > 0 {
		return c.indexReferrers(ctx, subject, fallback, copied)
	}
	return nil
}

// indexReferrers makes referrers the source listed through its API
// findable in a destination without the API: the OCI 1.1 fallback, an
// index tagged sha256-HEX listing them (merged with what it lists).
func (c *copier) indexReferrers(ctx context.Context, subject v1.Hash, tag string, add []v1.Descriptor) error {
	_, supported, err := c.dstC.referrers(ctx, subject)
	if err != nil || supported {
		return err
	}
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if head, found, err := c.dstC.headManifest(ctx, tag); err != nil {
		return fmt.Errorf("look up %s: %w", tag, err)
	} else if found {
		raw, _, _, err := c.dstC.getManifest(ctx, tag, head.Digest)
		if err != nil {
			return fmt.Errorf("read %s: %w", tag, err)
		}
		if have, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
			im.Manifests = have.Manifests
		}
	}
	changed := false
	for _, d := range add {
		if !slices.ContainsFunc(im.Manifests, func(e v1.Descriptor) bool { return e.Digest == d.Digest }) {
			im.Manifests = append(im.Manifests, d)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return err
	}
	digest, _, _ := v1.SHA256(bytes.NewReader(raw))
	if err := c.dstC.putManifest(ctx, tag, types.OCIImageIndex, raw, digest); err != nil {
		return fmt.Errorf("push referrers index %s: %w", tag, err)
	}
	c.manifestsPushed.Add(1)
	return nil
}

// referrers lists the manifests whose subject is h through the referrers
// API; supported is false when the registry does not offer it (a 404, or
// another client error, which registries without the API send).
func (c *repoClient) referrers(ctx context.Context, h v1.Hash) (descs []v1.Descriptor, supported bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("/referrers/"+h.String()), nil, http.Header{"Accept": {string(types.OCIImageIndex)}})
	if err != nil {
		return nil, false, err
	}
	defer drain(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, false, statusError(resp, http.StatusOK)
	default:
		return nil, false, nil
	}
	if mediaTypeOf(resp.Header) != string(types.OCIImageIndex) {
		// Something answered 200 that is not the API (a catch-all).
		return nil, false, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, false, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, false, fmt.Errorf("referrers of %s: %w", h, err)
	}
	return im.Manifests, true, nil
}
