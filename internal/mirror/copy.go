package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Why the copy loop is written here instead of calling crane.Copy or
// remote.Write/remote.WriteIndex (whose requests it otherwise mirrors):
//
//   - Idempotency without pulls: it HEADs the source (free on Docker Hub),
//     then HEADs the destination by that digest; crane.Copy first GETs the
//     manifest, which Docker Hub counts as a pull.
//   - Child manifests the destination already holds are neither fetched nor
//     walked, and every manifest GET is counted and checked against the
//     pull-budget reserve before it is sent.
//   - One bounded pool for all blobs of all platforms, largest first, where
//     remote.WriteIndex runs a pool per image inside a pool of images.
//   - Cross-repository mounts from what this Mirror has seen and from hints;
//     remote.Write only mounts layers that carry their origin.
//   - Each blob streams from the source GET straight into a monolithic
//     upload (POST, then PUT ?digest= with the content) through a verifier
//     that withholds the completing bytes on a mismatch, so a wrong blob is
//     never committed, and the error names it. remote.Write sends POST,
//     PATCH, PUT: one more round trip per blob, and the registry must
//     buffer or stage the PATCH before the PUT commits it. On the loopback
//     benchmark this is most of the difference to crane.Copy. A registry
//     that refuses monolithic uploads gets PATCH then PUT instead.
//   - Platform filtering that keeps the index's own bytes (annotations,
//     unknown fields) apart from the dropped entries.
//
// go-containerregistry still does the parts that are not about copying:
// reference parsing, the registry auth handshake (transport.NewWithContext),
// error decoding (transport.CheckError) and the manifest types.

type copier struct {
	m   *Mirror
	o   *options
	src name.Reference
	dst name.Reference
	log *slog.Logger

	srcC, dstC *repoClient
	prog       *tracker
	// local holds the blobs of a transformed copy that the source does not
	// have (new configs and layers), uploaded from memory.
	local map[v1.Hash]v1.Layer

	manifestGETs    atomic.Int64
	bytesCopied     atomic.Int64
	blobsCopied     atomic.Int64
	blobsSkipped    atomic.Int64
	blobsMounted    atomic.Int64
	mountsRefused   atomic.Int64
	manifestsPushed atomic.Int64

	// discovery, once discoverAhead started it, waits for what is attached
	// to the source digest.
	discovery func() (discovered, error)
}

// node is one manifest of the copy.
type node struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	platform  string
	// attestation marks a BuildKit attestation entry of an index, whose
	// unknown/unknown platform is not one the image runs on.
	attestation bool
	present     bool    // the destination already holds it (and so its blobs)
	children    []*node // of an index
	blobs       []v1.Descriptor
}

func newCopier(m *Mirror, o *options, src, dst name.Reference) *copier {
	return &copier{
		m: m, o: o, src: src, dst: dst,
		log:   o.log.With(slog.String("image", src.Name()), slog.String("target", dst.Name())),
		prog:  newTracker(o.progress),
		local: map[v1.Hash]v1.Layer{},
	}
}

func (c *copier) result() Result {
	return Result{
		BytesCopied:     c.bytesCopied.Load(),
		BlobsCopied:     int(c.blobsCopied.Load()),
		BlobsSkipped:    int(c.blobsSkipped.Load()),
		BlobsMounted:    int(c.blobsMounted.Load()),
		MountsRefused:   int(c.mountsRefused.Load()),
		ManifestsPushed: int(c.manifestsPushed.Load()),
	}
}

// srcTransport is the stack under the source's auth: it counts manifest
// GETs and reads the pull budget.
func (c *copier) srcTransport() http.RoundTripper {
	return c.retrying(&observeTransport{
		inner:         &endpointTransport{inner: c.o.transport, endpoints: c.o.endpoints},
		onManifestGET: func() { c.manifestGETs.Add(1) },
		budgets:       c.m.budgets,
		now:           c.o.now,
	})
}

func (c *copier) dstTransport() http.RoundTripper {
	return c.retrying(&endpointTransport{inner: c.o.transport, endpoints: c.o.endpoints})
}

func (c *copier) retrying(inner http.RoundTripper) http.RoundTripper {
	return &retryTransport{
		inner: inner, attempts: c.o.attempts, backoff: c.o.backoff, maxWait: c.o.maxRetryAfter,
		now: c.o.now, sleep: c.o.sleep, log: c.log,
	}
}

func (c *copier) connectDst(ctx context.Context, mountFrom []string) error {
	scopes := []string{c.dst.Context().Scope(transport.PushScope)}
	for _, r := range mountFrom {
		scopes = append(scopes, c.dst.Context().Registry.Repo(r).Scope(transport.PullScope))
	}
	dc, err := newRepoClient(ctx, c.dst.Context(), c.o.dstKeychain, c.dstTransport(), scopes, c.o.endpoints[c.dst.Context().RegistryStr()])
	if err != nil {
		return err
	}
	c.dstC = dc
	return nil
}

