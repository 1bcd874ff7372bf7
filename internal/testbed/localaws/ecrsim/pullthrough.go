package ecrsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	// refreshInterval is how often a cached tag is compared with upstream.
	refreshInterval = 24 * time.Hour
	// upstreamTimeout bounds one import, whoever is waiting for it.
	upstreamTimeout = 2 * time.Minute
)

// pullThrough answers a manifest reference of a repository under rule
// with the digest to serve, importing from upstream when the cache cannot
// answer.
func (e *ECR) pullThrough(ctx context.Context, rule cacheRule, repoName, ref string) (string, *regError) {
	e.mu.Lock()
	var cached string
	var checked time.Time
	var listed bool
	if repo := e.st.Repositories[repoName]; repo != nil {
		if img := repo.lookup(ref); img != nil {
			cached = img.Digest
		}
		checked = repo.TagCheckedAt[ref]
		listed = isDigest(ref) && repo.referencedByIndex(ref)
	}
	now := e.now()
	e.mu.Unlock()

	if isDigest(ref) {
		switch {
		case cached != "":
			return cached, nil
		case !listed:
			return "", &regError{Status: http.StatusNotFound, Code: "MANIFEST_UNKNOWN",
				Message: "Requested image not found: a pull-through cache cannot import an image by digest; pull it by tag first"}
		}
	} else if cached != "" && now.Sub(checked) < refreshInterval {
		return cached, nil
	}
	// A fetch from upstream is an import by the caller, and a first one
	// creates the repository in the caller's name.
	e.mu.Lock()
	exists := e.st.Repositories[repoName] != nil
	e.mu.Unlock()
	if !exists {
		if rerr := e.authorize(ctx, "ecr:CreateRepository", repoName, createActions); rerr != nil {
			return "", rerr
		}
	}
	if rerr := e.authorize(ctx, "ecr:BatchImportUpstreamImage", repoName, importActions); rerr != nil {
		return "", rerr
	}
	return e.shared(ctx, repoName+"|"+ref, func(ctx context.Context) (string, *regError) {
		return e.importManifest(ctx, rule, repoName, ref, cached)
	})
}

type flight struct {
	done   chan struct{}
	digest string
	err    *regError
}

// shared runs fn once for concurrent requests with the same key. fn runs
// on the first caller's goroutine but not under its cancellation, so a
// puller that goes away does not fail the others.
func (e *ECR) shared(ctx context.Context, key string, fn func(context.Context) (string, *regError)) (string, *regError) {
	e.mu.Lock()
	if f, ok := e.flights[key]; ok {
		e.mu.Unlock()
		select {
		case <-f.done:
			return f.digest, f.err
		case <-ctx.Done():
			return "", &regError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: ctx.Err().Error()}
		}
	}
	f := &flight{done: make(chan struct{})}
	e.flights[key] = f
	e.mu.Unlock()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
	defer cancel()
	f.digest, f.err = fn(fctx)
	e.mu.Lock()
	delete(e.flights, key)
	e.mu.Unlock()
	close(f.done)
	return f.digest, f.err
}

// upstream is one import's connection to a rule's upstream registry.
type upstream struct {
	host   string
	repo   name.Repository
	puller *remote.Puller
	tr     *upstreamTransport
}

func (e *ECR) dialUpstream(rule cacheRule, repoName string) (*upstream, *regError) {
	host := rule.upstreamHost()
	auth, err := e.upstreamAuth(rule)
	if err != nil {
		return nil, &regError{Status: http.StatusForbidden, Code: "DENIED",
			Message: fmt.Sprintf("The pull-through cache rule '%s' cannot use its credentials: %v", rule.Prefix, err)}
	}
	repo, err := name.NewRepository(host + "/" + rule.upstreamPath(repoName))
	if err != nil {
		return nil, &regError{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: fmt.Sprintf("upstream repository: %v", err)}
	}
	tr := e.newUpstreamTransport()
	p, err := remote.NewPuller(
		remote.WithAuth(auth),
		remote.WithTransport(tr),
		remote.WithUserAgent("pullheal-ecrsim"),
		// One attempt: a 429 goes back to the puller, who decides.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryStatusCodes(),
	)
	if err != nil {
		return nil, &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
	}
	return &upstream{host: host, repo: repo, puller: p, tr: tr}, nil
}

