package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/buildinfo"
	"github.com/pullheal/pullheal/internal/policysource"
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

// TestMetricsDocumented keeps the metric list of docs/agent.md whole: every
// metric the agent serves (its own and the policy watcher's) is named there.
func TestMetricsDocumented(t *testing.T) {
	var reg describedNames
	agent.NewMetrics(&reg)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loc, err := policysource.ParseLocation(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := policysource.NewReader(loc, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.Read(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policysource.NewWatcher(r, first, policysource.WatcherConfig{Registerer: &reg}); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/agent.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.names) < 14 {
		t.Fatalf("the agent and the policy watcher described %d metrics (%v); they register more", len(reg.names), reg.names)
	}
	for _, name := range reg.names {
		if !strings.Contains(string(doc), "`"+name) {
			t.Errorf("docs/agent.md does not name the metric %s", name)
		}
	}
}

// describedNames is a prometheus.Registerer that records the name of
// every metric a collector describes, labelled or not, observed or not
// (a registry's Gather leaves out a vector with no children yet).
type describedNames struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describedNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}

func (d *describedNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describedNames) Unregister(prometheus.Collector) bool { return false }
