package ecrsim_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// bed is one ECR stand-in with its Secrets Manager, served on loopback:
// the API (with Secrets Manager) on one server, the registry on another.
type bed struct {
	ecr     *ecrsim.ECR
	api     *ecr.Client
	sm      *secretsmanager.Client
	secrets *secretsim.Secrets
	clk     *wire.ManualClock
	regURL  string
	regHost string
}

func newBed(t testing.TB, mutate ...func(*ecrsim.Config)) *bed {
	t.Helper()
	clk := wire.NewManualClock(epoch)
	secrets, err := secretsim.New(secretsim.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ecrsim.Config{Clock: clk, Secrets: secrets}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := ecrsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveBed(t, e, secrets, clk)
}

func serveBed(t testing.TB, e *ecrsim.ECR, secrets *secretsim.Secrets, clk *wire.ManualClock) *bed {
	t.Helper()
	reg := httptest.NewServer(e.Registry())
	t.Cleanup(reg.Close)
	if err := e.SetRegistryURL(reg.URL); err != nil {
		t.Fatal(err)
	}
	awsCfg := simtest.Config(simtest.Serve(t, e.Service(), secrets.Service()))
	return &bed{
		ecr:     e,
		api:     ecr.NewFromConfig(awsCfg),
		sm:      secretsmanager.NewFromConfig(awsCfg),
		secrets: secrets,
		clk:     clk,
		regURL:  reg.URL,
		regHost: strings.TrimPrefix(reg.URL, "http://"),
	}
}

// auth logs in the way docker login does: GetAuthorizationToken, then
// base64-decode "AWS:PASSWORD".
func (b *bed) auth(t testing.TB) authn.Authenticator {
	t.Helper()
	out, err := b.api.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		t.Fatalf("token %q is not USER:PASSWORD", raw)
	}
	return &authn.Basic{Username: user, Password: pass}
}

// opts are the remote options of a registry client: ECR credentials and no
// retries, so that error paths answer at once.
func (b *bed) opts(t testing.TB) []remote.Option {
	return []remote.Option{remote.WithAuth(b.auth(t)), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
}

func (b *bed) ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(b.regHost + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (b *bed) createRepo(t testing.TB, in *ecr.CreateRepositoryInput) {
	t.Helper()
	if _, err := b.api.CreateRepository(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func (b *bed) push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	if err := remote.Write(b.ref(t, ref), img, b.opts(t)...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// registryError extracts the distribution API error of a failed remote
// call.
func registryError(t testing.TB, err error) *transport.Error {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("error %v is not a registry error", err)
	}
	return terr
}

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// upstream is an in-process upstream registry (go-containerregistry's
// registry) that may require Basic credentials and may answer manifest
// GETs with Docker Hub's 429. Tests push through a second server on the
// same storage (host), which neither asks for credentials nor counts.
type upstream struct {
	srv  *httptest.Server
	host string
	user string
	pass string
	body string // the 429 body

	mu          sync.Mutex
	rateLimited bool
	gets, heads int
}

func newUpstream(t testing.TB, user, pass string) *upstream {
	t.Helper()
	u := &upstream{user: user, pass: pass, body: readFixture(t, "dockerhub-429.json")}
	engine := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.user != "" {
			user, pass, ok := r.BasicAuth()
			if !ok || user != u.user || pass != u.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
				return
			}
		}
		if strings.Contains(r.URL.Path, "/manifests/") {
			u.mu.Lock()
			limited := u.rateLimited && r.Method == http.MethodGet
			switch r.Method {
			case http.MethodGet:
				u.gets++
			case http.MethodHead:
				u.heads++
			}
			u.mu.Unlock()
			if limited {
				w.Header().Set("Retry-After", "3600")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, u.body)
				return
			}
		}
		engine.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	admin := httptest.NewServer(engine)
	t.Cleanup(admin.Close)
	u.host = strings.TrimPrefix(admin.URL, "http://")
	return u
}

func (u *upstream) setRateLimited(v bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rateLimited = v
}

func (u *upstream) counts() (gets, heads int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gets, u.heads
}

func (u *upstream) opts() []remote.Option {
	o := []remote.Option{remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	if u.user != "" {
		o = append(o, remote.WithAuth(&authn.Basic{Username: u.user, Password: u.pass}))
	}
	return o
}

// push writes img to the upstream's storage; it is not counted.
func (u *upstream) push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(u.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, u.opts()...); err != nil {
		t.Fatalf("push upstream %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (u *upstream) pushIndex(t testing.TB, ref string, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(u.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, u.opts()...); err != nil {
		t.Fatalf("push upstream %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomImage(t testing.TB) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// newTokenUpstream is an upstream with Docker Hub's token flow: the
// registry wants a Bearer token, issued at the realm
// https://auth.docker.io/token against Basic credentials. The realm names
// a host, as go-containerregistry refuses token realms on IP literals; the
// test bed maps that host to the same loopback server. Tests push through
// a second server on the same storage (host), which asks for nothing.
func newTokenUpstream(t testing.TB, user, pass string) *upstream {
	t.Helper()
	u := &upstream{user: user, pass: pass, body: readFixture(t, "dockerhub-429.json")}
	engine := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	const token = "hub-token-for-tests"
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Each name reaches the server as itself, as DNS would send it.
		if want := map[bool]string{true: "auth.docker.io", false: "registry-1.docker.io"}[r.URL.Path == "/token"]; r.Host != want {
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"this server is `+want+`, not `+r.Host+`"}]}`)
			return
		}
		if r.URL.Path == "/token" {
			user, pass, ok := r.BasicAuth()
			if !ok || user != u.user || pass != u.pass {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"details":"incorrect username or password"}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token":"`+token+`","access_token":"`+token+`","expires_in":300}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		engine.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	admin := httptest.NewServer(engine)
	t.Cleanup(admin.Close)
	u.host = strings.TrimPrefix(admin.URL, "http://")
	return u
}
