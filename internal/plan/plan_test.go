package plan_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

func readJSON(t testing.TB, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func loadPolicy(t testing.TB, file string) *policy.Policy {
	t.Helper()
	if file == "" {
		return nil
	}
	p, err := policy.Load(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// configs builds the named configurations of testdata/configs.json the way
// the CLI does: flags through ParsePullThrough, the policy through Load.
func configs(t testing.TB) map[string]plan.Config {
	t.Helper()
	var raw map[string]struct {
		Registry, MirrorPrefix, Policy string
		PullThrough                    []string
	}
	readJSON(t, "configs.json", &raw)
	out := map[string]plan.Config{}
	for name, r := range raw {
		cfg := plan.Config{Registry: r.Registry, MirrorPrefix: r.MirrorPrefix, Policy: loadPolicy(t, r.Policy)}
		for _, s := range r.PullThrough {
			rule, err := plan.ParsePullThrough(s)
			if err != nil {
				t.Fatal(err)
			}
			cfg.PullThrough = append(cfg.PullThrough, rule)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("config %s: %v", name, err)
		}
		out[name] = cfg
	}
	return out
}

type stepView struct {
	Route  plan.Route
	Target string
	Reason string
	Rule   string
}

func TestFor(t *testing.T) {
	cfgs := configs(t)
	var cases []struct {
		Name, Config, Image, Cluster, Service, Family string
		stepView
	}
	readJSON(t, "cases.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg, ok := cfgs[tc.Config]
			if !ok {
				t.Fatalf("no config %q", tc.Config)
			}
			st := plan.For(cfg, tc.Image, policy.Subject{Cluster: tc.Cluster, Service: tc.Service, Family: tc.Family})
			got := stepView{Route: st.Route, Target: st.Target, Reason: st.Reason, Rule: st.Rule}
			if diff := cmp.Diff(tc.stepView, got); diff != "" {
				t.Errorf("For(%s) (-want +got):\n%s", tc.Image, diff)
			}
			if st.Image != tc.Image {
				t.Errorf("Step.Image = %q, want %q", st.Image, tc.Image)
			}
			checkStep(t, cfg, st)
		})
	}
}

// checkStep holds any Step to the package's promises: a target only for
// routes that move the image, in the configured registry, parsing back to
// the same tag and digest; and the policy's decision carried along.
func checkStep(t *testing.T, cfg plan.Config, st plan.Step) {
	t.Helper()
	moves := st.Route == plan.PullThrough || st.Route == plan.Mirror
	if moves != (st.Target != "") {
		t.Fatalf("route %s with target %q", st.Route, st.Target)
	}
	if st.Reason == "" {
		t.Fatalf("route %s without a reason", st.Route)
	}
	if cfg.Policy != nil && st.Decision.Rule != "" && st.Decision.Rule != st.Rule {
		t.Fatalf("Rule %q differs from the decision's %q", st.Rule, st.Decision.Rule)
	}
	if !moves {
		return
	}
	tgt, err := imageref.Parse(st.Target)
	if err != nil {
		t.Fatalf("target %q does not parse: %v", st.Target, err)
	}
	registry := cfg.Registry
	if registry == "" {
		registry = cfg.Policy.Registry
	}
	registry = strings.ToLower(registry)
	if tgt.Registry != registry || tgt.Tag != st.Ref.Tag || tgt.Digest != st.Ref.Digest {
		t.Fatalf("target %q: want registry %s, tag %q, digest %q", st.Target, registry, st.Ref.Tag, st.Ref.Digest)
	}
	if !strings.HasSuffix(tgt.Repository, "/"+st.Ref.Repository) {
		t.Fatalf("target %q does not end in the source path %s", st.Target, st.Ref.Repository)
	}
}

func TestParsePullThrough(t *testing.T) {
	var cases []struct {
		In    string
		Want  plan.PullThroughRule
		Error string
	}
	readJSON(t, "parse-pull-through.json", &cases)
	for _, tc := range cases {
		got, err := plan.ParsePullThrough(tc.In)
		switch {
		case tc.Error != "":
			if err == nil || err.Error() != tc.Error {
				t.Errorf("ParsePullThrough(%q) error = %v\nwant %s", tc.In, err, tc.Error)
			}
		case err != nil:
			t.Errorf("ParsePullThrough(%q): %v", tc.In, err)
		case got != tc.Want:
			t.Errorf("ParsePullThrough(%q) = %+v, want %+v", tc.In, got, tc.Want)
		}
	}
}

func TestUpstreamHostForURL(t *testing.T) {
	for in, want := range map[string]string{
		"registry-1.docker.io":         "docker.io",
		"index.docker.io":              "docker.io",
		"public.ecr.aws":               "public.ecr.aws",
		"quay.io":                      "quay.io",
		"ghcr.io":                      "ghcr.io",
		"registry.k8s.io":              "registry.k8s.io",
		"registry.gitlab.com":          "registry.gitlab.com",
		"cgr.dev":                      "cgr.dev",
		"MyReg.azurecr.io":             "myreg.azurecr.io",
		"https://registry-1.docker.io": "docker.io",
		"quay.io/":                     "quay.io",
		" 127.0.0.1:5001 ":             "127.0.0.1:5001",
		"":                             "",
	} {
		if got := plan.UpstreamHostForURL(in); got != want {
			t.Errorf("UpstreamHostForURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	var cases []struct {
		Name, Policy, Error string
		Config              plan.Config
	}
	readJSON(t, "validate.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := tc.Config
			cfg.Policy = loadPolicy(t, tc.Policy)
			err := cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.Error {
				t.Errorf("Validate() = %q\nwant %q", got, tc.Error)
			}
		})
	}
}

// TestLongTarget keeps targets within ECR's 256-character repository names.
func TestLongTarget(t *testing.T) {
	cfg := plan.Config{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", PullThrough: []plan.PullThroughRule{{Upstream: "docker.io", Prefix: "docker-hub"}}}
	long := "team/" + strings.Repeat("a", 246) + ":1"
	st := plan.For(cfg, long, policy.Subject{})
	if st.Route != plan.None || !strings.HasPrefix(st.Reason, "the ECR repository name would be longer than 256 characters: docker-hub/team/") {
		t.Errorf("For(long) = %s %q, want none for a repository name over 256 characters", st.Route, st.Reason)
	}
}

func FuzzFor(f *testing.F) {
	for _, s := range []string{
		"nginx:1.27", "bitnami/redis:7.2", "nginx@sha256:" + strings.Repeat("a", 64),
		"quay.io/prometheus/node-exporter:v1.8.0", "127.0.0.1:5001/team/app:3", "ngnix", "ubuntu:18.04",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "a/b/c/d:e@sha256:" + strings.Repeat("0", 64), "",
	} {
		f.Add(s, "prod")
	}
	cfgs := configs(f)
	f.Fuzz(func(t *testing.T, image, cluster string) {
		for _, cfg := range cfgs {
			checkStep(t, cfg, plan.For(cfg, image, policy.Subject{Cluster: cluster, Service: "web", Family: "web"}))
		}
	})
}

func BenchmarkFor(b *testing.B) {
	cfgs := configs(b)
	for _, bc := range []struct{ name, config, image string }{
		{"flags/pull-through", "flags", "nginx:1.27"},
		{"flags/none", "flags", "quay.io/prometheus/node-exporter:v1.8.0"},
		{"policy/default", "policy", "bitnami/redis:7.2"},
		{"policy/mirror", "policy", "postgres:16"},
		{"policy/typosquat", "policy", "ngnix:1.27"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := cfgs[bc.config]
			subj := policy.Subject{Cluster: "prod", Service: "web", Family: "web"}
			b.ReportAllocs()
			for b.Loop() {
				if st := plan.For(cfg, bc.image, subj); st.Reason == "" {
					b.Fatal("no reason")
				}
			}
		})
	}
}
