package mirror_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/mirror"
)

// testRegistry is an in-process registry (go-containerregistry's
// pkg/registry) behind a wrapper that counts what reaches it and can inject
// faults. With scoped set it keeps blobs per repository, as ECR does (the
// plain registry shares one blob store between all repositories, which would
// make every blob "present" everywhere); with mount also set it honours
// cross-repository mount requests.
type testRegistry struct {
	t       testing.TB
	srv     *httptest.Server
	host    string
	handler http.Handler
	scoped  bool
	mount   bool
	blobDir string // set for on-disk blob storage

	mu           sync.Mutex
	blobBytesIn  int64 // bytes of blob upload bodies received
	manifestGETs int
	requests     []string
	repoBlobs    map[string]map[string]bool
	commits      []string // uploads the registry committed (201)
	// uploadBytes counts the bytes received by uploads naming a digest
	// (monolithic PUTs and commits), per digest.
	uploadBytes map[string]int64
	// fault, when set, sees every request first; returning true means it
	// answered the request itself.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

type registryOption func(*testRegistry)

func scoped(mount bool) registryOption {
	return func(r *testRegistry) { r.scoped, r.mount = true, mount }
}

// onDisk keeps the registry's blobs in dir (registry.NewDiskBlobHandler).
func onDisk(dir string) registryOption {
	return func(r *testRegistry) {
		r.blobDir = dir
		r.handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)))
	}
}

func newTestRegistry(t testing.TB, opts ...registryOption) *testRegistry {
	t.Helper()
	r := &testRegistry{
		t:           t,
		handler:     registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		repoBlobs:   map[string]map[string]bool{},
		uploadBytes: map[string]int64{},
	}
	for _, o := range opts {
		o(r)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// release shuts the registry down and lets its storage be collected (a
// benchmark makes many).
func (r *testRegistry) release() {
	r.srv.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handler = nil
	r.repoBlobs = nil
}

func (r *testRegistry) ref(repoAndTag string) string { return r.host + "/" + repoAndTag }

func (r *testRegistry) setFault(f func(w http.ResponseWriter, req *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault = f
}

// counts returns blob bytes received and manifest GETs served, and resets them.
func (r *testRegistry) counts() (blobBytes int64, manifestGETs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	blobBytes, manifestGETs = r.blobBytesIn, r.manifestGETs
	r.blobBytesIn, r.manifestGETs = 0, 0
	return blobBytes, manifestGETs
}

// seen returns the requests served so far ("METHOD path?query") and resets them.
func (r *testRegistry) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

// splitBlobPath splits /v2/<repo>/blobs/<rest...>.
func splitBlobPath(p string) (repo, rest string, ok bool) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", "", false
	}
	i := strings.Index(p, "/blobs/")
	if i < 0 {
		return "", "", false
	}
	return p[len("/v2/"):i], p[i+len("/blobs/"):], true
}

type countingBody struct {
	io.ReadCloser
	r      *testRegistry
	digest string
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.mu.Lock()
	b.r.blobBytesIn += int64(n)
	if b.digest != "" {
		b.r.uploadBytes[b.digest] += int64(n)
	}
	b.r.mu.Unlock()
	return n, err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (hijacking).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.RequestURI())
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
		r.manifestGETs++
	}
	fault := r.fault
	r.mu.Unlock()
	if fault != nil && fault(w, req) {
		return
	}
	repo, rest, isBlob := splitBlobPath(req.URL.Path)
	if !isBlob {
		r.handler.ServeHTTP(w, req)
		return
	}
	uploading := strings.HasPrefix(rest, "uploads")
	if uploading && req.Body != nil {
		req.Body = countingBody{req.Body, r, req.URL.Query().Get("digest")}
	}
	if r.scoped {
		switch {
		case !uploading && (req.Method == http.MethodHead || req.Method == http.MethodGet):
			if !r.has(repo, rest) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to repository"}]}`)
				return
			}
		case uploading && req.Method == http.MethodPost && req.URL.Query().Get("mount") != "":
			q := req.URL.Query()
			if r.mount && r.has(q.Get("from"), q.Get("mount")) {
				r.add(repo, q.Get("mount"))
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+q.Get("mount"))
				w.Header().Set("Docker-Content-Digest", q.Get("mount"))
				w.WriteHeader(http.StatusCreated)
				return
			}
			// A registry without mounting ignores the parameters.
			req.URL.RawQuery = ""
		}
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	r.handler.ServeHTTP(rec, req)
	if uploading && rec.status == http.StatusCreated {
		r.mu.Lock()
		r.commits = append(r.commits, req.Method+" "+req.URL.RequestURI())
		r.mu.Unlock()
		if d := req.URL.Query().Get("digest"); d != "" {
			r.add(repo, d)
		}
	}
}

