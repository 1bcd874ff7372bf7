package hubsim_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// plenty is a limit no test reaches.
const plenty = 10000

func TestSeededImagesPullAnonymously(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{AnonymousLimit: plenty})
	images := th.Images()
	if len(images) == 0 {
		t.Fatal("no seeded images")
	}
	for _, img := range images {
		t.Run(img.Repository+":"+img.Tag, func(t *testing.T) {
			ref := th.ref(t, img.Repository+":"+img.Tag)
			idx, err := remote.Index(ref, remoteOpts(authn.Anonymous)...)
			if err != nil {
				t.Fatalf("pull index: %v", err)
			}
			if err := validate.Index(idx); err != nil {
				t.Fatalf("index does not validate: %v", err)
			}
			got, err := idx.Digest()
			if err != nil || got.String() != img.Digest {
				t.Fatalf("index digest = %v (%v), want %s", got, err, img.Digest)
			}
			if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, img.Platforms); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			for _, p := range img.Platforms {
				plat, err := v1.ParsePlatform(p)
				if err != nil {
					t.Fatal(err)
				}
				pimg, err := remote.Image(ref, remoteOpts(authn.Anonymous, remote.WithPlatform(*plat))...)
				if err != nil {
					t.Fatalf("pull %s: %v", p, err)
				}
				d, _ := pimg.Digest()
				if d.String() != img.PlatformDigests[p] {
					t.Errorf("%s digest = %s, want %s", p, d, img.PlatformDigests[p])
				}
				cf, err := pimg.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if cf.OS != plat.OS || cf.Architecture != plat.Architecture {
					t.Errorf("%s config says %s/%s", p, cf.OS, cf.Architecture)
				}
				if len(cf.Config.Env) == 0 || (len(cf.Config.Cmd) == 0 && len(cf.Config.Entrypoint) == 0) {
					t.Errorf("%s config lacks Env or Cmd: %+v", p, cf.Config)
				}
				layers, err := pimg.Layers()
				if err != nil || len(layers) < 2 {
					t.Errorf("%s has %d layers (%v), want several", p, len(layers), err)
				}
			}
		})
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := hubsim.New(hubsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := hubsim.New(hubsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Images(), b.Images()); diff != "" {
		t.Fatalf("two starts differ (-first +second):\n%s", diff)
	}

	// The golden file pins the digests across machines and releases; docs
	// quote them.
	var lines []string
	for _, img := range a.Images() {
		var pd []string
		for _, p := range img.Platforms {
			pd = append(pd, p+"="+img.PlatformDigests[p])
		}
		lines = append(lines, fmt.Sprintf("%s:%s %s %s", img.Repository, img.Tag, img.Digest, strings.Join(pd, " ")))
	}
	golden(t, "seed.golden", strings.Join(lines, "\n")+"\n")

	big, err := hubsim.New(hubsim.Config{LayerSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if big.Images()[0].Digest == a.Images()[0].Digest {
		t.Error("LayerSize does not change the layers")
	}
}

func TestExpectedRepositoriesAndTags(t *testing.T) {
	t.Parallel()
	h, err := hubsim.New(hubsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, img := range h.Images() {
		got[img.Repository] = append(got[img.Repository], img.Tag)
	}
	want := map[string][]string{
		"library/nginx":   {"1.26", "1.27", "1.27.3", "latest"},
		"library/redis":   {"7", "7.2", "latest"},
		"library/python":  {"3.12", "3.12-slim"},
		"bitnami/redis":   {"7.2", "latest"},
		"hashicorp/vault": {"1.17", "latest"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("seeded tags (-want +got):\n%s", diff)
	}
}

func TestSharedLayers(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{AnonymousLimit: plenty})
	layers := func(t *testing.T, ref, platform string) []string {
		t.Helper()
		plat, _ := v1.ParsePlatform(platform)
		img, err := remote.Image(th.ref(t, ref), remoteOpts(authn.Anonymous, remote.WithPlatform(*plat))...)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range m.Layers {
			out = append(out, l.Digest.String())
		}
		return out
	}
	tests := []struct {
		a, b     string
		platform string
		shared   int // leading layers in common
	}{
		{"library/nginx:1.27", "library/redis:7.2", "linux/amd64", 1},
		{"library/nginx:1.27", "library/python:3.12", "linux/arm64", 1},
		{"library/redis:7.2", "bitnami/redis:7.2", "linux/amd64", 1},
		{"library/python:3.12", "library/python:3.12-slim", "linux/amd64", 1},
		{"library/nginx:1.27", "library/nginx:1.26", "linux/amd64", 1},
		{"library/nginx:1.27", "hashicorp/vault:1.17", "linux/amd64", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b+" "+tt.platform, func(t *testing.T) {
			la, lb := layers(t, tt.a, tt.platform), layers(t, tt.b, tt.platform)
			common := 0
			for common < len(la) && common < len(lb) && la[common] == lb[common] {
				common++
			}
			if common != tt.shared {
				t.Errorf("%d leading layers shared, want %d\n%s: %v\n%s: %v", common, tt.shared, tt.a, la, tt.b, lb)
			}
		})
	}
	// The same base layer differs per architecture.
	amd, arm := layers(t, "library/nginx:1.27", "linux/amd64"), layers(t, "library/nginx:1.27", "linux/arm64")
	if amd[0] == arm[0] {
		t.Error("amd64 and arm64 share a base layer")
	}
	// nginx 1.26 and 1.27 share the entrypoint layer too.
	old := layers(t, "library/nginx:1.26", "linux/amd64")
	if amd[2] != old[2] || amd[1] == old[1] {
		t.Errorf("nginx 1.27 %v and 1.26 %v: want the app layer to differ and the entrypoint to be shared", amd, old)
	}
}

func TestHeadNeverCounts(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{AnonymousLimit: 2})
	ref := th.ref(t, "library/nginx:1.27")
	for range 5 {
		if _, err := remote.Head(ref, remoteOpts(authn.Anonymous)...); err != nil {
			t.Fatalf("HEAD: %v", err)
		}
	}
	tok := th.token(t, "", "", "repository:library/nginx:pull")
	res, _ := th.do(t, http.MethodHead, "/v2/library/nginx/manifests/1.27", tok, nil)
	want := map[string]string{
		hubsim.HeaderLimit:     "2;w=21600",
		hubsim.HeaderRemaining: "2;w=21600",
		hubsim.HeaderSource:    "127.0.0.1",
	}
	if diff := cmp.Diff(want, rateHeaders(res)); diff != "" {
		t.Errorf("HEAD headers (-want +got):\n%s", diff)
	}
	if got := th.Pulls().Total; got != 0 {
		t.Errorf("Pulls().Total = %d after HEADs only, want 0", got)
	}

	// Exhausted, HEAD still answers 200 and reports 0 left.
	th.Exhaust("127.0.0.1")
	res, _ = th.do(t, http.MethodHead, "/v2/library/nginx/manifests/1.27", tok, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get(hubsim.HeaderRemaining) != "0;w=21600" {
		t.Errorf("HEAD when exhausted: %s, remaining %q", res.Status, res.Header.Get(hubsim.HeaderRemaining))
	}
}

func TestLimitTripsAfterNGets(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{AnonymousLimit: 3, Window: time.Hour, Clock: clock})
	for i := range 3 {
		res, _ := th.pullManifest(t, "library/redis", "7.2", nil)
		want := map[string]string{
			hubsim.HeaderLimit:     "3;w=3600",
			hubsim.HeaderRemaining: fmt.Sprintf("%d;w=3600", 2-i),
			hubsim.HeaderSource:    "127.0.0.1",
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %d: %s", i+1, res.Status)
		}
		if diff := cmp.Diff(want, rateHeaders(res)); diff != "" {
			t.Errorf("GET %d headers (-want +got):\n%s", i+1, diff)
		}
	}
	res, body := th.pullManifest(t, "library/redis", "7.2", nil)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("GET 4: %s, want 429", res.Status)
	}
	if body != hubsim.TooManyRequestsBody {
		t.Errorf("429 body = %s", body)
	}
	want := map[string]string{
		hubsim.HeaderLimit:     "3;w=3600",
		hubsim.HeaderRemaining: "0;w=3600",
		hubsim.HeaderSource:    "127.0.0.1",
		"Retry-After":          "3600",
	}
	if diff := cmp.Diff(want, rateHeaders(res)); diff != "" {
		t.Errorf("429 headers (-want +got):\n%s", diff)
	}

	// go-containerregistry sees Docker Hub's error.
	_, err := remote.Image(th.ref(t, "library/redis:7.2"), remoteOpts(authn.Anonymous)...)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusTooManyRequests || len(terr.Errors) != 1 || terr.Errors[0].Code != transport.TooManyRequestsErrorCode {
		t.Fatalf("remote.Image error = %v, want a TOOMANYREQUESTS transport error", err)
	}
	if !strings.Contains(err.Error(), "You have reached your pull rate limit") {
		t.Errorf("error text %q lacks Docker Hub's message", err)
	}

	// Blobs stay free.
	res, _ = th.do(t, http.MethodGet, "/v2/library/redis/blobs/"+firstLayer(t, "library/redis:7.2"), th.token(t, "", "", "repository:library/redis:pull"), nil)
	if res.StatusCode != http.StatusOK {
		t.Errorf("blob GET when exhausted: %s", res.Status)
	}

	got := th.Pulls()
	wantCounts := hubsim.PullCounts{
		Total:                 3,
		ByRepository:          map[string]map[string]int{"library/redis": {"127.0.0.1": 3}},
		Throttled:             2,
		ThrottledByRepository: map[string]map[string]int{"library/redis": {"127.0.0.1": 2}},
	}
	if diff := cmp.Diff(wantCounts, got); diff != "" {
		t.Errorf("Pulls (-want +got):\n%s", diff)
	}
}

// firstLayer returns the digest of the first layer of ref's amd64 image,
// read from a fresh hub (the seed is the same in every hub) so that no
// budget is used.
func firstLayer(t *testing.T, ref string) string {
	t.Helper()
	fresh := startHub(t, hubsim.Config{})
	img, err := remote.Image(fresh.ref(t, ref), remoteOpts(authn.Anonymous)...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers[0].Digest.String()
}

func TestMultiArchPullCountsEachManifest(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{AnonymousLimit: plenty})
	img, err := remote.Image(th.ref(t, "library/nginx:latest"), remoteOpts(authn.Anonymous, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Layers(); err != nil {
		t.Fatal(err)
	}
	if got := th.Pulls().ByRepository["library/nginx"]["127.0.0.1"]; got != 2 {
		t.Errorf("a multi-arch pull counted %d, want 2 (index + platform manifest)", got)
	}
}

func TestAuthenticatedIdentityHasItsOwnBudget(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{
		AnonymousLimit:     1,
		AuthenticatedLimit: 2,
		Users:              map[string]string{"alice": "s3cret", "bob": "dckr_pat_bob"},
	})
	th.Exhaust("127.0.0.1")
	ref := th.ref(t, "library/python:3.12")
	if _, err := remote.Image(ref, remoteOpts(authn.Anonymous)...); err == nil {
		t.Fatal("anonymous pull succeeded with the budget exhausted")
	}
	alice := &authn.Basic{Username: "alice", Password: "s3cret"}
	if _, err := remote.Index(ref, remoteOpts(alice)...); err != nil {
		t.Fatalf("alice's first pull: %v", err)
	}
	if _, err := remote.Index(ref, remoteOpts(alice)...); err != nil {
		t.Fatalf("alice's second pull: %v", err)
	}
	_, err := remote.Index(ref, remoteOpts(alice)...)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's third pull: %v, want 429", err)
	}
	// Bob's access token is a separate budget.
	if _, err := remote.Index(ref, remoteOpts(&authn.Basic{Username: "bob", Password: "dckr_pat_bob"})...); err != nil {
		t.Fatalf("bob's pull: %v", err)
	}

	tok := th.token(t, "alice", "s3cret", "repository:library/python:pull")
	res, _ := th.do(t, http.MethodHead, "/v2/library/python/manifests/3.12", tok, nil)
	want := map[string]string{
		hubsim.HeaderLimit:     "2;w=21600",
		hubsim.HeaderRemaining: "0;w=21600",
		hubsim.HeaderSource:    "alice",
	}
	if diff := cmp.Diff(want, rateHeaders(res)); diff != "" {
		t.Errorf("alice's headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"alice": 2, "bob": 1}, th.Pulls().ByRepository["library/python"]); diff != "" {
		t.Errorf("pulls of library/python (-want +got):\n%s", diff)
	}
}

func TestRetryAfterAndWindow(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{AnonymousLimit: 2, Window: time.Hour, Clock: clock})
	pull := func() *http.Response {
		res, _ := th.pullManifest(t, "hashicorp/vault", "1.17", nil)
		return res
	}
	if res := pull(); res.StatusCode != http.StatusOK {
		t.Fatalf("pull 1: %s", res.Status)
	}
	clock.Advance(10 * time.Minute)
	if res := pull(); res.StatusCode != http.StatusOK {
		t.Fatalf("pull 2: %s", res.Status)
	}
	clock.Advance(90 * time.Second)
	res := pull()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "2910" {
		t.Fatalf("pull 3 at 11.5 min: %s Retry-After %q, want 429 after 2910 s (the first pull frees at 60 min)", res.Status, res.Header.Get("Retry-After"))
	}
	clock.Advance(2910*time.Second - 500*time.Millisecond)
	res = pull()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("half a second early: %s Retry-After %q, want 429, 1", res.Status, res.Header.Get("Retry-After"))
	}
	clock.Advance(500 * time.Millisecond)
	res = pull()
	if res.StatusCode != http.StatusOK || res.Header.Get(hubsim.HeaderRemaining) != "0;w=3600" {
		t.Fatalf("after the first pull left the window: %s remaining %q", res.Status, res.Header.Get(hubsim.HeaderRemaining))
	}
	// The second pull frees ten minutes after the first.
	res = pull()
	if got := res.Header.Get("Retry-After"); res.StatusCode != http.StatusTooManyRequests || got != "600" {
		t.Fatalf("next: %s Retry-After %q, want 429, 600", res.Status, got)
	}
}

