package hostmap_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/hostmap"
)

func TestTransportRedirectsMappedHosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	m, err := hostmap.Parse("docker.io=" + srv.URL + ", 123456789012.dkr.ecr.us-east-1.amazonaws.com=" + srv.URL + "/prefix")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: m.Transport(nil)}
	for url, want := range map[string]string{
		"https://registry-1.docker.io/v2/library/nginx/manifests/1.27":           "/v2/library/nginx/manifests/1.27",
		"https://index.docker.io/v2/":                                            "/v2/",
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub/x/y": "/prefix/v2/docker-hub/x/y",
	} {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("GET %s reached %q, want %q", url, body, want)
		}
		if resp.Request.URL.String() != url {
			t.Errorf("response names %s, want the original %s", resp.Request.URL, url)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"docker.io", "=http://x", "docker.io=ftp://x", "docker.io=http://", "a b=http://x"} {
		if _, err := hostmap.Parse(spec); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want a one-line error", spec, err)
		}
	}
	m, err := hostmap.Parse("")
	if err != nil || len(m) != 0 {
		t.Errorf("Parse(\"\") = %v, %v", m, err)
	}
}
