package hubsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// newTestClock returns a hand-moved clock standing at a fixed time.
func newTestClock() *wire.ManualClock {
	return wire.NewManualClock(time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC))
}

// testHub is a hub served on loopback.
type testHub struct {
	*hubsim.Hub
	srv  *httptest.Server
	host string // 127.0.0.1:PORT
}

func startHub(t testing.TB, cfg hubsim.Config) *testHub {
	t.Helper()
	h, err := hubsim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &testHub{Hub: h, srv: srv, host: u.Host}
}

func (th *testHub) ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(th.host + "/" + s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return r
}

// remoteOpts are go-containerregistry's defaults minus its retries, so a
// 429 reaches the test at once and is counted once.
func remoteOpts(auth authn.Authenticator, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{
		remote.WithAuth(auth),
		remote.WithRetryStatusCodes(),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}, extra...)
}

// token fetches a token from the hub's token endpoint; user "" is anonymous.
func (th *testHub) token(t testing.TB, user, pass string, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {hubsim.Service}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, th.srv.URL+"/token?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("token: %s: %s", res.Status, body)
	}
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token body %s: %v", body, err)
	}
	return tr.Token
}

// do sends one registry request with a bearer token and returns the
// response with its body read.
func (th *testHub) do(t testing.TB, method, path, token string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, th.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// pullManifest GETs repo's manifest ref with a fresh anonymous token.
func (th *testHub) pullManifest(t testing.TB, repo, ref string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	tok := th.token(t, "", "", "repository:"+repo+":pull")
	return th.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, tok, hdr)
}

func (th *testHub) control(t testing.TB, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, th.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, strings.TrimSpace(string(body))
}

// rateHeaders picks the rate-limit headers of a response.
func rateHeaders(res *http.Response) map[string]string {
	out := map[string]string{}
	for _, k := range []string{hubsim.HeaderLimit, hubsim.HeaderRemaining, hubsim.HeaderSource, "Retry-After"} {
		if v := res.Header.Get(k); v != "" {
			out[k] = v
		}
	}
	return out
}

func readAll(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func httpBody(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