type upstreamCredentials struct {
	Username    string `json:"username"`
	AccessToken string `json:"accessToken"`
}

func (e *ECR) upstreamAuth(rule cacheRule) (authn.Authenticator, error) {
	if rule.CredentialArn == "" {
		return authn.Anonymous, nil
	}
	if e.cfg.Secrets == nil {
		return nil, errors.New("the test bed has no Secrets Manager configured")
	}
	s, err := e.cfg.Secrets.SecretString(rule.CredentialArn)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", rule.CredentialArn, err)
	}
	var c upstreamCredentials
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.Username == "" || c.AccessToken == "" {
		return nil, fmt.Errorf("secret %s is not JSON with username and accessToken", rule.CredentialArn)
	}
	return &authn.Basic{Username: c.Username, Password: c.AccessToken}, nil
}

// importManifest fetches ref from upstream into repoName. With cached set
// (a tag due for its daily check) it asks upstream with a HEAD first, GETs
// only on a change, and keeps serving the cached digest when upstream
// cannot answer.
func (e *ECR) importManifest(ctx context.Context, rule cacheRule, repoName, ref, cached string) (string, *regError) {
	up, rerr := e.dialUpstream(rule, repoName)
	if rerr != nil {
		if cached != "" {
			return cached, nil
		}
		return "", rerr
	}
	var upRef name.Reference = up.repo.Tag(ref)
	if isDigest(ref) {
		upRef = up.repo.Digest(ref)
	}
	log := e.cfg.Logger.With("image", upRef.String(), "target", e.RegistryHost()+"/"+repoName+":"+ref)
	if cached != "" {
		desc, err := up.puller.Head(ctx, upRef)
		if err != nil {
			log.Debug("pull-through check failed, serving the cached image: " + err.Error())
			return cached, nil
		}
		if desc.Digest.String() == cached {
			return cached, e.markChecked(repoName, ref)
		}
	}
	log.Debug("pull-through fetch")
	e.mu.Lock()
	e.upstreamGets++
	e.mu.Unlock()
	desc, err := up.puller.Get(ctx, upRef)
	if err != nil {
		log.Debug("pull-through fetch failed: " + err.Error())
		if cached != "" {
			return cached, nil
		}
		return "", up.failure(err)
	}
	digest := desc.Digest.String()
	if isDigest(ref) && digest != ref {
		return "", &regError{Status: http.StatusBadGateway, Code: "UNKNOWN", Message: fmt.Sprintf("upstream %s answered %s with manifest %s", up.host, ref, digest)}
	}
	pm, err := parseManifest(string(desc.MediaType), desc.Manifest)
	if err != nil {
		return "", &regError{Status: http.StatusBadGateway, Code: "UNKNOWN", Message: fmt.Sprintf("upstream %s: %v", up.host, err)}
	}
	var size int64
	for d, s := range pm.blobs {
		if err := e.fetchBlob(ctx, up, d); err != nil {
			log.Debug("pull-through blob fetch failed: " + err.Error())
			if cached != "" {
				return cached, nil
			}
			return "", up.failure(err)
		}
		size += s
	}
	if _, err := e.blobs.put(desc.Digest, bytes.NewReader(desc.Manifest)); err != nil {
		return "", &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: fmt.Sprintf("store manifest: %v", err)}
	}
	return e.commitImport(repoName, ref, digest, pm, int64(len(desc.Manifest)), size)
}

func (e *ECR) fetchBlob(ctx context.Context, up *upstream, digest string) error {
	h, err := v1.NewHash(digest)
	if err != nil {
		return err
	}
	if _, ok := e.blobs.stat(h); ok {
		return nil
	}
	l, err := up.puller.Layer(ctx, up.repo.Digest(digest))
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = e.blobs.put(h, rc)
	return err
}

