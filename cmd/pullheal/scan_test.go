package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/fleetbed"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestScanCountsPolicyRateLimitedRegistries: a registry the policy marks
// as rate-limited is counted like Docker Hub, as --rate-limited does;
// without either, its images are not exposed.
func TestScanCountsPolicyRateLimitedRegistries(t *testing.T) {
	ctx := context.Background()
	srv, c := startAccountBed(t)
	dir := t.TempDir()
	fams, _ := fleetbed.Mixed(srv.RegistryHost(), "sha256:"+strings.Repeat("0", 64))
	fl, err := fleetbed.Build(ctx, c.ECS, fleetbed.Spec{Prefix: "rl", Clusters: 1, Services: len(fams), Families: fams,
		Desired: func(i int) int32 { return 2 }})
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\nrateLimited: [quay]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	quayService := ""
	for _, s := range fl.Services {
		if s.Family.Name == "quay" {
			quayService = s.Name
		}
	}
	quay := func(args ...string) fleet.ServiceReport {
		t.Helper()
		code, out, errOut := runCLI(t, "", append([]string{"scan", "--cluster", fl.Clusters[0], "--output", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("scan %v: exit %d: %s", args, code, errOut)
		}
		var rep fleet.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Services {
			if s.Service == quayService {
				return s
			}
		}
		t.Fatalf("scan %v: no service %s", args, quayService)
		return fleet.ServiceReport{}
	}
	for _, tc := range []struct {
		args    []string
		limited bool
	}{
		{nil, false},
		{[]string{"--policy", pol}, true},
		{[]string{"--rate-limited", "quay.io"}, true},
	} {
		s := quay(tc.args...)
		if len(s.Containers) != 1 || s.Containers[0].Registry != "quay.io" || s.Containers[0].RateLimited != tc.limited {
			t.Errorf("scan %v: %+v, want quay.io rate-limited %v", tc.args, s.Containers, tc.limited)
			continue
		}
		if want := map[bool]int{true: 2, false: 0}[tc.limited]; s.Pulls != want {
			t.Errorf("scan %v: %d pulls at desired 2, want %d", tc.args, s.Pulls, want)
		}
	}
}

// startAccountBed starts the test bed with a Docker Hub pull-through rule
// and points this process's AWS SDK configuration at it, and only at it.
func startAccountBed(t *testing.T) (*localaws.Server, scenario.Clients) {
	t.Helper()
	srv, c, _ := bedtest.Start(t, context.Background(), localaws.Config{},
		scenario.Options{NoService: true, HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	useOnlyBed(t, srv)
	return srv, c
}

// TestRewriteDiscoverReadsTheAccount: a task definition file without an
// ARN (as CI renders it) names no registry; --discover takes the caller's
// account's registry and pull-through rules, as the agent does.
func TestRewriteDiscoverReadsTheAccount(t *testing.T) {
	srv, _ := startAccountBed(t)
	file := filepath.Join(t.TempDir(), "taskdef.json")
	td := `{"family":"ci-web","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"512",
 "containerDefinitions":[{"name":"web","image":"nginx:1.27","essential":true},{"name":"app","image":"` + srv.RegistryHost() + `/team/app:1"}]}`
	if err := os.WriteFile(file, []byte(td), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "", "rewrite", file); code != exitInput || !strings.Contains(stderr, "--registry") {
		t.Errorf("rewrite without --discover or --registry: exit %d, %q; want exit 2 asking for a registry", code, stderr)
	}
	code, out, stderr := runCLI(t, "", "rewrite", "--discover", file)
	if code != 0 {
		t.Fatalf("rewrite --discover: exit %d: %s", code, stderr)
	}
	var got struct {
		ContainerDefinitions []struct{ Name, Image string } `json:"containerDefinitions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{"web": srv.RegistryHost() + "/docker-hub/library/nginx:1.27", "app": srv.RegistryHost() + "/team/app:1"}
	if len(got.ContainerDefinitions) != 2 {
		t.Fatalf("rewrite --discover printed %s", out)
	}
	for _, c := range got.ContainerDefinitions {
		if c.Image != want[c.Name] {
			t.Errorf("container %s: %s, want %s", c.Name, c.Image, want[c.Name])
		}
	}
}

// useOnlyBed points this process's AWS SDK configuration at the test bed
// srv, and only at it: nothing from the machine's AWS files takes part.
func useOnlyBed(t *testing.T, srv *localaws.Server) {
	t.Helper()
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
}
