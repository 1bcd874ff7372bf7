package mirror

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Transform rebuilds a source image on its way to the destination (see
// WithTransform). It works on lazily read images: what it reads of the
// source (manifests, configs, layers) is fetched through the mirror, whose
// manifest GETs are counted and checked against the pull-budget reserve.
type Transform interface {
	// Image returns src rebuilt.
	Image(src v1.Image) (v1.Image, error)
	// Index returns src rebuilt, keeping only images whose platform
	// satisfies one of platforms (all when platforms is empty).
	Index(src v1.ImageIndex, platforms []v1.Platform) (v1.ImageIndex, error)
	// Made reports whether cf, the config of an image in the destination,
	// is what this transform made of the source with digest source (and,
	// for an index, with these platforms, nil for a single image). It lets
	// a repeated copy stop after a HEAD of the source.
	Made(cf *v1.ConfigFile, source v1.Hash, platforms []v1.Platform) bool
}

// transformed reports whether the destination tag holds what the
// transform made of source: every image it names was Made from it.
// Reading the destination costs no pull.
func (c *copier) transformed(ctx context.Context, source v1.Hash, isIndex bool) (v1.Hash, bool, error) {
	tag := c.dst.Identifier()
	head, found, err := c.dstC.headManifest(ctx, tag)
	if err != nil || !found {
		return v1.Hash{}, false, wrapLookup(err)
	}
	raw, mt, digest, err := c.dstC.getManifest(ctx, tag, head.Digest)
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("read destination manifest: %w", err)
	}
	if mt == "" || (!mt.IsIndex() && !mt.IsImage()) {
		mt = sniffMediaType(raw)
	}
	var platforms []v1.Platform
	if isIndex {
		platforms = c.o.platforms
	}
	made := func(raw []byte) (bool, error) {
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return false, nil
		}
		cf, err := c.readConfig(ctx, c.dstC, m.Config)
		if err != nil {
			return false, fmt.Errorf("read destination config: %w", err)
		}
		return c.o.transform.Made(cf, source, platforms), nil
	}
	switch {
	case mt.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil || len(im.Manifests) == 0 {
			return v1.Hash{}, false, nil
		}
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				return v1.Hash{}, false, nil
			}
			child, _, _, err := c.dstC.getManifest(ctx, d.Digest.String(), d.Digest)
			if err != nil {
				return v1.Hash{}, false, fmt.Errorf("read destination image %s: %w", d.Digest, err)
			}
			if ok, err := made(child); err != nil || !ok {
				return v1.Hash{}, false, err
			}
		}
	case mt.IsImage():
		if ok, err := made(raw); err != nil || !ok {
			return v1.Hash{}, false, err
		}
	default:
		return v1.Hash{}, false, nil
	}
	return digest, true, nil
}

func wrapLookup(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("look up destination: %w", err)
}

// maxConfigSize bounds a config blob read into memory.
const maxConfigSize = 16 << 20

// readConfig reads and parses a config blob from rc's repository, verified.
func (c *copier) readConfig(ctx context.Context, rc *repoClient, d v1.Descriptor) (*v1.ConfigFile, error) {
	raw, err := readBlob(ctx, rc, d, maxConfigSize)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", d.Digest, err)
	}
	return cf, nil
}

// readBlob reads a small blob into memory, verified against d.
func readBlob(ctx context.Context, rc *repoClient, d v1.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d.Digest, limit)
	}
	body, err := rc.getBlob(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d.Digest, err)
	}
	defer body.Close()
	vr, err := newVerifier(body, d, nil)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(vr)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.Digest, err)
	}
	return raw, nil
}

