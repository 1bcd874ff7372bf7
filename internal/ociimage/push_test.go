package ociimage_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/ociimage"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/peers"
)

// pushAndCheck pushes the layout at dir to ref and checks what the
// registry then serves: the layout's index, both platforms in it.
func pushAndCheck(t *testing.T, dir, ref string, want v1.Hash, kc authn.Keychain, opts ...remote.Option) {
	t.Helper()
	got, err := ociimage.Push(context.Background(), dir, ref, kc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("pushed %s, layout holds %s", got, want)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r, append([]remote.Option{remote.WithAuthFromKeychain(kc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := idx.Digest(); h != want {
		t.Errorf("the registry serves %s for %s, want %s", h, ref, want)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		// Every blob came across: the layers read back whole.
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			if _, err := l.Uncompressed(); err != nil {
				t.Errorf("%s layer: %v", d.Platform, err)
			}
		}
		plats = append(plats, d.Platform.String())
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", plats)
	}
}

func TestPushInProcessRegistry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	want := buildLayout(t, fakeSpec(t), dir)
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	pushAndCheck(t, dir, host+"/pullheal/agent:v1.2.3", want, authn.DefaultKeychain)
	// Pushing again is a no-op that still reports the digest.
	pushAndCheck(t, dir, host+"/pullheal/agent:v1.2.3", want, authn.DefaultKeychain)
}

// TestPushDockerRegistry pushes to Debian's docker-registry (the
// distribution project's registry), not a registry of our own making.
func TestPushDockerRegistry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	want := buildLayout(t, fakeSpec(t), dir)
	reg, err := peers.StartRegistry(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pushAndCheck(t, dir, reg.Addr+"/pullheal:v1.2.3", want, authn.DefaultKeychain)
}

// TestPushECR pushes to the test bed's ECR with the credentials of ECR's
// GetAuthorizationToken, through the real SDK client.
func TestPushECR(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	want := buildLayout(t, fakeSpec(t), dir)
	bed, err := localaws.Start(context.Background(), localaws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	api := ecr.NewFromConfig(bed.AWSConfig())
	if _, err := api.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("pullheal")}); err != nil {
		t.Fatal(err)
	}
	ref := bed.RegistryHost() + "/pullheal:v1.2.3"
	transport := remote.WithTransport(bed.Endpoints().Transport(nil))
	// Without credentials the registry refuses: the keychain is what works.
	if _, err := ociimage.Push(context.Background(), dir, ref, authn.NewMultiKeychain(), transport); err == nil {
		t.Fatal("an anonymous push to ECR succeeded")
	}
	pushAndCheck(t, dir, ref, want, ociimage.Keychain(api), transport)
}

func TestPushErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	buildLayout(t, fakeSpec(t), dir)
	for _, tc := range []struct{ name, dir, ref, want string }{
		{"no layout", filepath.Join(t.TempDir(), "none"), "127.0.0.1:1/x:y", "make image"},
		{"bad reference", dir, "Not A Reference", "Not A Reference"},
		{"nobody listening", dir, "127.0.0.1:1/pullheal:v1", "push 127.0.0.1:1/pullheal:v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ociimage.Push(context.Background(), tc.dir, tc.ref, authn.DefaultKeychain)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