// received returns how many bytes uploads naming digest delivered.
func (r *testRegistry) received(digest string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploadBytes[digest]
}

// committed returns the uploads the registry committed.
func (r *testRegistry) committed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.commits...)
}

func (r *testRegistry) has(repo, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repoBlobs[repo][digest]
}

func (r *testRegistry) add(repo, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.repoBlobs[repo] == nil {
		r.repoBlobs[repo] = map[string]bool{}
	}
	r.repoBlobs[repo][digest] = true
}

// pushIndex writes idx to ref on this registry, going around the wrapper's
// counters.
func (r *testRegistry) pushIndex(ref string, idx v1.ImageIndex) {
	r.t.Helper()
	tag, err := name.ParseReference(r.ref(ref))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		r.t.Fatalf("push %s: %v", ref, err)
	}
	r.counts()
	r.seen()
}

func (r *testRegistry) pushImage(ref string, img v1.Image) {
	r.t.Helper()
	tag, err := name.ParseReference(r.ref(ref))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		r.t.Fatalf("push %s: %v", ref, err)
	}
	r.counts()
	r.seen()
}

// digestOf returns the digest a tag or digest reference names, "" if absent.
func (r *testRegistry) digestOf(ref string) string {
	r.t.Helper()
	parsed, err := name.ParseReference(r.ref(ref))
	if err != nil {
		r.t.Fatal(err)
	}
	d, err := remote.Head(parsed)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// checkAbsentOrComplete fails the test if ref names an image or index whose
// manifests or blobs are not all present.
func (r *testRegistry) checkAbsentOrComplete(ref string) (present bool) {
	r.t.Helper()
	parsed, err := name.ParseReference(r.ref(ref))
	if err != nil {
		r.t.Fatal(err)
	}
	desc, err := remote.Get(parsed)
	if err != nil {
		return false
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			r.t.Fatal(err)
		}
		if err := validate.Index(idx, validate.Fast); err != nil {
			r.t.Errorf("%s names an incomplete index: %v", ref, err)
		}
		return true
	}
	img, err := desc.Image()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := validate.Image(img, validate.Fast); err != nil {
		r.t.Errorf("%s names an incomplete image: %v", ref, err)
	}
	return true
}

// multiArch builds an OCI index of random images, one per platform.
func multiArch(t testing.TB, size, layers int64, platforms ...string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img, err := random.Image(size, layers)
		if err != nil {
			t.Fatal(err)
		}
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: withPlatform(t, img, *plat), Descriptor: v1.Descriptor{Platform: plat}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func mustDigest(t testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// fakeClock stands in for the wall clock; sleeping returns at once and is
// recorded.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

func (c *fakeClock) option() mirror.Option { return mirror.WithClock(c.now, c.sleep) }

// failTimes answers the first n requests matching match with respond, then
// lets requests through.
func failTimes(n int, match func(*http.Request) bool, respond func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) bool {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		mu.Lock()
		if n == 0 {
			mu.Unlock()
			return false
		}
		n--
		mu.Unlock()
		respond(w, r)
		return true
	}
}

func isBlobUpload(r *http.Request) bool {
	return (r.Method == http.MethodPut || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/blobs/uploads/")
}

// isUploadStart matches the POST that opens an upload session (or mounts).
func isUploadStart(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
}

func isBlobGET(r *http.Request) bool {
	_, rest, ok := splitBlobPath(r.URL.Path)
	return ok && r.Method == http.MethodGet && strings.HasPrefix(rest, "sha256:")
}

func isManifestGET(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
}

// serverError drains the request and answers 500, like a registry whose
// storage failed.
func serverError(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"storage failure"}]}`)
}

// resetMidBody sends the first half of what the registry would send, then
// drops the connection.
func (r *testRegistry) resetMidBody(w http.ResponseWriter, req *http.Request) {
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		r.t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// tooManyRequests answers like Docker Hub at its pull limit.
func tooManyRequests(retryAfter string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}`)
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// imageBlobs lists the digests of an image's config and layers.
func imageBlobs(t testing.TB, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{m.Config.Digest.String()}
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// index reads the index ref names.
func (r *testRegistry) index(ref string) *v1.IndexManifest {
	r.t.Helper()
	parsed, err := name.ParseReference(r.ref(ref))
	if err != nil {
		r.t.Fatal(err)
	}
	idx, err := remote.Index(parsed)
	if err != nil {
		r.t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		r.t.Fatal(err)
	}
	return im
}

// refuseMonolithic makes a registry answer a PUT that carries a blob (rather
// than only committing a session) with 405, as registries without
// monolithic uploads do.
func refuseMonolithic(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/uploads/") || r.ContentLength == 0 {
		return false
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = io.WriteString(w, `{"errors":[{"code":"UNSUPPORTED","message":"monolithic upload not supported"}]}`)
	return true
}
