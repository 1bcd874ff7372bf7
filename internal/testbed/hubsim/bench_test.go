package hubsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
)

// BenchmarkManifestGET is one metered manifest GET over loopback HTTP, the
// path every simulated pull takes.
func BenchmarkManifestGET(b *testing.B) {
	th := startHub(b, hubsim.Config{AnonymousLimit: 1 << 30})
	tok := th.token(b, "", "", "repository:library/nginx:pull")
	req, err := http.NewRequest(http.MethodGet, th.srv.URL+"/v2/library/nginx/manifests/1.27", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	client := th.srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatal(res.Status)
		}
	}
}

// BenchmarkManifestGETHandler is the same GET without the network: the
// hub's own cost (token check, meter, store).
func BenchmarkManifestGETHandler(b *testing.B) {
	th := startHub(b, hubsim.Config{AnonymousLimit: 1 << 30})
	tok := th.token(b, "", "", "repository:library/nginx:pull")
	req := httptest.NewRequest(http.MethodGet, "/v2/library/nginx/manifests/1.27", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		th.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkNew is the cost of starting a hub (building and storing the
// seeded images) at the default layer size.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hubsim.New(hubsim.Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew1MiBLayers is the start-up cost at a demo-sized layer.
func BenchmarkNew1MiBLayers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hubsim.New(hubsim.Config{LayerSize: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}
