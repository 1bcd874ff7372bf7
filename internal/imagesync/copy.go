package imagesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullheal/pullheal/internal/customize"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/policy"
)

// Why customised images take another path than the mirror engine: the
// engine copies manifests and blobs byte for byte, which is what keeps a
// plain mirror's digests equal to upstream's. A customised image is a new
// image: its configs and manifests are rebuilt (package customize) and
// pushed with go-containerregistry's remote.Write/WriteIndex, which upload
// only the blobs the destination lacks (the source's layers stream from the
// source; the DIR layer from memory). What the engine gives plain copies is
// kept here by hand: the source is HEADed first (free on Docker Hub), the
// destination is checked before anything is pulled, every manifest GET is
// counted and checked against the pull-budget reserve, and a 429 is not
// retried.

// Option configures CopyCustomized.
type Option func(*copyOptions) error

type copyOptions struct {
	srcKeychain authn.Keychain
	dstKeychain authn.Keychain
	transport   http.RoundTripper
	endpoints   hostmap.Map
	repoAPI     mirror.RepositoryAPI
	repo        mirror.RepositorySettings
	platforms   []string
	reserve     int
	log         *slog.Logger
}

func defaultCopyOptions() copyOptions {
	return copyOptions{
		srcKeychain: authn.DefaultKeychain,
		dstKeychain: authn.DefaultKeychain,
		transport:   remote.DefaultTransport,
		log:         slog.New(slog.DiscardHandler),
	}
}

// WithSourceKeychain sets how credentials for the source registry are
// found (mirror.NewDockerHubKeychain for Docker Hub from Secrets Manager).
// The default is authn.DefaultKeychain.
func WithSourceKeychain(k authn.Keychain) Option {
	return func(o *copyOptions) error {
		if k == nil {
			return errors.New("source keychain is nil")
		}
		o.srcKeychain = k
		return nil
	}
}

// WithDestinationKeychain sets how credentials for the destination are
// found; for ECR a *mirror.ECRKeychain. The default is authn.DefaultKeychain.
func WithDestinationKeychain(k authn.Keychain) Option {
	return func(o *copyOptions) error {
		if k == nil {
			return errors.New("destination keychain is nil")
		}
		o.dstKeychain = k
		return nil
	}
}

// WithTransport sets the HTTP transport requests go through, under the
// endpoint mapping (WithEndpoints). The default is remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *copyOptions) error {
		if rt == nil {
			return errors.New("transport is nil")
		}
		o.transport = rt
		return nil
	}
}

// WithEndpoints reaches the mapped registry hosts at other base URLs (the
// local test bed, a proxy).
func WithEndpoints(m hostmap.Map) Option {
	return func(o *copyOptions) error {
		o.endpoints = m
		return nil
	}
}

// WithRepositoryCreation creates the destination repository with settings
// through api when it does not exist (mirror.EnsureRepository).
func WithRepositoryCreation(api mirror.RepositoryAPI, settings mirror.RepositorySettings) Option {
	return func(o *copyOptions) error {
		if api == nil {
			return errors.New("repository api is nil")
		}
		if err := settings.Validate(); err != nil {
			return err
		}
		o.repoAPI, o.repo = api, settings
		return nil
	}
}

// WithPlatforms keeps only these platforms (os/arch[/variant]) of a
// multi-platform source, as mirror.WithPlatforms does. A single-platform
// source must match one of them.
func WithPlatforms(specs ...string) Option {
	return func(o *copyOptions) error {
		if len(specs) == 0 {
			return errors.New("platforms: none given")
		}
		for _, s := range specs {
			p, err := v1.ParsePlatform(s)
			if err != nil || p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("platform %q: want os/arch[/variant]", s)
			}
		}
		o.platforms = specs
		return nil
	}
}

// WithRateLimitReserve keeps n manifest GETs of the source's advertised
// budget unspent, as mirror.WithRateLimitReserve does: a copy that would dip
// below fails with mirror.ErrRateLimitReserve before spending them.
func WithRateLimitReserve(n int) Option {
	return func(o *copyOptions) error {
		if n < 0 {
			return fmt.Errorf("rate-limit reserve must not be negative, got %d", n)
		}
		o.reserve = n
		return nil
	}
}

