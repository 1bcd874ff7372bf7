package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
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

	manifestGETs    atomic.Int64
	bytesCopied     atomic.Int64
	blobsCopied     atomic.Int64
	blobsSkipped    atomic.Int64
	blobsMounted    atomic.Int64
	manifestsPushed atomic.Int64
}

// node is one manifest of the copy.
type node struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	platform  string
	present   bool    // the destination already holds it (and so its blobs)
	children  []*node // of an index
	blobs     []v1.Descriptor
}

func newCopier(m *Mirror, o *options, src, dst name.Reference) *copier {
	return &copier{
		m: m, o: o, src: src, dst: dst,
		log:  o.log.With(slog.String("image", src.Name()), slog.String("target", dst.Name())),
		prog: newTracker(o.progress),
	}
}

func (c *copier) result() Result {
	return Result{
		BytesCopied:     c.bytesCopied.Load(),
		BlobsCopied:     int(c.blobsCopied.Load()),
		BlobsSkipped:    int(c.blobsSkipped.Load()),
		BlobsMounted:    int(c.blobsMounted.Load()),
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
	var err error
	c.srcC, err = newRepoClient(ctx, c.src.Context(), c.o.srcKeychain, c.srcTransport(),
		[]string{c.src.Context().Scope(transport.PullScope)}, c.o.endpoints[c.src.Context().RegistryStr()])
	if err != nil {
		return Result{}, err
	}
	if err := c.connectDst(ctx, nil); err != nil {
		return Result{}, err
	}

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

func (c *copier) filterKey(src v1.Hash) string {
	ps := make([]string, len(c.o.platforms))
	for i, p := range c.o.platforms {
		ps[i] = p.String()
	}
	sort.Strings(ps)
	return c.dst.Context().Name() + "|" + src.String() + "|" + strings.Join(ps, ",")
}

func (c *copier) rememberFiltered(src, target v1.Hash) {
	c.m.filtered.Store(c.filterKey(src), target)
}

// alreadyMirrored finishes the copy without touching the source when the
// destination holds what src names: the source digest itself, or, for a
// platform-filtered copy, the index an earlier copy made from it.
func (c *copier) alreadyMirrored(ctx context.Context, src v1.Hash) (Result, bool, error) {
	want := src
	if len(c.o.platforms) > 0 {
		v, ok := c.m.filtered.Load(c.filterKey(src))
		if !ok {
			return Result{}, false, nil
		}
		want = v.(v1.Hash)
	}
	if d, ok := c.dst.(name.Digest); ok && d.DigestStr() != want.String() {
		return Result{}, false, fmt.Errorf("destination names digest %s but the source is %s", d.DigestStr(), want)
	}
	done, err := c.tagExisting(ctx, want)
	if err != nil || !done {
		return Result{}, false, err
	}
	r := c.result()
	r.SourceDigest, r.TargetDigest, r.AlreadyMirrored = src.String(), want.String(), true
	r.Target = c.dst.Context().Digest(want.String()).Name()
	return r, true, nil
}

// tagExisting reports whether the destination holds manifest want, pointing
// dst's tag at it (with the manifest read from the destination) if needed.
func (c *copier) tagExisting(ctx context.Context, want v1.Hash) (bool, error) {
	tag, isTag := c.dst.(name.Tag)
	if isTag {
		d, found, err := c.dstC.headManifest(ctx, tag.TagStr())
		if err != nil {
			return false, fmt.Errorf("look up destination: %w", err)
		}
		if found && d.Digest == want {
			return true, nil
		}
	}
	_, found, err := c.dstC.headManifest(ctx, want.String())
	if err != nil {
		return false, fmt.Errorf("look up destination: %w", err)
	}
	if !found {
		return false, nil
	}
	if !isTag {
		return true, nil
	}
	raw, mt, _, err := c.dstC.getManifest(ctx, want.String(), want)
	if err != nil {
		return false, fmt.Errorf("read destination manifest %s: %w", want, err)
	}
	if mt == "" {
		mt = sniffMediaType(raw)
	}
	if err := c.dstC.putManifest(ctx, tag.TagStr(), mt, raw, want); err != nil {
		return false, fmt.Errorf("tag %s: %w", tag.TagStr(), err)
	}
	c.manifestsPushed.Add(1)
	return true, nil
}

func isSchema1(mt types.MediaType) bool {
	return mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed
}

// sniffMediaType reads the mediaType a manifest declares about itself.
func sniffMediaType(raw []byte) types.MediaType {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return types.OCIImageIndex
	case probe.Config != nil:
		return types.OCIManifestSchema1
	}
	return ""
}

// plan reads one manifest and, for an index, the children the destination
// lacks, and collects the blobs to copy.
func (c *copier) plan(ctx context.Context, raw []byte, mt types.MediaType, digest v1.Hash, top bool) (*node, error) {
	if mt == "" || (!mt.IsIndex() && !mt.IsImage() && !isSchema1(mt)) {
		// Some registries send a generic Content-Type; the manifest knows.
		if s := sniffMediaType(raw); s != "" {
			mt = s
		}
	}
	n := &node{digest: digest, mediaType: mt, raw: raw}
	switch {
	case isSchema1(mt):
		return nil, fmt.Errorf("%w: %s is a Docker schema 1 manifest", ErrUnsupportedManifest, digest)
	case mt.IsIndex():
		return n, c.planIndex(ctx, n, top)
	case mt.IsImage():
		return n, c.planImage(ctx, n, top)
	}
	return nil, fmt.Errorf("%w: %s has media type %q", ErrUnsupportedManifest, digest, mt)
}

func (c *copier) planImage(ctx context.Context, n *node, top bool) error {
	m, err := v1.ParseManifest(bytes.NewReader(n.raw))
	if err != nil {
		return fmt.Errorf("parse manifest %s: %w", n.digest, err)
	}
	if top && len(c.o.platforms) > 0 {
		if err := c.checkImagePlatform(ctx, m.Config); err != nil {
			return err
		}
	}
	n.blobs = append(n.blobs, m.Config)
	for _, l := range m.Layers {
		if l.MediaType.IsDistributable() {
			n.blobs = append(n.blobs, l)
		}
	}
	for _, b := range n.blobs {
		if b.Size < 0 || b.Digest.Hex == "" {
			return fmt.Errorf("manifest %s: blob descriptor %q with size %d is invalid", n.digest, b.Digest, b.Size)
		}
	}
	return nil
}

// checkImagePlatform compares a single-platform image against the filter,
// from its config blob (small, and not a counted pull).
func (c *copier) checkImagePlatform(ctx context.Context, cfg v1.Descriptor) error {
	const maxConfig = 16 << 20
	if cfg.Size > maxConfig {
		return fmt.Errorf("config %s is larger than %d bytes", cfg.Digest, maxConfig)
	}
	rc, err := c.srcC.getBlob(ctx, cfg)
	if err != nil {
		return fmt.Errorf("fetch config %s: %w", cfg.Digest, err)
	}
	defer rc.Close()
	vr, err := newVerifier(rc, cfg, nil)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(vr)
	if err != nil {
		return fmt.Errorf("read config %s: %w", cfg.Digest, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parse config %s: %w", cfg.Digest, err)
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	if !c.platformWanted(&have) {
		return fmt.Errorf("%w: %s is a single-platform image for %s", ErrNoMatchingPlatform, c.src.Name(), have.String())
	}
	return nil
}

func (c *copier) platformWanted(p *v1.Platform) bool {
	if p == nil {
		return false
	}
	for _, want := range c.o.platforms {
		if p.Satisfies(want) {
			return true
		}
	}
	return false
}

func (c *copier) planIndex(ctx context.Context, n *node, top bool) error {
	im, err := v1.ParseIndexManifest(bytes.NewReader(n.raw))
	if err != nil {
		return fmt.Errorf("parse index %s: %w", n.digest, err)
	}
	kept := im.Manifests
	if top && len(c.o.platforms) > 0 {
		kept = nil
		var keep []int
		var seen []string
		for i, d := range im.Manifests {
			if d.Platform != nil {
				seen = append(seen, d.Platform.String())
			}
			if c.platformWanted(d.Platform) {
				kept = append(kept, d)
				keep = append(keep, i)
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("%w: %s offers %s", ErrNoMatchingPlatform, c.src.Name(), strings.Join(seen, ", "))
		}
		if len(kept) < len(im.Manifests) {
			raw, err := filterIndex(n.raw, keep)
			if err != nil {
				return fmt.Errorf("filter index %s: %w", n.digest, err)
			}
			n.raw = raw
			n.digest, _, _ = v1.SHA256(bytes.NewReader(raw))
		}
	}

	// Children the destination holds are complete there (manifests go in
	// last): neither fetch them nor their blobs.
	children := make([]*node, len(kept))
	present := make([]bool, len(kept))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for i, d := range kept {
		g.Go(func() error {
			_, found, err := c.dstC.headManifest(gctx, d.Digest.String())
			present[i] = found
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("look up children in destination: %w", err)
	}
	fetch := 0
	for _, p := range present {
		if !p {
			fetch++
		}
	}
	if err := c.checkBudget(fetch, true); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for i, d := range kept {
		platform := ""
		if d.Platform != nil {
			platform = d.Platform.String()
		}
		if present[i] {
			children[i] = &node{digest: d.Digest, mediaType: d.MediaType, platform: platform, present: true}
			continue
		}
		g.Go(func() error {
			raw, mt, got, err := c.srcC.getManifest(gctx, d.Digest.String(), d.Digest)
			if err != nil {
				return fmt.Errorf("fetch manifest %s (%s): %w", d.Digest, orUnknown(platform), err)
			}
			if int64(len(raw)) != d.Size {
				return fmt.Errorf("%w: manifest %s is %d bytes, index says %d", ErrDigestMismatch, d.Digest, len(raw), d.Size)
			}
			if d.MediaType != "" {
				mt = d.MediaType
			}
			child, err := c.plan(gctx, raw, mt, got, false)
			if err != nil {
				return err
			}
			child.platform = platform
			children[i] = child
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	n.children = children
	return nil
}

func orUnknown(platform string) string {
	if platform == "" {
		return "no platform"
	}
	return platform
}

// filterIndex keeps the entries at keep of an index, leaving every other
// field, and each kept entry, byte for byte as the source had them (bar
// whitespace). The result is deterministic, so a repeated filtered copy
// yields the same digest.
func filterIndex(raw []byte, keep []int) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, err
	}
	kept := make([]json.RawMessage, 0, len(keep))
	for _, i := range keep {
		kept = append(kept, entries[i])
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	doc["manifests"] = b
	return json.Marshal(doc)
}

func platformsOf(root *node) []string {
	var ps []string
	for _, ch := range root.children {
		if ch.platform != "" && !slices.Contains(ps, ch.platform) {
			ps = append(ps, ch.platform)
		}
	}
	return ps
}

// blobTask is one distinct blob of the copy and the platforms that use it.
type blobTask struct {
	desc      v1.Descriptor
	platforms []string
}

func collectBlobs(n *node, platform string, into map[v1.Hash]*blobTask, order *[]*blobTask) {
	if n.present {
		return
	}
	if n.platform != "" {
		platform = n.platform
	}
	for _, b := range n.blobs {
		t := into[b.Digest]
		if t == nil {
			t = &blobTask{desc: b}
			into[b.Digest] = t
			*order = append(*order, t)
		}
		if !slices.Contains(t.platforms, platform) {
			t.platforms = append(t.platforms, platform)
		}
	}
	for _, ch := range n.children {
		collectBlobs(ch, platform, into, order)
	}
}

// copyBlobs copies every blob of the plan in one bounded pool, largest
// first so that the long transfers overlap the short ones.
func (c *copier) copyBlobs(ctx context.Context, root *node) error {
	var tasks []*blobTask
	collectBlobs(root, "", map[v1.Hash]*blobTask{}, &tasks)
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].desc.Size > tasks[j].desc.Size })
	for _, t := range tasks {
		for _, p := range t.platforms {
			c.prog.add(p, t.desc)
		}
	}

	// Repositories to mount from need a pull scope in the token (registries
	// with bearer auth); reconnect once with them if there are any.
	var from []string
	for _, t := range tasks {
		if r := c.mountSource(t.desc.Digest); r != "" && !slices.Contains(from, r) {
			from = append(from, r)
		}
	}
	if len(from) > 0 {
		if err := c.connectDst(ctx, from); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for _, t := range tasks {
		g.Go(func() error { return c.copyBlob(gctx, t.desc) })
	}
	return g.Wait()
}

// mountSource picks a repository of the destination registry known to hold
// h, other than the destination itself.
func (c *copier) mountSource(h v1.Hash) string {
	self := c.dst.Context().RepositoryStr()
	candidates := append(slices.Clone(c.o.mountHints[h]), c.m.mounts.lookup(c.dst.Context().RegistryStr(), h)...)
	for _, r := range candidates {
		if r != self {
			return r
		}
	}
	return ""
}

// copyBlob copies one blob, starting it over on failures that may pass.
func (c *copier) copyBlob(ctx context.Context, d v1.Descriptor) error {
	for attempt := 1; ; attempt++ {
		err := c.tryBlob(ctx, d)
		if errors.Is(err, errUploadAgain) {
			err = c.tryBlob(ctx, d)
		}
		if err == nil {
			c.m.mounts.add(c.dst.Context().RegistryStr(), d.Digest, c.dst.Context().RepositoryStr())
			c.prog.finish(d.Digest)
			return nil
		}
		if attempt >= c.o.attempts || !retryableBlobError(err) || ctx.Err() != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		wait := backoffDelay(c.o.backoff, attempt)
		c.log.LogAttrs(ctx, slog.LevelWarn, "retrying blob",
			slog.String("digest", d.Digest.String()), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.String("cause", err.Error()))
		if err := c.o.sleep(ctx, wait); err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
}

// errUploadAgain asks for the blob to be uploaded again at once, the
// registry having refused the way it was sent.
var errUploadAgain = errors.New("upload again")

// refusesMonolithic reports an answer to a monolithic upload that means the
// registry does not take them (rather than that the content was wrong).
func refusesMonolithic(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
		http.StatusRequestedRangeNotSatisfiable, http.StatusNotImplemented:
		return true
	case http.StatusBadRequest:
		for _, e := range terr.Errors {
			if e.Code == transport.DigestInvalidErrorCode || e.Code == transport.SizeInvalidErrorCode {
				return false
			}
		}
		return true
	}
	return false
}

func retryableBlobError(err error) bool {
	if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrRateLimited) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return retryableStatus(terr.StatusCode)
	}
	return retryableNetError(err)
}

func (c *copier) tryBlob(ctx context.Context, d v1.Descriptor) error {
	exists, err := c.dstC.headBlob(ctx, d.Digest)
	if err != nil {
		return fmt.Errorf("look up in destination: %w", err)
	}
	if exists {
		c.blobsSkipped.Add(1)
		c.log.LogAttrs(ctx, slog.LevelDebug, "blob present", slog.String("digest", d.Digest.String()))
		return nil
	}
	from := c.mountSource(d.Digest)
	loc, mounted, err := c.dstC.startUpload(ctx, d.Digest, from)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	if mounted {
		c.blobsMounted.Add(1)
		c.log.LogAttrs(ctx, slog.LevelDebug, "blob mounted", slog.String("digest", d.Digest.String()), slog.String("from", from))
		return nil
	}

	// The source stream gets its own context: when the upload fails, ending
	// it unblocks a read net/http may still have in flight.
	srcCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := c.srcC.getBlob(srcCtx, d)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	vr, err := newVerifier(rc, d, func(n int64) { c.prog.advance(d.Digest, n) })
	if err != nil {
		return err
	}
	if d.Size == 0 {
		// An empty body is not sent; check its digest here.
		if _, err := io.Copy(io.Discard, vr); err != nil {
			return err
		}
	}
	chunked := c.m.uploadsChunked(c.dst.Context().RegistryStr())
	if chunked {
		loc, err = c.dstC.patch(ctx, loc, vr, d.Size)
	} else {
		err = c.dstC.putBlob(ctx, loc, d.Digest, vr, d.Size)
	}
	// The verdict is taken before the source is cut off, so that an upload
	// failure is not mistaken for a source failure.
	moved, readErr, verified := vr.close()
	cancel()
	if !verified {
		c.prog.advance(d.Digest, -moved)
	}
	switch {
	case readErr != nil:
		// The upload failed because the source did; that is the cause.
		return readErr
	case err != nil && !chunked && refusesMonolithic(err):
		c.m.chunkedUploads.Store(c.dst.Context().RegistryStr(), true)
		c.log.LogAttrs(ctx, slog.LevelInfo, "registry refuses monolithic uploads; uploading in a session",
			slog.String("registry", c.dst.Context().RegistryStr()))
		return errUploadAgain
	case err != nil:
		return fmt.Errorf("upload: %w", err)
	case !verified:
		return fmt.Errorf("upload: registry accepted %d of %d bytes", moved, d.Size)
	}
	if chunked {
		if err := c.dstC.commit(ctx, loc, d.Digest); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	c.bytesCopied.Add(d.Size)
	c.blobsCopied.Add(1)
	c.log.LogAttrs(ctx, slog.LevelDebug, "blob copied", slog.String("digest", d.Digest.String()), slog.Int64("bytes", d.Size))
	return nil
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
