package hubsim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
)

// FuzzServeHTTP sends arbitrary requests, with a token that may pull
// library/nginx, and expects an answer rather than a panic or a server
// error.
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct{ method, path, query, body string }{
		{"GET", "/v2/", "", ""},
		{"GET", "/v2/library/nginx/manifests/latest", "", ""},
		{"HEAD", "/v2/library/nginx/manifests/sha256:0", "", ""},
		{"GET", "/v2/library/nginx/blobs/sha256:zz", "", ""},
		{"POST", "/v2/library/nginx/blobs/uploads/", "mount=sha256:00&from=library/redis", ""},
		{"PUT", "/v2/library/nginx/blobs/uploads/x", "digest=sha256:00", "data"},
		{"PATCH", "/v2/library/nginx/blobs/uploads/x", "", "data"},
		{"DELETE", "/v2/library/nginx/manifests/latest", "", ""},
		{"GET", "/v2/library/nginx/tags/list", "n=-1&last=zzz", ""},
		{"GET", "/v2/_catalog", "n=x", ""},
		{"GET", "/token", "scope=repository:x:pull,push,*&service=registry.docker.io", ""},
		{"POST", "/token", "", "grant_type=password&username=alice&password=x"},
		{"POST", "/_hubsim/remaining", "identity=::1&n=99999999999999999999", ""},
		{"GET", "/v2/../../etc/passwd", "", ""},
		{"GET", "/v2/library/nginx/referrers/sha256:1", "artifactType=x", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body)
	}
	h, err := hubsim.New(hubsim.Config{AnonymousLimit: 5, Users: map[string]string{"alice": "s3cret"}})
	if err != nil {
		f.Fatal(err)
	}
	tok := tokenInProcess(f, h, "repository:library/nginx:pull")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: query},
			Header:     http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/x-www-form-urlencoded"}},
			Body:       http.NoBody,
			Host:       "127.0.0.1:5000",
			RemoteAddr: "192.0.2.1:1234",
		}
		if body != "" {
			req.Body = httpBody(body)
			req.ContentLength = int64(len(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("%s %s?%s: %d %s", method, path, query, rec.Code, rec.Body)
		}
	})
}

func tokenInProcess(tb testing.TB, h *hubsim.Hub, scope string) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/token?scope="+url.QueryEscape(scope), nil))
	var tr struct {
		Token string `json:"token"`
	}
	if err := jsonUnmarshal(rec.Body.String(), &tr); err != nil || tr.Token == "" {
		tb.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return tr.Token
}