// WithLogger makes the copy log to l; without it the copy is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *copyOptions) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		o.log = l
		return nil
	}
}

// CustomizedResult describes one customised copy.
type CustomizedResult struct {
	Source string // the source reference, normalised
	Target string // the destination repository @ TargetDigest
	// SourceDigest is what the source reference resolved to; TargetDigest
	// the customised image or index in the destination.
	SourceDigest string
	TargetDigest string
	// UpToDate is true when the destination already held the source
	// customised with these lines (and platforms): nothing was pulled or
	// pushed.
	UpToDate bool
	// BytesCopied counts blob bytes uploaded; ManifestGETs the manifest GETs
	// sent to the source (what Docker Hub counts as pulls).
	BytesCopied  int64
	ManifestGETs int
}

// CopyCustomized copies src (a tag or digest reference) to dst with lines
// applied (package customize) and returns where it landed. dst names a tag,
// or none to take src's; it cannot name a digest, since a customised image
// has a digest of its own.
//
// It is idempotent at the cost of two free requests: the source is HEADed
// (Docker Hub does not count HEADs) and the destination's image read back;
// when it records the same source digest, lines and platforms (see
// customize.Stamped), nothing is pulled or pushed. Otherwise the source
// manifests are fetched (one GET for an image, one plus one per kept
// platform for an index), the result is built in memory and pushed, blobs
// the destination already has skipped.
func CopyCustomized(ctx context.Context, src, dst string, lines []policy.Customization, opts ...Option) (CustomizedResult, error) {
	o := defaultCopyOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return CustomizedResult{}, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	if _, err := customize.Hash(lines); err != nil {
		return CustomizedResult{}, fmt.Errorf("copy %s: %w", src, err)
	}
	srcRef, err := name.ParseReference(src)
	if err != nil {
		return CustomizedResult{}, fmt.Errorf("source %q: %w", src, err)
	}
	dstRef, err := customizedDestination(dst, srcRef)
	if err != nil {
		return CustomizedResult{}, err
	}
	c := &customCopy{o: &o, src: srcRef, dst: dstRef, lines: lines,
		srcT: &sourceTransport{inner: o.endpoints.Transport(o.transport), reserve: o.reserve, remaining: map[string]int{}},
		dstT: &uploadCounter{inner: o.endpoints.Transport(o.transport)},
	}
	res, err := c.run(ctx)
	res.Source = srcRef.Name()
	res.ManifestGETs = int(c.srcT.gets.Load())
	res.BytesCopied = c.dstT.bytes.Load()
	log := o.log.With(slog.String("image", srcRef.Name()), slog.String("target", dstRef.Name()), slog.String("route", "mirror"))
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "customised copy failed", slog.String("error", err.Error()))
		return res, fmt.Errorf("copy %s to %s customised: %w", srcRef.Name(), dstRef.Name(), err)
	}
	log.LogAttrs(ctx, slog.LevelInfo, "customised copy", slog.String("digest", res.TargetDigest),
		slog.Bool("up_to_date", res.UpToDate), slog.Int64("bytes", res.BytesCopied), slog.Int("manifest_gets", res.ManifestGETs))
	return res, nil
}

func customizedDestination(dst string, src name.Reference) (name.Tag, error) {
	last := dst[strings.LastIndex(dst, "/")+1:]
	switch {
	case strings.Contains(last, "@"):
		return name.Tag{}, fmt.Errorf("destination %q names a digest; a customised image gets a digest of its own: name a tag", dst)
	case strings.Contains(last, ":"):
		t, err := name.NewTag(dst)
		if err != nil {
			return name.Tag{}, fmt.Errorf("destination %q: %w", dst, err)
		}
		return t, nil
	}
	repo, err := name.NewRepository(dst)
	if err != nil {
		return name.Tag{}, fmt.Errorf("destination %q: %w", dst, err)
	}
	t, ok := src.(name.Tag)
	if !ok {
		return name.Tag{}, fmt.Errorf("destination %q has no tag and the source %s has none to take", dst, src)
	}
	return repo.Tag(t.TagStr()), nil
}

