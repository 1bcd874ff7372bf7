package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/buildinfo"
)

// TestBuildInfoMetric reads pullheal_build_info the way Prometheus does,
// from the agent's /metrics.
func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	agent.NewMetrics(reg)
	var a agent.Agent
	srv := httptest.NewServer(a.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	bi := buildinfo.Get()
	want := fmt.Sprintf("pullheal_build_info{commit=%q,goversion=%q,version=%q} 1\n", bi.Commit, bi.GoVersion, bi.Version)
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, body)
	}
	if !strings.HasPrefix(bi.GoVersion, "go1.") {
		t.Errorf("goversion label %q is not a Go version", bi.GoVersion)
	}
}
