package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Option configures a Mirror (New) or one copy (Mirror.Copy, where it
// applies on top of the Mirror's options for that copy only).
type Option func(*options) error

type options struct {
	jobs          int
	log           *slog.Logger
	srcKeychain   authn.Keychain
	dstKeychain   authn.Keychain
	transport     http.RoundTripper
	endpoints     map[string]*url.URL // canonical registry host -> base URL
	platforms     []v1.Platform
	progress      func(Progress)
	mountHints    map[v1.Hash][]string // digest -> repositories of the destination registry
	reserve       int
	gauge         Gauge
	transform     Transform
	insecure      bool
	cache         *BlobCache
	referrers     bool
	attempts      int
	backoff       time.Duration
	maxRetryAfter time.Duration
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
	repoAPI       RepositoryAPI
	repoSettings  RepositorySettings
}

// Defaults live here and nowhere else.
const (
	defaultJobs          = 6
	defaultAttempts      = 4
	defaultBackoff       = 500 * time.Millisecond
	defaultMaxRetryAfter = time.Minute
)

func defaultOptions() options {
	return options{
		jobs:          defaultJobs,
		log:           slog.New(slog.DiscardHandler),
		srcKeychain:   authn.DefaultKeychain,
		dstKeychain:   authn.DefaultKeychain,
		transport:     sharedTransport(),
		endpoints:     map[string]*url.URL{},
		mountHints:    map[v1.Hash][]string{},
		attempts:      defaultAttempts,
		backoff:       defaultBackoff,
		maxRetryAfter: defaultMaxRetryAfter,
		now:           time.Now,
		sleep:         sleepContext,
		referrers:     true,
	}
}

// sharedTransport is the transport of every Mirror not given one, made
// once per process: as with http.DefaultTransport (which crane's copies
// share), a Mirror made after another reuses its idle connections instead
// of dialling (and, for HTTPS, handshaking) again.
var sharedTransport = sync.OnceValue(NewTransport)

// defaultTransport is tuned for a few hosts carrying many large parallel
// streams: enough idle connections per host that every job keeps its own.
func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   DialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
	}
}

// clone returns a copy whose maps and slices can be changed without touching o.
func (o options) clone() options {
	o.endpoints = maps.Clone(o.endpoints)
	o.platforms = slices.Clone(o.platforms)
	hints := make(map[v1.Hash][]string, len(o.mountHints))
	for k, v := range o.mountHints {
		hints[k] = slices.Clone(v)
	}
	o.mountHints = hints
	return o
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WithJobs sets how many blobs (and child manifests) are copied at once.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("jobs must be positive, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithLogger makes the mirror log to l. Without it the mirror is silent.
// Credentials and tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		o.log = l
		return nil
	}
}

// WithSourceKeychain sets how credentials for source registries are found.
// The default is authn.DefaultKeychain (the docker config file), anonymous
// where it has nothing. See NewDockerHubKeychain for Secrets Manager.
func WithSourceKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("source keychain is nil")
		}
		o.srcKeychain = k
		return nil
	}
}

// WithDestinationKeychain sets how credentials for the destination registry
// are found; for ECR pass an *ECRKeychain. The default is
// authn.DefaultKeychain.
func WithDestinationKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("destination keychain is nil")
		}
		o.dstKeychain = k
		return nil
	}
}

// WithTransport sets the HTTP transport under the mirror's own layers
// (endpoint mapping, rate-limit accounting, retries, authentication).
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("transport is nil")
		}
		o.transport = rt
		return nil
	}
}

// WithEndpoint sends every request for registry host to baseURL instead
// (scheme and host[:port], no path), e.g. WithEndpoint("docker.io",
// "http://127.0.0.1:5000") for a local stand-in. Docker Hub's names
// (docker.io, index.docker.io, registry-1.docker.io) are one registry: mapping
// any of them maps all. References keep their original names; only the
// connection goes elsewhere.
func WithEndpoint(host, baseURL string) Option {
	return func(o *options) error {
		if host == "" {
			return errors.New("endpoint host is empty")
		}
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint for %s: %q is not an http(s)://host[:port] URL", host, baseURL)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("endpoint for %s: %q must not carry a path, query or user", host, baseURL)
		}
		reg, err := name.NewRegistry(host)
		if err != nil {
			return fmt.Errorf("endpoint host %q: %w", host, err)
		}
		base := &url.URL{Scheme: u.Scheme, Host: u.Host}
		for _, h := range registryAliases(reg.RegistryStr()) {
			o.endpoints[h] = base
		}
		return nil
	}
}

// registryAliases lists the host names under which one registry is reached.
func registryAliases(canonical string) []string {
	if canonical == name.DefaultRegistry {
		return []string{name.DefaultRegistry, "docker.io", "registry-1.docker.io"}
	}
	return []string{canonical}
}

// WithPlatforms keeps only the named platforms ("linux/amd64",
// "linux/arm64/v8", "windows/amd64:10.0.17763") of a multi-platform image. The
// mirror then pushes a new index listing only those; its digest differs from
// the source's (Result.TargetDigest says which it is), unless the filter keeps
// every entry, in which case the source index is copied unchanged. Entries
// without a platform (attestations, nested indexes) are dropped by a filter.
// A single-platform image is copied as is if its platform matches.
func WithPlatforms(specs ...string) Option {
	return func(o *options) error {
		if len(specs) == 0 {
			return errors.New("platforms: none given")
		}
		ps, err := ParsePlatforms(specs...)
		if err != nil {
			return err
		}
		o.platforms = ps
		return nil
	}
}