type customCopy struct {
	o     *copyOptions
	src   name.Reference
	dst   name.Tag
	lines []policy.Customization
	srcT  *sourceTransport
	dstT  *uploadCounter
}

func (c *customCopy) srcOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(c.o.srcKeychain), remote.WithTransport(c.srcT),
		// A 429 is not retried: the budget is spent, and every try is
		// another refused pull.
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout)}
}

func (c *customCopy) dstOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(c.o.dstKeychain), remote.WithTransport(c.dstT)}
}

func (c *customCopy) run(ctx context.Context) (CustomizedResult, error) {
	var res CustomizedResult
	head, err := remote.Head(c.src, c.srcOpts(ctx)...)
	if err != nil {
		return res, fmt.Errorf("look up source: %w", sourceError(err))
	}
	if d, ok := c.src.(name.Digest); ok {
		if head.Digest, err = v1.NewHash(d.DigestStr()); err != nil {
			return res, fmt.Errorf("source digest: %w", err)
		}
	}
	res.SourceDigest = head.Digest.String()
	var platforms []string
	if head.MediaType.IsIndex() {
		platforms = c.o.platforms
	}
	if digest, ok, err := c.upToDate(ctx, head.Digest, platforms); err != nil {
		return res, err
	} else if ok {
		res.UpToDate, res.TargetDigest = true, digest.String()
		res.Target = c.dst.Context().Digest(digest.String()).Name()
		return res, nil
	}
	if c.o.repoAPI != nil {
		if _, err := mirror.EnsureRepository(ctx, c.o.repoAPI, c.dst.RepositoryStr(), c.o.repo, c.o.log); err != nil {
			return res, err
		}
	}
	pinned := c.src.Context().Digest(head.Digest.String())
	var digest v1.Hash
	switch {
	case head.MediaType.IsIndex():
		idx, err := remote.Index(pinned, c.srcOpts(ctx)...)
		if err != nil {
			return res, fmt.Errorf("fetch source index: %w", sourceError(err))
		}
		var opts []customize.Option
		if len(c.o.platforms) > 0 {
			opts = append(opts, customize.WithPlatforms(c.o.platforms...))
		}
		out, err := customize.ApplyIndex(idx, c.lines, opts...)
		if err != nil {
			return res, sourceError(err)
		}
		if err := remote.WriteIndex(c.dst, out, c.dstOpts(ctx)...); err != nil {
			return res, fmt.Errorf("push: %w", sourceError(err))
		}
		digest, err = out.Digest()
		if err != nil {
			return res, err
		}
	case head.MediaType.IsImage():
		img, err := remote.Image(pinned, c.srcOpts(ctx)...)
		if err != nil {
			return res, fmt.Errorf("fetch source image: %w", sourceError(err))
		}
		if err := c.checkPlatform(img); err != nil {
			return res, err
		}
		out, err := customize.Apply(img, c.lines)
		if err != nil {
			return res, sourceError(err)
		}
		if err := remote.Write(c.dst, out, c.dstOpts(ctx)...); err != nil {
			return res, fmt.Errorf("push: %w", sourceError(err))
		}
		digest, err = out.Digest()
		if err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("%w: source %s has media type %q", mirror.ErrUnsupportedManifest, c.src, head.MediaType)
	}
	res.TargetDigest = digest.String()
	res.Target = c.dst.Context().Digest(digest.String()).Name()
	return res, nil
}

// checkPlatform refuses a single-platform source that a platform filter
// does not keep, as the mirror engine does.
func (c *customCopy) checkPlatform(img v1.Image) error {
	if len(c.o.platforms) == 0 {
		return nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("source config: %w", sourceError(err))
	}
	have := cf.Platform()
	for _, s := range c.o.platforms {
		want, err := v1.ParsePlatform(s)
		if err == nil && have != nil && have.Satisfies(*want) {
			return nil
		}
	}
	return fmt.Errorf("%w: the source is %s, the filter keeps %s", mirror.ErrNoMatchingPlatform, platformOf(have), strings.Join(c.o.platforms, ", "))
}

