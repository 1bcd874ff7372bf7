package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/peers"
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
	// The blob cache goes where the user's would, in a directory of the test.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
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

// TestMirrorProvesATagRuleDigest: a policy that allowlists nginx by tag
// does not let mirror copy name:TAG@DIGEST unless DIGEST is that tag's
// upstream; a tag next to a digest is only a claim.
func TestMirrorProvesATagRuleDigest(t *testing.T) {
	srv := testBed(t)
	digests := map[string]string{}
	for _, im := range srv.Hub.Images() {
		if im.Repository == "library/nginx" {
			digests[im.Tag] = im.Digest
		}
	}
	if digests["1.27"] == "" || digests["1.26"] == "" || digests["1.27"] == digests["1.26"] {
		t.Fatalf("the test bed's nginx tags: %v", digests)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nimages:\n  - match: nginx\n    tags: {exact: [\"1.27\"]}\n    action: mirror\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		code      int
		stderr    string
	}{
		{"another tag's digest", "nginx:1.27@" + digests["1.26"], 2, "tag \"1.27\" resolves upstream to " + digests["1.27"] + ", not to the pinned " + digests["1.26"]},
		{"the tag's own digest", "nginx:1.27@" + digests["1.27"], 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", "mirror", "--policy", path, tc.src, srv.RegistryHost()+"/mirror/library/nginx:1.27")
			if code != tc.code || tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, stderr, tc.code, tc.stderr)
			}
			// The proof is a HEAD: a refused digest costs no pull.
			if got := srv.Hub.Pulls().Total; tc.code != 0 && got != 0 {
				t.Errorf("%d pulls from the hub, want none", got)
			}
		})
	}
}

// noAWS unsets every AWS setting and points HOME (and with it ~/.aws and
// ~/.docker) at an empty directory, for the rest of the test.
func noAWS(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "PULLHEAL_") || k == "DOCKER_CONFIG" {
			t.Setenv(k, "") // restores it afterwards
			os.Unsetenv(k)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
}

// startRegistries starts two of Debian's docker-registry on loopback.
func startRegistries(t *testing.T) (*peers.Process, *peers.Process) {
	t.Helper()
	dir := t.TempDir()
	var out [2]*peers.Process
	for i := range out {
		p, err := peers.StartRegistry(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out[i] = p
	}
	return out[0], out[1]
}

// TestMirrorBetweenPlainRegistries: two registries that are not ECR, no
// AWS configuration at all: the copy works anonymously over plain HTTP
// (implicit for loopback) and creates no repository anywhere.
func TestMirrorBetweenPlainRegistries(t *testing.T) {
	noAWS(t)
	a, b := startRegistries(t)
	idx, err := random.Index(1024, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	src, err := name.ParseReference(a.Addr + "/a:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(src, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	// Signed cosign's way: the signature under sha256-HEX.sig.
	sig, _ := random.Image(128, 1)
	sigTag, _ := name.NewTag(a.Addr + "/a:sha256-" + want.Hex + ".sig")
	if err := remote.Write(sigTag, sig); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "", "mirror", "--output", "json", a.Addr+"/a:v1", b.Addr+"/a:v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s MirrorSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if s.TargetDigest != want.String() || s.BlobsCopied == 0 || s.AlreadyMirrored {
		t.Errorf("summary %+v, want digest %s copied", s, want)
	}
	blobs := s.BlobsCopied
	if s.Referrers != 1 {
		t.Errorf("%d referrers copied, want the signature", s.Referrers)
	}
	dstSig, _ := name.NewTag(b.Addr + "/a:sha256-" + want.Hex + ".sig")
	if d, err := remote.Head(dstSig); err != nil || d.Digest != mustDigestOf(t, sig) {
		t.Errorf("signature in the destination: %v, %v", d, err)
	}
	dst, err := name.ParseReference(b.Addr + "/a:v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(dst)
	if err != nil || got.Digest != want {
		t.Errorf("destination holds %v (%v), want %s", got, err, want)
	}

	// Copied again: nothing moves.
	code, stdout, stderr = runCLI(t, "", "mirror", "--output", "json", a.Addr+"/a:v1", b.Addr+"/a:v1")
	if code != 0 {
		t.Fatalf("second copy: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || !s.AlreadyMirrored || s.BytesCopied != 0 {
		t.Errorf("second copy: %+v (%v)", s, err)
	}

	// Into another repository of the same registry, in a new process: the
	// blob cache (the default one, under XDG_CACHE_HOME) says where the
	// blobs are, and they are mounted instead of uploaded.
	code, stdout, stderr = runCLI(t, "", "mirror", "--output", "json", a.Addr+"/a:v1", b.Addr+"/other:v1")
	if code != 0 {
		t.Fatalf("third copy: exit %d: %s", code, stderr)
	}
	var third MirrorSummary
	if err := json.Unmarshal([]byte(stdout), &third); err != nil || third.Mounts != "worked" || third.BlobsMounted != blobs || third.BytesCopied != 0 {
		t.Errorf("third copy: %+v (%v), want every blob mounted", third, err)
	}
	// With the cache off, nothing says where the blobs are.
	code, stdout, stderr = runCLI(t, "", "mirror", "--output", "json", "--blob-cache", "", a.Addr+"/a:v1", b.Addr+"/fourth:v1")
	if code != 0 {
		t.Fatalf("fourth copy: exit %d: %s", code, stderr)
	}
	var fourth MirrorSummary
	if err := json.Unmarshal([]byte(stdout), &fourth); err != nil || fourth.Mounts != "none" || fourth.BlobsCopied == 0 {
		t.Errorf("fourth copy: %+v (%v), want uploads", fourth, err)
	}
}

func mustDigestOf(t *testing.T, img interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
