package hubsim_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
)

func TestConfiguredRealm(t *testing.T) {
	for _, tc := range []struct{ realm, want string }{
		{"", `Bearer realm="http://registry-1.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`},
		{"https://auth.docker.io/token", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`},
	} {
		h, err := hubsim.New(hubsim.Config{Realm: tc.realm})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "http://registry-1.docker.io/v2/library/nginx/manifests/1.27", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != tc.want {
			t.Errorf("realm %q: challenge %q, want %q", tc.realm, got, tc.want)
		}
	}
}