func platformOf(p *v1.Platform) string {
	if p == nil {
		return "of no platform"
	}
	return p.String()
}

// upToDate reads the destination tag back and reports whether every image
// in it is the source customised with these lines and platforms.
// Reading ECR costs no pull.
func (c *customCopy) upToDate(ctx context.Context, source v1.Hash, platforms []string) (v1.Hash, bool, error) {
	desc, err := remote.Get(c.dst, c.dstOpts(ctx)...)
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return v1.Hash{}, false, nil
	case err != nil:
		return v1.Hash{}, false, fmt.Errorf("look up destination: %w", err)
	}
	stamped := func(img v1.Image) (bool, error) {
		cf, err := img.ConfigFile()
		if err != nil {
			return false, fmt.Errorf("read destination config: %w", err)
		}
		return customize.Stamped(cf, source, c.lines, platforms), nil
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return v1.Hash{}, false, fmt.Errorf("read destination index: %w", err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return v1.Hash{}, false, fmt.Errorf("read destination index: %w", err)
		}
		if len(im.Manifests) == 0 {
			return v1.Hash{}, false, nil
		}
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				return v1.Hash{}, false, nil
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Hash{}, false, fmt.Errorf("read destination image %s: %w", d.Digest, err)
			}
			if ok, err := stamped(img); err != nil || !ok {
				return v1.Hash{}, false, err
			}
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return v1.Hash{}, false, fmt.Errorf("read destination image: %w", err)
		}
		if ok, err := stamped(img); err != nil || !ok {
			return v1.Hash{}, false, err
		}
	default:
		return v1.Hash{}, false, nil
	}
	return desc.Digest, true, nil
}

// sourceError marks a registry's 429 with mirror.ErrRateLimited, so that
// callers tell a spent budget from other failures as they do for plain
// copies.
func sourceError(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusTooManyRequests && !errors.Is(err, mirror.ErrRateLimited) {
		return fmt.Errorf("%w: %w", mirror.ErrRateLimited, err)
	}
	return err
}

// sourceTransport counts the source's manifest GETs and keeps its
// advertised budget (ratelimit-remaining, which Docker Hub sends on HEAD as
// well as GET), refusing a GET that would spend the reserve.
type sourceTransport struct {
	inner   http.RoundTripper
	reserve int
	gets    atomic.Int64

	mu        sync.Mutex
	remaining map[string]int // by registry host
}

func (t *sourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && isManifestPath(req.URL.Path) {
		if err := t.take(req.URL.Host); err != nil {
			return nil, err
		}
		t.gets.Add(1)
	}
	resp, err := t.inner.RoundTrip(req)
	if err == nil {
		t.observe(req.URL.Host, resp.Header)
	}
	return resp, err
}

func (t *sourceTransport) take(host string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	left, ok := t.remaining[host]
	if !ok {
		return nil
	}
	if left-1 < t.reserve {
		return fmt.Errorf("%w: %s advertises %d manifest GETs left and %d are kept in reserve", mirror.ErrRateLimitReserve, host, left, t.reserve)
	}
	// Counted at once, so that parallel GETs of one index do not all pass
	// on the same number; the registry's next answer corrects it.
	t.remaining[host] = left - 1
	return nil
}

func (t *sourceTransport) observe(host string, h http.Header) {
	n, _, ok := mirror.ParseRateLimitHeader(h.Get("RateLimit-Remaining"))
	if !ok {
		return
	}
	t.mu.Lock()
	t.remaining[host] = n
	t.mu.Unlock()
}

func isManifestPath(p string) bool {
	return strings.HasPrefix(p, "/v2/") && strings.Contains(p, "/manifests/")
}

// uploadCounter counts the blob bytes sent to the destination.
type uploadCounter struct {
	inner http.RoundTripper
	bytes atomic.Int64
}

func (t *uploadCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && strings.Contains(req.URL.Path, "/blobs/uploads/") {
		r := req.Clone(req.Context())
		r.Body = &countingBody{ReadCloser: req.Body, n: &t.bytes}
		req = r
	}
	return t.inner.RoundTrip(req)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