// planTransformed fetches the source as lazy go-containerregistry images,
// runs the transform, and plans the copy of its result: blobs the result
// shares with the source stream from the source, the others (configs, new
// layers) from memory.
func (c *copier) planTransformed(ctx context.Context, raw []byte, mt types.MediaType, digest v1.Hash) (*node, error) {
	src := &sourceReader{c: c, ctx: ctx, blobs: map[v1.Hash]bool{}}
	if mt == "" || (!mt.IsIndex() && !mt.IsImage()) {
		if s := sniffMediaType(raw); s != "" {
			mt = s
		}
	}
	switch {
	case mt.IsIndex():
		idx := &sourceIndex{r: src, raw: raw, mediaType: mt, digest: digest}
		out, err := c.o.transform.Index(idx, c.o.platforms)
		if err != nil {
			return nil, err
		}
		return c.indexNode(out, src)
	case mt.IsImage():
		img, err := src.image(raw, mt)
		if err != nil {
			return nil, err
		}
		if len(c.o.platforms) > 0 {
			m, err := img.Manifest()
			if err != nil {
				return nil, err
			}
			if err := c.checkImagePlatform(ctx, m.Config); err != nil {
				return nil, err
			}
		}
		out, err := c.o.transform.Image(img)
		if err != nil {
			return nil, err
		}
		return c.imageNode(out, "", src)
	}
	return nil, fmt.Errorf("%w: %s has media type %q", ErrUnsupportedManifest, digest, mt)
}

func (c *copier) indexNode(idx v1.ImageIndex, src *sourceReader) (*node, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	n := &node{digest: digest, mediaType: mt, raw: raw}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("%w: transformed index entry %s has media type %q", ErrUnsupportedManifest, d.Digest, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		platform := ""
		if d.Platform != nil {
			platform = d.Platform.String()
		}
		child, err := c.imageNode(img, platform, src)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, child)
	}
	return n, nil
}

func (c *copier) imageNode(img v1.Image, platform string, src *sourceReader) (*node, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	n := &node{digest: digest, mediaType: mt, raw: raw, platform: platform}
	add := func(d v1.Descriptor, l v1.Layer) {
		n.blobs = append(n.blobs, d)
		if !src.has(d.Digest) {
			c.local[d.Digest] = l
		}
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return nil, err
	}
	add(m.Config, cfg)
	for _, d := range m.Layers {
		if !d.MediaType.IsDistributable() {
			continue
		}
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		add(d, l)
	}
	return n, nil
}

// sourceReader reads the source for a transform through the copier's
// source client, and remembers which blobs the source has.
type sourceReader struct {
	c   *copier
	ctx context.Context

	mu    sync.Mutex
	blobs map[v1.Hash]bool
}

func (s *sourceReader) has(h v1.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobs[h]
}

func (s *sourceReader) image(raw []byte, mt types.MediaType) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse source manifest: %w", err)
	}
	s.mu.Lock()
	s.blobs[m.Config.Digest] = true
	for _, l := range m.Layers {
		s.blobs[l.Digest] = true
	}
	s.mu.Unlock()
	return partial.CompressedToImage(&sourceImage{r: s, raw: raw, mediaType: mt, manifest: m})
}

// sourceImage is a source image read through the mirror
// (partial.CompressedImageCore).
type sourceImage struct {
	r         *sourceReader
	raw       []byte
	mediaType types.MediaType
	manifest  *v1.Manifest

	once   sync.Once
	config []byte
	err    error
}

func (i *sourceImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *sourceImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }

func (i *sourceImage) RawConfigFile() ([]byte, error) {
	i.once.Do(func() {
		i.config, i.err = readBlob(i.r.ctx, i.r.c.srcC, i.manifest.Config, maxConfigSize)
	})
	return i.config, i.err
}

