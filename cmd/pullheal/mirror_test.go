package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
)

// testBed starts the test bed and points the AWS SDK at it through the
// environment, as `pullheal local` users do.
func testBed(t *testing.T) *localaws.Server {
	t.Helper()
	srv, err := localaws.Start(context.Background(), localaws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return srv
}

func TestMirrorCommand(t *testing.T) {
	srv := testBed(t)
	var want string
	for _, im := range srv.Hub.Images() {
		if im.Repository == "library/nginx" && im.Tag == "1.27" {
			want = im.Digest
		}
	}
	dst := srv.RegistryHost() + "/mirror/library/nginx:1.27"
	copyOnce := func() MirrorSummary {
		code, stdout, stderr := runCLI(t, "", "mirror", "--output", "json", "nginx:1.27", dst)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var s MirrorSummary
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		return s
	}
	first := copyOnce()
	if first.TargetDigest != want || first.SourceDigest != want || first.BlobsCopied == 0 || len(first.Platforms) != 2 {
		t.Errorf("first copy %+v, want digest %s with both platforms", first, want)
	}
	second := copyOnce()
	if !second.AlreadyMirrored || second.BytesCopied != 0 || second.ManifestGETs != 0 {
		t.Errorf("second copy %+v, want nothing moved and no upstream manifest GET", second)
	}
	code, stdout, _ := runCLI(t, "", "mirror", "--platform", "linux/arm64", "redis:7.2", srv.RegistryHost()+"/mirror/library/redis:7.2-arm64")
	if code != 0 || !strings.Contains(stdout, "copied docker.io/library/redis:7.2") || !strings.Contains(stdout, "linux/arm64") || strings.Contains(stdout, "amd64") {
		t.Errorf("platform-filtered copy: exit %d, %s", code, stdout)
	}
}

func TestMirrorRefusesWhatThePolicyDoesNotAllow(t *testing.T) {
	srv := testBed(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nimages:\n  - match: [nginx]\n    action: mirror\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "", "mirror", "--policy", path, "redis:7.2", srv.RegistryHost()+"/mirror/library/redis:7.2")
	if code != 2 || !strings.Contains(stderr, "does not allow mirroring docker.io/library/redis:7.2") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if got := srv.Hub.Pulls().Total; got != 0 {
		t.Errorf("%d pulls from the hub, want none", got)
	}
}