func (c *copier) run(ctx context.Context) (Result, error) {
	// Both registries are pinged (and tokens fetched) at once.
	var g errgroup.Group
	g.Go(func() error {
		var err error
		c.srcC, err = newRepoClient(ctx, c.src.Context(), c.o.srcKeychain, c.srcTransport(),
			[]string{c.src.Context().Scope(transport.PullScope)}, c.o.endpoints[c.src.Context().RegistryStr()])
		return err
	})
	g.Go(func() error { return c.connectDst(ctx, nil) })
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	var err error

	// HEAD first: free where GETs are counted, and enough to know whether
	// anything needs doing.
	head, found, err := c.srcC.headManifest(ctx, c.src.Identifier())
	if err != nil {
		return Result{}, fmt.Errorf("look up source: %w", err)
	}
	if !found {
		return Result{}, fmt.Errorf("source manifest %s not found", c.src.Name())
	}
	if d, ok := c.src.(name.Digest); ok {
		// Trust the reference, not a registry that omits or garbles the header.
		head.Digest, err = v1.NewHash(d.DigestStr())
		if err != nil {
			return Result{}, fmt.Errorf("source digest: %w", err)
		}
	}
	if isSchema1(head.MediaType) {
		return Result{}, fmt.Errorf("%w: %s is a Docker schema 1 manifest", ErrUnsupportedManifest, c.src.Name())
	}
	if c.o.transform != nil {
		return c.runTransform(ctx, head)
	}

	if head.Digest.Hex != "" {
		if res, done, err := c.alreadyMirrored(ctx, head.Digest); err != nil || done {
			return res, err
		}
	}

	// The root manifest, and at least one child if it is an index.
	need := 1
	if head.MediaType.IsIndex() {
		need = 2
	}
	if err := c.checkBudget(need, false); err != nil {
		return Result{}, err
	}
	if err := c.checkBudget(1, true); err != nil {
		return Result{}, err
	}
	ref := c.src.Identifier()
	if head.Digest.Hex != "" {
		ref = head.Digest.String()
	}
	raw, mt, digest, err := c.srcC.getManifest(ctx, ref, head.Digest)
	if err != nil {
		return Result{}, fmt.Errorf("fetch source manifest: %w", err)
	}
	if head.Digest.Hex == "" {
		// A registry that sent no digest on HEAD: check again now that it
		// is known.
		if res, done, err := c.alreadyMirrored(ctx, digest); err != nil || done {
			return res, err
		}
	}
	root, err := c.plan(ctx, raw, mt, digest, true)
	if err != nil {
		return Result{}, err
	}
	res := Result{SourceDigest: digest.String(), TargetDigest: root.digest.String(), Platforms: platformsOf(root)}
	if d, ok := c.dst.(name.Digest); ok && d.DigestStr() != root.digest.String() {
		return res, fmt.Errorf("destination names digest %s but the copy would be %s", d.DigestStr(), root.digest)
	}
	if root.digest != digest {
		// A filtered index may exist from an earlier run of another process.
		if done, err := c.tagExisting(ctx, root.digest); err != nil || done {
			r := c.result()
			r.SourceDigest, r.TargetDigest, r.Platforms, r.AlreadyMirrored = res.SourceDigest, res.TargetDigest, res.Platforms, done
			r.Target = c.dst.Context().Digest(root.digest.String()).Name()
			c.rememberFiltered(digest, root.digest)
			return r, err
		}
	}

	if err := c.ensureRepository(ctx); err != nil {
		return res, err
	}
	if c.wantsReferrers() && root.digest == digest {
		c.discoverAhead(ctx, digest)
	}
	if err := c.copyBlobs(ctx, root); err != nil {
		return c.withCounts(res), err
	}
	if err := c.pushManifest(ctx, root, c.dst.Identifier()); err != nil {
		return c.withCounts(res), err
	}
	if root.digest != digest {
		c.rememberFiltered(digest, root.digest)
	}
	res = c.withCounts(res)
	res.Target = c.dst.Context().Digest(root.digest.String()).Name()
	return res, nil
}

func (c *copier) withCounts(r Result) Result {
	n := c.result()
	n.SourceDigest, n.TargetDigest, n.Platforms = r.SourceDigest, r.TargetDigest, r.Platforms
	return n
}

// checkBudget checks (and with spend, reserves) n manifest GETs of the
// source registry against the reserve.
func (c *copier) checkBudget(n int, spend bool) error {
	return c.m.budgets.take(c.src.Context().RegistryStr(), n, c.o.reserve, spend)
}

// pushManifest pushes n under ref after its children, so that whatever a tag
// (or an index) names is complete when the name appears.
func (c *copier) pushManifest(ctx context.Context, n *node, ref string) error {
	if len(n.children) > 0 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.o.jobs)
		for _, ch := range n.children {
			if ch.present {
				continue
			}
			g.Go(func() error { return c.pushManifest(gctx, ch, ch.digest.String()) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	if err := c.dstC.putManifest(ctx, ref, n.mediaType, n.raw, n.digest); err != nil {
		return fmt.Errorf("push manifest %s: %w", n.digest, err)
	}
	c.manifestsPushed.Add(1)
	return nil
}

// ensureRepository creates the destination repository once per Mirror.
func (c *copier) ensureRepository(ctx context.Context) error {
	if c.o.repoAPI == nil {
		return nil
	}
	repo := c.dst.Context().RepositoryStr()
	key := c.dst.Context().Name()
	if _, ok := c.m.ensured.Load(key); ok {
		return nil
	}
	if _, err := EnsureRepository(ctx, c.o.repoAPI, repo, c.o.repoSettings, c.o.log); err != nil {
		return err
	}
	c.m.ensured.Store(key, struct{}{})
	return nil
}