func TestBadCredentialsRejected(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{Users: map[string]string{"alice": "s3cret"}})
	for _, auth := range []*authn.Basic{
		{Username: "alice", Password: "wrong"},
		{Username: "mallory", Password: "s3cret"},
	} {
		_, err := remote.Index(th.ref(t, "library/nginx:1.27"), remoteOpts(auth)...)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: err = %v, want a 401 from the token endpoint", auth.Username, err)
		}
	}
	if got := th.Pulls().Total; got != 0 {
		t.Errorf("rejected pulls counted: %d", got)
	}
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{Clock: clock, Users: map[string]string{"alice": "s3cret"}})
	tests := []struct {
		name       string
		method     string
		query      string
		form       string
		user, pass string
		wantStatus int
		wantBody   string // for errors
	}{
		{name: "anonymous", method: "GET", query: "service=registry.docker.io&scope=repository:library/nginx:pull", wantStatus: 200},
		{name: "no scope", method: "GET", query: "service=registry.docker.io", wantStatus: 200},
		{name: "basic", method: "GET", query: "service=registry.docker.io&scope=repository:library/nginx:pull", user: "alice", pass: "s3cret", wantStatus: 200},
		{name: "wrong password", method: "GET", query: "service=registry.docker.io", user: "alice", pass: "nope", wantStatus: 401, wantBody: `{"details":"incorrect username or password"}`},
		{name: "unknown user", method: "GET", query: "service=registry.docker.io", user: "bob", pass: "s3cret", wantStatus: 401, wantBody: `{"details":"incorrect username or password"}`},
		{name: "other service", method: "GET", query: "service=ghcr.io", wantStatus: 400, wantBody: `{"details":"token request: unknown service \"ghcr.io\" (this is registry.docker.io)"}`},
		{name: "oauth password grant", method: "POST", form: "grant_type=password&username=alice&password=s3cret&service=registry.docker.io&scope=repository:library/nginx:pull&client_id=test", wantStatus: 200},
		{name: "oauth wrong password", method: "POST", form: "grant_type=password&username=alice&password=x", wantStatus: 401, wantBody: `{"details":"incorrect username or password"}`},
		{name: "oauth refresh grant", method: "POST", form: "grant_type=refresh_token&refresh_token=x", wantStatus: 400, wantBody: `{"details":"token request: unsupported grant_type \"refresh_token\" (only password)"}`},
		{name: "delete", method: "DELETE", wantStatus: 405, wantBody: `{"details":"token request: method DELETE not allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, th.srv.URL+"/token?"+tt.query, strings.NewReader(tt.form))
			if err != nil {
				t.Fatal(err)
			}
			if tt.form != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			raw := readAll(t, res)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %s, want %d: %s", res.Status, tt.wantStatus, raw)
			}
			if tt.wantStatus != 200 {
				if raw != tt.wantBody {
					t.Errorf("body = %s, want %s", raw, tt.wantBody)
				}
				return
			}
			if err := jsonUnmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			tok, _ := body["token"].(string)
			if len(tok) < 32 || body["access_token"] != tok {
				t.Errorf("token %q, access_token %v: want the same opaque string twice", tok, body["access_token"])
			}
			if body["expires_in"] != float64(300) || body["issued_at"] != clock.Now().Format(time.RFC3339Nano) {
				t.Errorf("expires_in %v issued_at %v", body["expires_in"], body["issued_at"])
			}
		})
	}
}

func TestChallenges(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{Clock: clock, Users: map[string]string{"alice": "s3cret"}})
	realm := `Bearer realm="http://` + th.host + `/token",service="registry.docker.io"`
	anon := th.token(t, "", "", "repository:library/nginx:pull")
	expiring := th.token(t, "", "", "repository:library/redis:pull")
	tests := []struct {
		name, method, path, token string
		wantAuth                  string
		wantBody                  string
	}{
		{
			name: "ping", method: "GET", path: "/v2/",
			wantAuth: realm,
			wantBody: `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`,
		},
		{
			name: "manifest", method: "GET", path: "/v2/library/nginx/manifests/latest",
			wantAuth: realm + `,scope="repository:library/nginx:pull"`,
			wantBody: `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"library/nginx","Action":"pull"}]}]}`,
		},
		{
			name: "blob", method: "HEAD", path: "/v2/bitnami/redis/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
			wantAuth: realm + `,scope="repository:bitnami/redis:pull"`,
		},
		{
			name: "token for another repository", method: "GET", path: "/v2/library/redis/manifests/7", token: anon,
			wantAuth: realm + `,scope="repository:library/redis:pull",error="insufficient_scope"`,
			wantBody: `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"library/redis","Action":"pull"}]}]}`,
		},
		{
			name: "anonymous push", method: "PUT", path: "/v2/library/nginx/manifests/evil", token: anon,
			wantAuth: realm + `,scope="repository:library/nginx:pull,push",error="insufficient_scope"`,
		},
		{
			name: "unknown token", method: "GET", path: "/v2/library/nginx/manifests/latest", token: "forged",
			wantAuth: realm + `,scope="repository:library/nginx:pull",error="invalid_token"`,
		},
		{
			name: "expired token", method: "GET", path: "/v2/library/redis/manifests/7", token: expiring,
			wantAuth: realm + `,scope="repository:library/redis:pull",error="invalid_token"`,
		},
	}
	clock.Advance(hubsim.TokenLifetime)
	anon = th.token(t, "", "", "repository:library/nginx:pull") // issued after the jump
	for i := range tests {
		if tests[i].token != "" && tests[i].token != expiring && tests[i].token != "forged" {
			tests[i].token = anon
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := th.do(t, tt.method, tt.path, tt.token, nil)
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s, want 401", res.Status)
			}
			if got := res.Header.Get("Www-Authenticate"); got != tt.wantAuth {
				t.Errorf("WWW-Authenticate = %s\nwant              %s", got, tt.wantAuth)
			}
			if tt.wantBody != "" && tt.method != "HEAD" && body != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", body, tt.wantBody)
			}
		})
	}
	// With a valid token the ping succeeds.
	if res, _ := th.do(t, "GET", "/v2/", anon, nil); res.StatusCode != http.StatusOK {
		t.Errorf("ping with a token: %s", res.Status)
	}
}

func TestMissingRepositoryIsDeniedLikeDockerHub(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{Users: map[string]string{"alice": "s3cret"}})
	for _, auth := range []authn.Authenticator{authn.Anonymous, &authn.Basic{Username: "alice", Password: "s3cret"}} {
		_, err := remote.Image(th.ref(t, "myorg/private-app:3"), remoteOpts(auth)...)
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized || len(terr.Errors) == 0 || terr.Errors[0].Code != transport.UnauthorizedErrorCode {
			t.Errorf("pull of a missing repository: %v, want 401 UNAUTHORIZED", err)
		}
	}
	// An existing repository with a missing tag is a plain 404 that uses no pull.
	res, _ := th.pullManifest(t, "library/nginx", "0.1-missing", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("missing tag: %s, want 404", res.Status)
	}
	if got := th.Pulls().Total; got != 0 {
		t.Errorf("failed GETs used %d pulls", got)
	}
}

func TestPushNeedsAUser(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{Users: map[string]string{"alice": "s3cret"}})
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref := th.ref(t, "alice/app:1")
	if err := remote.Write(ref, img, remoteOpts(authn.Anonymous)...); err == nil {
		t.Fatal("anonymous push succeeded")
	}
	if err := remote.Write(ref, img, remoteOpts(&authn.Basic{Username: "alice", Password: "s3cret"})...); err != nil {
		t.Fatalf("alice's push: %v", err)
	}
	got, err := remote.Image(ref, remoteOpts(authn.Anonymous)...)
	if err != nil {
		t.Fatalf("anonymous pull of the pushed image: %v", err)
	}
	if want, _ := img.Digest(); mustDigest(t, got) != want {
		t.Errorf("pulled %s, pushed %s", mustDigest(t, got), want)
	}
}

func TestWriteIndex(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{})
	idx, err := random.Index(2048, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := th.WriteIndex(context.Background(), "library/bench", "big", idx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(th.ref(t, "library/bench:big"), remoteOpts(authn.Anonymous)...)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != d {
		t.Errorf("pulled %s, wrote %s", gd, d)
	}
	if err := validate.Index(got); err != nil {
		t.Error(err)
	}
	if _, err := th.WriteImage(context.Background(), "Bad/Name", "x", mustRandomImage(t)); err == nil || !strings.Contains(err.Error(), `"Bad/Name"`) {
		t.Errorf("bad repository: err = %v", err)
	}
	if _, err := th.WriteImage(context.Background(), "library/bench", "bad tag", mustRandomImage(t)); err == nil || !strings.Contains(err.Error(), "bad tag") {
		t.Errorf("bad tag: err = %v", err)
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{AnonymousLimit: 5, Clock: clock})
	if res, _ := th.pullManifest(t, "library/nginx", "1.27", nil); res.StatusCode != http.StatusOK {
		t.Fatal(res.Status)
	}
	res, body := th.control(t, "GET", "/_hubsim/pulls")
	if res.StatusCode != http.StatusOK || body != `{"total":1,"byRepository":{"library/nginx":{"127.0.0.1":1}},"throttled":0,"throttledByRepository":{}}` {
		t.Fatalf("pulls: %s %s", res.Status, body)
	}

	if res, body := th.control(t, "POST", "/_hubsim/exhaust?identity=127.0.0.1"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("exhaust: %s %s", res.Status, body)
	}
	if res, _ := th.pullManifest(t, "library/nginx", "1.27", nil); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after exhaust: %s", res.Status)
	}
	if res, body := th.control(t, "POST", "/_hubsim/remaining?identity=127.0.0.1&n=1"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("remaining: %s %s", res.Status, body)
	}
	res, _ = th.pullManifest(t, "library/nginx", "1.27", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get(hubsim.HeaderRemaining) != "0;w=21600" {
		t.Fatalf("after remaining=1: %s %v", res.Status, rateHeaders(res))
	}
	if res, _ := th.control(t, "POST", "/_hubsim/reset"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %s", res.Status)
	}
	res, _ = th.pullManifest(t, "library/nginx", "1.27", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get(hubsim.HeaderRemaining) != "4;w=21600" {
		t.Fatalf("after reset: %s %v", res.Status, rateHeaders(res))
	}
	if got := th.Pulls().Total; got != 1 {
		t.Errorf("after reset and one pull, Total = %d", got)
	}

	res, body = th.control(t, "GET", "/_hubsim/images")
	var images []hubsim.SeededImage
	if err := jsonUnmarshal(body, &images); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("images: %s %v", res.Status, err)
	}
	if diff := cmp.Diff(th.Images(), images); diff != "" {
		t.Errorf("images over HTTP (-Images() +JSON):\n%s", diff)
	}

	errs := []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/_hubsim/exhaust", 400, `{"error":"/_hubsim/exhaust: query parameter identity is required"}`},
		{"POST", "/_hubsim/remaining?identity=alice&n=lots", 400, `{"error":"/_hubsim/remaining: query parameter n=\"lots\" is not an integer"}`},
		{"GET", "/_hubsim/reset", 405, `{"error":"GET /_hubsim/reset: use POST"}`},
		{"POST", "/_hubsim/pulls", 405, `{"error":"POST /_hubsim/pulls: use GET"}`},
		{"GET", "/_hubsim/nope", 404, `{"error":"hubsim control \"/_hubsim/nope\" does not exist (pulls, images, exhaust, remaining, reset)"}`},
	}
	for _, e := range errs {
		res, body := th.control(t, e.method, e.path)
		if res.StatusCode != e.status || body != e.body {
			t.Errorf("%s %s: %d %s\nwant %d %s", e.method, e.path, res.StatusCode, body, e.status, e.body)
		}
	}
}

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprint("trust=", trust), func(t *testing.T) {
			th := startHub(t, hubsim.Config{AnonymousLimit: 1, TrustForwardedFor: trust})
			hosts := []string{"10.0.0.1", "10.0.0.2, 192.0.2.7", "2001:db8:1:2::99"}
			var sources []string
			var statuses []int
			for _, xff := range hosts {
				res, _ := th.pullManifest(t, "library/redis", "7", map[string]string{"X-Forwarded-For": xff})
				statuses = append(statuses, res.StatusCode)
				sources = append(sources, res.Header.Get(hubsim.HeaderSource))
			}
			wantSources := []string{"10.0.0.1", "10.0.0.2", "2001:db8:1:2::/64"}
			wantStatuses := []int{200, 200, 200}
			if !trust {
				wantSources = []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}
				wantStatuses = []int{200, 429, 429}
			}
			if diff := cmp.Diff(wantSources, sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConcurrentPullsRespectTheLimit(t *testing.T) {
	t.Parallel()
	const limit, clients = 20, 60
	th := startHub(t, hubsim.Config{AnonymousLimit: limit})
	tok := th.token(t, "", "", "repository:library/nginx:pull")
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			res, _ := th.do(t, http.MethodGet, "/v2/library/nginx/manifests/latest", tok, nil)
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[int]int{200: limit, 429: clients - limit}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	p := th.Pulls()
	if p.Total != limit || p.Throttled != clients-limit {
		t.Errorf("Pulls = %+v", p)
	}
}

// TestRaw429MatchesDockerHub reads the 429 off the wire and compares it,
// status line, headers and body bytes, with Docker Hub's (Date aside; header
// names compared case-insensitively, as HTTP defines them).
func TestRaw429MatchesDockerHub(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	th := startHub(t, hubsim.Config{AnonymousLimit: 100, Clock: clock})
	th.Exhaust("127.0.0.1")
	tok := th.token(t, "", "", "repository:library/nginx:pull")

	conn, err := net.Dial("tcp", th.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v2/library/nginx/manifests/latest HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", th.host, tok)
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ": ")
		if strings.EqualFold(k, "Date") {
			continue
		}
		headers = append(headers, strings.ToLower(k)+": "+v)
	}
	sort.Strings(headers)
	// Exactly Content-Length bytes follow; the connection stays open.
	body := make([]byte, len(hubsim.TooManyRequestsBody))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimRight(status, "\r\n") + "\n" + strings.Join(headers, "\n") + "\n\n" + string(body)

	want, err := os.ReadFile(filepath.Join("testdata", "dockerhub-429.http"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimSuffix(string(want), "\n"), got); diff != "" {
		t.Errorf("raw 429 (-Docker Hub +hubsim):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  hubsim.Config
		want string
	}{
		{"zero", hubsim.Config{}, ""},
		{"negative anonymous", hubsim.Config{AnonymousLimit: -1}, "invalid hubsim config: AnonymousLimit -1 is negative"},
		{"negative authenticated", hubsim.Config{AuthenticatedLimit: -5}, "invalid hubsim config: AuthenticatedLimit -5 is negative"},
		{"negative window", hubsim.Config{Window: -time.Second}, "invalid hubsim config: Window -1s is negative"},
		{"fractional window", hubsim.Config{Window: 1500 * time.Millisecond}, "invalid hubsim config: Window 1.5s is not a whole number of seconds (ratelimit headers carry seconds)"},
		{"huge layers", hubsim.Config{LayerSize: 1 << 30}, "invalid hubsim config: LayerSize 1073741824 is outside 0..268435456"},
		{"user name", hubsim.Config{Users: map[string]string{"Alice": "x"}}, `invalid hubsim config: user name "Alice" must be 1 to 30 lowercase letters or digits`},
		{"ip-like user name", hubsim.Config{Users: map[string]string{"10.0.0.1": "x"}}, `invalid hubsim config: user name "10.0.0.1" must be 1 to 30 lowercase letters or digits`},
		{"empty password", hubsim.Config{Users: map[string]string{"alice": ""}}, `invalid hubsim config: user "alice" has an empty password`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
			if tt.want != "" {
				if _, err := hubsim.New(tt.cfg); !errors.Is(err, hubsim.ErrInvalidConfig) {
					t.Errorf("New: %v, want ErrInvalidConfig", err)
				}
			}
		})
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	p := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustRandomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
