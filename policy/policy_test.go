package policy_test

import (
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/regfile"
	"github.com/pullheal/pullheal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func readJSON(t testing.TB, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func mustLoad(t testing.TB, file string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(file)
	if err != nil {
		t.Fatalf("load %s:\n%v", file, err)
	}
	return p
}

func mustParseRef(t testing.TB, s string) imageref.Ref {
	t.Helper()
	r, err := imageref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecide(t *testing.T) {
	decideCases(t, "testdata/decide/policy.yaml", "testdata/decide/cases.json")
}

// TestDecideVariantsAndSpellings: a deny rule's semver range denies the
// variants of the releases it names (1.19-alpine), and every rule holds
// for each spelling of a registry (index.docker.io:443, docker.io.,
// registry.hub.docker.com), even where an images rule would mirror
// anything.
func TestDecideVariantsAndSpellings(t *testing.T) {
	decideCases(t, "testdata/decide/variants.yaml", "testdata/decide/variants-cases.json")
}

func decideCases(t *testing.T, policyFile, casesFile string) {
	t.Helper()
	p := mustLoad(t, policyFile)
	var cases []struct {
		Name, Image, Cluster, Service, Family string
		Want                                  policy.Decision
	}
	readJSON(t, casesFile, &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			got := p.Decide(mustParseRef(t, tc.Image), policy.Subject{Cluster: tc.Cluster, Service: tc.Service, Family: tc.Family})
			if diff := cmp.Diff(tc.Want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide(%s) (-want +got):\n%s", tc.Image, diff)
			}
		})
	}
}

func TestInScope(t *testing.T) {
	p := mustLoad(t, "testdata/decide/scope.yaml")
	var cases []struct {
		Name, Cluster, Service, Family string
		In                             bool
		Why                            string
	}
	readJSON(t, "testdata/decide/scope-cases.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			in, why := p.InScope(policy.Subject{Cluster: tc.Cluster, Service: tc.Service, Family: tc.Family})
			if in != tc.In || why != tc.Why {
				t.Errorf("InScope = %v, %q; want %v, %q", in, why, tc.In, tc.Why)
			}
		})
	}
}

func TestNoScopeAdmitsEverything(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if in, why := p.InScope(policy.Subject{}); !in || why != "" {
		t.Errorf("InScope(empty subject) = %v, %q; want true", in, why)
	}
}

// TestOfficialImagesAreNotTyposquats keeps the default protected list from
// denying real official images.
func TestOfficialImagesAreNotTyposquats(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/official-images.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, name := range strings.Fields(line) {
			n++
			if d := p.Decide(mustParseRef(t, name+":1"), policy.Subject{}); d.Action == policy.ActionDeny {
				t.Errorf("official image %s denied: %s", name, d.Reason)
			}
		}
	}
	if n < 100 {
		t.Fatalf("read %d official images, want the whole list", n)
	}
	for _, name := range append(policy.DefaultProtected(), policy.DefaultProtectedNamespaces()...) {
		if d := p.Decide(mustParseRef(t, name+"/x:1"), policy.Subject{}); d.Action == policy.ActionDeny && strings.Contains(name, "/library/") {
			t.Errorf("a path under protected %s denied: %s", name, d.Reason)
		}
	}
}