// ParsePlatforms parses platform specs as WithPlatforms takes them; it is
// the one place they are validated.
func ParsePlatforms(specs ...string) ([]v1.Platform, error) {
	if len(specs) == 0 {
		return nil, errors.New("platforms: none given")
	}
	ps := make([]v1.Platform, 0, len(specs))
	for _, s := range specs {
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("platforms: empty platform")
		}
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", s, err)
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant]", s)
		}
		ps = append(ps, *p)
	}
	return ps, nil
}

// WithProgress calls fn as bytes move. Calls are serialised; fn must not
// block for long.
func WithProgress(fn func(Progress)) Option {
	return func(o *options) error {
		if fn == nil {
			return errors.New("progress func is nil")
		}
		o.progress = fn
		return nil
	}
}

// WithMountHint tells the mirror that repository (a repository of the
// destination registry, without host) holds blob digest, so that it can be
// mounted instead of uploaded. The mirror also remembers, per Mirror, every
// blob it pushed or found; hints add what it cannot know (other processes,
// earlier runs).
func WithMountHint(digest, repository string) Option {
	return func(o *options) error {
		h, err := v1.NewHash(digest)
		if err != nil {
			return fmt.Errorf("mount hint digest %q: %w", digest, err)
		}
		if !repositoryPattern.MatchString(repository) {
			return fmt.Errorf("mount hint repository %q is not a repository path", repository)
		}
		if !slices.Contains(o.mountHints[h], repository) {
			o.mountHints[h] = append(o.mountHints[h], repository)
		}
		return nil
	}
}

// WithRateLimitReserve keeps n manifest GETs of a source registry's
// advertised budget (the ratelimit-remaining header, as Docker Hub sends it)
// unspent: a copy that would dip below n fails with ErrRateLimitReserve before
// it spends them. Registries that advertise no budget are not limited.
func WithRateLimitReserve(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("rate-limit reserve must not be negative, got %d", n)
		}
		o.reserve = n
		return nil
	}
}

// Gauge receives a number; a prometheus.Gauge is one. The mirror takes
// this much of it so that it does not depend on a metrics library.
type Gauge interface {
	Set(float64)
}

// WithRateLimitGauge sets g to the remaining manifest-GET budget every time a
// source registry advertises one.
func WithRateLimitGauge(g Gauge) Option {
	return func(o *options) error {
		if g == nil {
			return errors.New("rate-limit gauge is nil")
		}
		o.gauge = g
		return nil
	}
}

// WithRetry sets how often a failed request or blob transfer is tried in all
// (attempts >= 1) and the first backoff, which doubles each time, with jitter.
// A Retry-After header overrides the backoff.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 {
			return fmt.Errorf("retry attempts must be at least 1, got %d", attempts)
		}
		if backoff <= 0 {
			return fmt.Errorf("retry backoff must be positive, got %s", backoff)
		}
		o.attempts = attempts
		o.backoff = backoff
		return nil
	}
}

// WithMaxRetryAfter bounds how long the mirror waits when a registry answers
// 429 or 503 with Retry-After; a longer wait fails at once with
// ErrRateLimited instead of blocking.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("max retry-after must be positive, got %s", d)
		}
		o.maxRetryAfter = d
		return nil
	}
}

// WithClock replaces the wall clock and the sleeping between retries, for
// tests: sleep must return early with ctx.Err() when ctx ends.
func WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) error {
		if now == nil || sleep == nil {
			return errors.New("clock: now and sleep must both be set")
		}
		o.now = now
		o.sleep = sleep
		return nil
	}
}

// WithRepositoryCreation makes the mirror create the destination repository
// with settings through api when it does not exist (once per Mirror and
// repository), and, with settings.Reconcile, bring an existing one in line.
func WithRepositoryCreation(api RepositoryAPI, settings RepositorySettings) Option {
	return func(o *options) error {
		if api == nil {
			return errors.New("repository api is nil")
		}
		if err := settings.Validate(); err != nil {
			return err
		}
		o.repoAPI = api
		o.repoSettings = settings
		return nil
	}
}

// WithTransform rebuilds the source on its way to the destination (package
// customize provides one) instead of copying it byte for byte. The result
// has digests of its own, so the destination must name a tag (or none, to
// take the source's). Blobs the result shares with the source stream from
// the source as in a plain copy; new ones are uploaded from memory.
func WithTransform(t Transform) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("transform is nil")
		}
		o.transform = t
		return nil
	}
}

// WithInsecure allows registries to be reached over plain HTTP (an https
// attempt comes first, as crane --insecure does). Loopback and private
// (RFC 1918) addresses are reached that way without it.
func WithInsecure() Option {
	return func(o *options) error {
		o.insecure = true
		return nil
	}
}

func (o *options) nameOptions() []name.Option {
	if o.insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// WithBlobCache makes the Mirror read and record in c which repositories
// of a destination registry hold which blobs, to mount them in later runs
// (only in New). The caller saves it (BlobCache.Save) when the copies are
// done.
func WithBlobCache(c *BlobCache) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("blob cache is nil")
		}
		o.cache = c
		return nil
	}
}

// WithReferrers sets whether what is attached to an image (signatures,
// attestations, SBOMs: the OCI referrers of its digest, and cosign's
// sha256-DIGEST.sig and .att tags) is copied with it. It is on by default,
// and applies only when the copy keeps the source digest (no platform
// filter that drops entries, no transform): what is attached to the source
// says nothing about another digest. An image already in place is not
// looked at again (a repeat stays one HEAD upstream).
func WithReferrers(on bool) Option {
	return func(o *options) error {
		o.referrers = on
		return nil
	}
}