func (e *ECR) commitImport(repoName, ref, digest string, pm parsedManifest, manifestSize, blobsSize int64) (string, *regError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	repo, ok := e.st.Repositories[repoName]
	if !ok {
		repo, _ = e.createFromTemplateLocked(repoName, createdByCache)
	}
	for d, s := range pm.blobs {
		repo.Blobs[d] = s
	}
	e.addImageLocked(repo, digest, pm, manifestSize, blobsSize)
	if !isDigest(ref) {
		repo.TagCheckedAt[ref] = e.now()
		old, had := repo.ImageTags[ref]
		switch {
		case had && old != digest && repo.tagImmutable(ref):
			// An immutable tag keeps its image; the new one stays untagged.
			digest = old
		default:
			repo.ImageTags[ref] = digest
		}
	}
	if err := e.save(); err != nil {
		return "", &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
	}
	return digest, nil
}

func (e *ECR) markChecked(repoName, ref string) *regError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if repo := e.st.Repositories[repoName]; repo != nil {
		repo.TagCheckedAt[ref] = e.now()
	}
	if err := e.save(); err != nil {
		return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
	}
	return nil
}

// failure turns an upstream error into what ECR tells the puller.
func (up *upstream) failure(err error) *regError {
	var terr *transport.Error
	if errors.As(err, &terr) {
		msg := terr.Error()
		if len(terr.Errors) > 0 {
			msg = terr.Errors[0].Message
		}
		switch terr.StatusCode {
		case http.StatusTooManyRequests:
			h := map[string]string{}
			if ra := up.tr.lastRetryAfter(); ra != "" {
				h["Retry-After"] = ra
			}
			return &regError{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS", Header: h,
				Message: fmt.Sprintf("The pull-through cache was rate limited by upstream registry %s (upstream rate limit exceeded): %s", up.host, msg)}
		case http.StatusNotFound:
			return &regError{Status: http.StatusNotFound, Code: "MANIFEST_UNKNOWN", Message: fmt.Sprintf("Requested image not found in upstream registry %s: %s", up.host, msg)}
		case http.StatusUnauthorized, http.StatusForbidden:
			return &regError{Status: http.StatusForbidden, Code: "DENIED", Message: fmt.Sprintf("Upstream registry %s refused the pull-through cache: %s", up.host, msg)}
		}
	}
	return &regError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: fmt.Sprintf("Unable to pull from upstream registry %s: %v", up.host, err)}
}

// checkUpstream is ValidatePullThroughCacheRule's test: the upstream
// answers, and accepts the rule's credentials.
func (e *ECR) checkUpstream(ctx context.Context, rule cacheRule) error {
	auth, err := e.upstreamAuth(rule)
	if err != nil {
		return err
	}
	reg, err := name.NewRegistry(rule.upstreamHost())
	if err != nil {
		return fmt.Errorf("upstream registry url %q: %w", rule.UpstreamURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rt, err := transport.NewWithContext(ctx, reg, auth, e.newUpstreamTransport(), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("reach upstream registry %s: %w", reg, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, (&url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: "/v2/"}).String(), nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("reach upstream registry %s: %w", reg, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream registry %s answered %s with the rule's credentials", reg, resp.Status)
	}
	return nil
}

// upstreamTransport sends requests for mapped upstream hosts to their
// loopback stand-ins, passes other loopback requests through, refuses
// everything else, and remembers the Retry-After of the last 429.
type upstreamTransport struct {
	base  http.RoundTripper
	hosts map[string]*url.URL

	mu         sync.Mutex
	retryAfter string
}

func (e *ECR) newUpstreamTransport() *upstreamTransport {
	hosts := map[string]*url.URL{}
	for h, base := range e.cfg.Upstreams {
		hosts[h], _ = parseBaseURL(base, true) // validated in Config.Validate
	}
	return &upstreamTransport{base: e.cfg.UpstreamTransport, hosts: hosts}
}

func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	target, ok := t.hosts[req.URL.Host]
	if !ok {
		target, ok = t.hosts[req.URL.Hostname()]
	}
	if ok {
		// The Host header keeps the upstream's name, as if DNS pointed it
		// at the stand-in, so that one stand-in may serve several names.
		host := req.URL.Host
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = target.Scheme, target.Host, host
	} else if !isLoopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("upstream host %s is not reachable from the test bed (not in Config.Upstreams)", req.URL.Host)
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.mu.Lock()
		t.retryAfter = resp.Header.Get("Retry-After")
		t.mu.Unlock()
	}
	return resp, err
}

func (t *upstreamTransport) lastRetryAfter() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retryAfter
}