func TestTyposquatSettings(t *testing.T) {
	for _, tc := range []struct {
		name, policy, image, want string
	}{
		{"disabled", "typosquat: {enabled: false}", "ngnix", ""},
		{"defaults off", "typosquat: {defaults: false}", "ngnix", ""},
		{"defaults off, own names kept", "typosquat: {defaults: false, protected: [acme/webapp]}", "acme/wbeapp", "possible typosquat of docker.io/acme/webapp (distance 2)"},
		{"short names at distance 1", "typosquat: {defaults: false, protected: [acme/web]}", "acme/wbe", ""},
		{"distance 1 lets a swap through", "typosquat: {maxDistance: 1}", "ngnix", ""},
		{"distance 1 catches an insertion", "typosquat: {maxDistance: 1}", "nginxs", "possible typosquat of docker.io/library/nginx (distance 1)"},
		{"distance 3", "typosquat: {maxDistance: 3, defaults: false, protected: [postgres]}", "pstgrse", "possible typosquat of docker.io/library/postgres (distance 3)"},
		{"allowed", "typosquat: {allow: [ngnix]}", "ngnix", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Parse("p.yaml", []byte("version: 1\n"+tc.policy+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := p.Decide(mustParseRef(t, tc.image), policy.Subject{})
			if tc.want == "" && got.Action == policy.ActionDeny || tc.want != "" && got.Reason != tc.want {
				t.Errorf("Decide(%s) = %s %q; want reason %q", tc.image, got.Action, got.Reason, tc.want)
			}
		})
	}
}

// TestExamples loads every example shipped for platform teams, and checks
// what each one is meant to show.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d examples, want at least 3", len(files))
	}
	loaded := map[string]*policy.Policy{}
	for _, f := range files {
		loaded[filepath.Base(f)] = mustLoad(t, f)
	}
	type summary struct {
		Registry      string
		PullThrough   policy.PullThrough
		MirrorPrefix  string
		Images, Deny  int
		Heal          policy.Heal
		Lifecycle     bool
		ScopeClusters policy.Filter
	}
	want := map[string]summary{
		"pull-through-only.yaml": {
			PullThrough: policy.PullThrough{Source: policy.PullThroughDiscover},
			Heal:        policy.Heal{Containers: policy.ContainersFailed, ServiceUpdate: policy.UpdateService},
		},
		"mirror-allowlist.yaml": {
			Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			PullThrough: policy.PullThrough{Source: policy.PullThroughDeclared, Rules: []policy.PullThroughRule{
				{Upstream: "docker.io", Prefix: "docker-hub"}, {Upstream: "quay.io", Prefix: "quay"},
			}},
			MirrorPrefix: "mirror", Images: 3, Deny: 2, Lifecycle: true,
			Heal: policy.Heal{Containers: policy.ContainersFailed, ServiceUpdate: policy.UpdateService},
		},
		"team-scope-propose.yaml": {
			PullThrough:  policy.PullThrough{Source: policy.PullThroughDiscover},
			MirrorPrefix: "payments/mirror", Images: 3, Lifecycle: true,
			Heal:          policy.Heal{Containers: policy.ContainersAllDockerHub, ServiceUpdate: policy.ProposeOnly},
			ScopeClusters: policy.Filter{Include: []string{"prod-*", "staging-*"}, Exclude: []string{"prod-legacy"}},
		},
	}
	for name, w := range want {
		p := loaded[name]
		if p == nil {
			t.Errorf("example %s is missing", name)
			continue
		}
		got := summary{
			Registry: p.Registry, PullThrough: p.PullThrough, MirrorPrefix: p.Mirror.Prefix,
			Images: len(p.Images), Deny: len(p.Deny), Heal: p.Heal,
			Lifecycle: p.Mirror.Repository.LifecyclePolicy != "", ScopeClusters: p.Scope.Clusters,
		}
		if diff := cmp.Diff(w, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestInvalid checks the exact problems reported for each broken policy in
// testdata/invalid against its golden file (go test -update rewrites them).
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := policy.Load(f)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", f, p)
			}
			var perr *policy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T, want *policy.Error", err)
			}
			for _, pr := range perr.Problems {
				if pr.File != f || strings.Contains(pr.Message, "\n") {
					t.Errorf("problem %q: want file %s and a one-line message", pr, f)
				}
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBrokenReportsEveryProblem(t *testing.T) {
	_, err := policy.Load("testdata/invalid/broken.yaml")
	var perr *policy.Error
	if !errors.As(err, &perr) {
		t.Fatalf("Load = %v, want *policy.Error", err)
	}
	if len(perr.Problems) < 25 {
		t.Errorf("%d problems, want every problem of the file (25 or more)", len(perr.Problems))
	}
	for i := 1; i < len(perr.Problems); i++ {
		a, b := perr.Problems[i-1], perr.Problems[i]
		if a.Line > b.Line || a.Line == b.Line && a.Column > b.Column {
			t.Errorf("problems out of order: %s before %s", a, b)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// Opening a FIFO for reading used to block until a writer came, past
	// SIGTERM; it is refused at once.
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "missing.yaml"), "no such file", fs.ErrNotExist},
		{"directory", sub, "is a directory, not a regular file", regfile.ErrNotRegular},
		{"fifo", fifo, "is a named pipe (FIFO), not a regular file", regfile.ErrNotRegular},
		{"device", "/dev/zero", "is a character device, not a regular file", regfile.ErrNotRegular},
		{"empty", write("empty.yaml", nil), `file is empty; a policy needs at least "version: 1"`, nil},
		{"blank", write("blank.yaml", []byte("\n  \n\t\n")), `file is empty; a policy needs at least "version: 1"`, nil},
		{"comments only", write("comments.yaml", []byte("# nothing\n")), "file holds no YAML document", nil},
		{"too large", write("large.yaml", append([]byte("version: 1\n#"), make([]byte, policy.MaxFileSize)...)), "file is too large (over 1048576 bytes); a policy is a small YAML file", nil},
		{"binary", write("bin.yaml", []byte("version: 1\n\x00\x01\x02")), "file is binary, not YAML text", nil},
		{"not utf-8", write("latin1.yaml", []byte("version: 1\nregistry: caf\xe9\n")), "file is binary, not YAML text", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Load(tc.path)
			want := tc.path + ": " + tc.want
			if err == nil || err.Error() != want {
				t.Fatalf("Load error = %v\nwant %s", err, want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestLifecyclePolicyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lc"), 0o755); err != nil {
		t.Fatal(err)
	}
	const doc = `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}`
	for name, data := range map[string]string{"lc/keep5.json": doc, "lc/bad.json": `{"rules": [}`, "lc/norules.json": `{"rules": []}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Beside the policy's folder, a file whose content must never show up
	// in an error (the policy lives in dir/p, so "../outside.json" leaves it).
	outside := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-outside.json")
	if err := os.WriteFile(outside, []byte(`{"secret": "s3cr3t"`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(outside) })
	if err := os.Symlink(outside, filepath.Join(dir, "lc/link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(filepath.Dir(dir), "outside.json")); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "lc/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	for _, tc := range []struct {
		name, file, want string
	}{
		{"relative to the policy", "lc/keep5.json", ""},
		{"bad JSON", "lc/bad.json", "invalid JSON at line 1, column 12: invalid character '}' looking for beginning of value"},
		{"no rules", "lc/norules.json", "lifecycle policy has no rules"},
		{"missing", "lc/none.json", "no such file"},
		{"a directory", "lc", "is a directory"},
		{"absolute", "/etc/hostname", "give a path relative to the policy file"},
		{"dot-dot out of the folder", "../outside.json", `"../outside.json" leaves the policy's folder`},
		{"symlink out of the folder", "lc/link.json", `"lc/link.json" leaves the policy's folder`},
		{"dot-dot that stays inside", "lc/../lc/keep5.json", ""},
		{"fifo", "lc/fifo", "is a named pipe (FIFO), not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "version: 1\nmirror:\n  repository:\n    lifecyclePolicyFile: " + tc.file + "\n"
			p, err := policy.Parse(policyFile, []byte(src))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Mirror.Repository.LifecyclePolicy; got != doc {
					t.Errorf("LifecyclePolicy = %q, want the file's text", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), policyFile+":4:26: mirror.repository.lifecyclePolicyFile: ") {
				t.Errorf("error = %v; want it at %s:4:26 and to say %q", err, policyFile, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error reveals another file's content: %v", err)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    policy.Problem
		want string
	}{
		{policy.Problem{File: "p.yaml", Line: 3, Column: 7, Message: "bad"}, "p.yaml:3:7: bad"},
		{policy.Problem{File: "p.yaml", Line: 3, Message: "bad"}, "p.yaml:3: bad"},
		{policy.Problem{File: "p.yaml", Message: "bad"}, "p.yaml: bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseCustomization(t *testing.T) {
	var cases []struct {
		Line  string
		Want  *policy.Customization
		Mode  string // fs.FileMode's String of the DIR mode
		Error string
	}
	readJSON(t, "testdata/customize.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Line, func(t *testing.T) {
			got, err := policy.ParseCustomization(tc.Line)
			if tc.Error != "" {
				if err == nil || err.Error() != tc.Error {
					t.Fatalf("error = %v, want %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.Mode != "" {
				if got.Mode.String() != tc.Mode {
					t.Errorf("mode = %s, want %s", got.Mode, tc.Mode)
				}
				got.Mode = 0
			}
			if diff := cmp.Diff(*tc.Want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUpstream(t *testing.T) {
	var cases []struct{ In, Want, Error string }
	readJSON(t, "testdata/upstreams.json", &cases)
	for _, tc := range cases {
		got, err := policy.ParseUpstream(tc.In)
		switch {
		case tc.Error != "" && (err == nil || err.Error() != tc.Error):
			t.Errorf("ParseUpstream(%q) error = %v, want %q", tc.In, err, tc.Error)
		case tc.Error == "" && (err != nil || got != tc.Want):
			t.Errorf("ParseUpstream(%q) = %q, %v; want %q", tc.In, got, err, tc.Want)
		}
	}
}

func TestCheckRegistryAndPrefix(t *testing.T) {
	for _, tc := range []struct {
		host, want string
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", ""},
		{"127.0.0.1:5000", ""},
		{"vpce-0123.dkr.ecr.us-east-1.vpce.amazonaws.com", ""},
		{"", "empty registry host"},
		{"docker.io", "registry docker.io is a public registry (docker-hub); give the ECR registry to heal into, ACCOUNT.dkr.ecr.REGION.amazonaws.com"},
		{"https://x.example", `registry "https://x.example": give a host[:port], without scheme or path`},
		{"bad_host.example", `registry host "bad_host.example" is not a valid host name`},
		{"host.example:99999x", `registry host "host.example:99999x" has a bad port`},
		{"host.example:99999", `registry host "host.example:99999" has a bad port`},
		{"host.example:0", `registry host "host.example:0" has a bad port`},
		{"host.example:65535", ""},
	} {
		err := policy.CheckRegistry(tc.host)
		if got := errString(err); got != tc.want {
			t.Errorf("CheckRegistry(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
	for _, tc := range []struct {
		prefix, want string
	}{
		{"docker-hub", ""},
		{"team/docker-hub", ""},
		{"d", `prefix "d" must be 2 to 30 characters`},
		{"Docker", `prefix "Docker": each '/'-separated part must be lower-case letters and digits joined by '.', '_' or '-'`},
		{"a//b", `prefix "a//b": each '/'-separated part must be lower-case letters and digits joined by '.', '_' or '-'`},
		{"-hub", `prefix "-hub": each '/'-separated part must be lower-case letters and digits joined by '.', '_' or '-'`},
	} {
		if got := errString(policy.CheckPrefix(tc.prefix)); got != tc.want {
			t.Errorf("CheckPrefix(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func BenchmarkDecide(b *testing.B) {
	p := mustLoad(b, "examples/mirror-allowlist.yaml")
	var refs []imageref.Ref
	for _, s := range []string{"nginx:1.27", "bitnami/redis:7.2", "myorg/app:3", "ngnix:1", "quay.io/prometheus/node-exporter:v1.8.0"} {
		refs = append(refs, mustParseRef(b, s))
	}
	subj := policy.Subject{Cluster: "prod", Service: "web", Family: "web"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Decide(refs[i%len(refs)], subj)
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("examples/team-scope-propose.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Parse("examples/team-scope-propose.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRateLimitedRegistries: the registries a policy marks as
// rate-limited are read as canonical hosts, each once.
func TestRateLimitedRegistries(t *testing.T) {
	p := mustLoad(t, "testdata/rate-limited.yaml")
	want := []string{"quay.io", "registry.example.com:5000", "ghcr.io"}
	if diff := cmp.Diff(want, p.RateLimited); diff != "" {
		t.Errorf("rateLimited (-want +got):\n%s", diff)
	}
	if p := mustLoad(t, "testdata/decide/policy.yaml"); len(p.RateLimited) != 0 {
		t.Errorf("a policy without rateLimited has %v", p.RateLimited)
	}
}