func (i *sourceImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &sourceLayer{r: i.r, desc: i.manifest.Config}, nil
	}
	for _, l := range i.manifest.Layers {
		if l.Digest == h {
			return &sourceLayer{r: i.r, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("source image has no blob %s", h)
}

// sourceLayer streams one blob of the source, verified.
type sourceLayer struct {
	r    *sourceReader
	desc v1.Descriptor
}

func (l *sourceLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *sourceLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *sourceLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *sourceLayer) Compressed() (io.ReadCloser, error) {
	body, err := l.r.c.srcC.getBlob(l.r.ctx, l.desc)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", l.desc.Digest, err)
	}
	vr, err := newVerifier(body, l.desc, nil)
	if err != nil {
		body.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{vr, body}, nil
}

// sourceIndex is a source index read through the mirror; its images are
// fetched (one counted manifest GET each) when the transform asks for them.
type sourceIndex struct {
	r         *sourceReader
	raw       []byte
	mediaType types.MediaType
	digest    v1.Hash

	once     sync.Once
	manifest *v1.IndexManifest
	err      error
}

func (x *sourceIndex) MediaType() (types.MediaType, error) { return x.mediaType, nil }
func (x *sourceIndex) Digest() (v1.Hash, error)            { return x.digest, nil }
func (x *sourceIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *sourceIndex) RawManifest() ([]byte, error)        { return x.raw, nil }

func (x *sourceIndex) IndexManifest() (*v1.IndexManifest, error) {
	x.once.Do(func() {
		x.manifest, x.err = v1.ParseIndexManifest(bytes.NewReader(x.raw))
		if x.err != nil {
			x.err = fmt.Errorf("parse source index %s: %w", x.digest, x.err)
		}
	})
	return x.manifest, x.err
}

func (x *sourceIndex) descriptor(h v1.Hash) (v1.Descriptor, error) {
	im, err := x.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("source index %s has no manifest %s", x.digest, h)
}

func (x *sourceIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.descriptor(h)
	if err != nil {
		return nil, err
	}
	c := x.r.c
	if err := c.checkBudget(1, true); err != nil {
		return nil, err
	}
	raw, mt, _, err := c.srcC.getManifest(x.r.ctx, h.String(), h)
	if err != nil {
		return nil, fmt.Errorf("fetch manifest %s: %w", h, err)
	}
	if int64(len(raw)) != d.Size {
		return nil, fmt.Errorf("%w: manifest %s is %d bytes, index says %d", ErrDigestMismatch, h, len(raw), d.Size)
	}
	if d.MediaType != "" {
		mt = d.MediaType
	}
	if !mt.IsImage() {
		return nil, fmt.Errorf("%w: %s has media type %q, not an image", ErrUnsupportedManifest, h, mt)
	}
	return x.r.image(raw, mt)
}

func (x *sourceIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("%w: %s is an index inside an index", ErrUnsupportedManifest, h)
}

// runTransform is the copy with a transform, from the source's HEAD on.
func (c *copier) runTransform(ctx context.Context, head v1.Descriptor) (Result, error) {
	res := Result{SourceDigest: head.Digest.String()}
	if head.Digest.Hex != "" {
		digest, ok, err := c.transformed(ctx, head.Digest, head.MediaType.IsIndex())
		if err != nil {
			return res, err
		}
		if ok {
			res.TargetDigest, res.AlreadyMirrored = digest.String(), true
			res.Target = c.dst.Context().Digest(digest.String()).Name()
			return res, nil
		}
	}
	if err := c.ensureRepository(ctx); err != nil {
		return res, err
	}
	if err := c.checkBudget(1, true); err != nil {
		return res, err
	}
	ref := c.src.Identifier()
	if head.Digest.Hex != "" {
		ref = head.Digest.String()
	}
	raw, mt, digest, err := c.srcC.getManifest(ctx, ref, head.Digest)
	if err != nil {
		return res, fmt.Errorf("fetch source manifest: %w", err)
	}
	res.SourceDigest = digest.String()
	root, err := c.planTransformed(ctx, raw, mt, digest)
	if err != nil {
		return res, err
	}
	res.TargetDigest, res.Platforms = root.digest.String(), platformsOf(root)
	if err := c.copyBlobs(ctx, root); err != nil {
		return c.withCounts(res), err
	}
	if err := c.pushManifest(ctx, root, c.dst.Identifier()); err != nil {
		return c.withCounts(res), err
	}
	res = c.withCounts(res)
	res.Target = c.dst.Context().Digest(root.digest.String()).Name()
	return res, nil
}
