package hubsim_test

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
)

// TestSeededImageContents flattens pulled images and reads their files.
func TestSeededImageContents(t *testing.T) {
	t.Parallel()
	const layerSize = 10 << 10
	th := startHub(t, hubsim.Config{AnonymousLimit: plenty, LayerSize: layerSize})
	tests := []struct {
		ref, platform, file, contains string
	}{
		{"library/nginx:1.27", "linux/amd64", "etc/os-release", "Debian GNU/Linux 12 (bookworm)"},
		{"library/nginx:1.27", "linux/arm64", "usr/lib/aarch64-linux-gnu/libc.so.6", "(arm64)"},
		{"library/nginx:1.27", "linux/amd64", "usr/sbin/nginx", "nginx 1.27.3 (amd64)"},
		{"library/nginx:1.26", "linux/amd64", "usr/sbin/nginx", "nginx 1.26.2 (amd64)"},
		{"library/redis:7", "linux/arm64", "usr/local/bin/redis-server", "7.2.6 (arm64)"},
		{"library/python:3.12-slim", "linux/amd64", "usr/local/bin/python3.12", "slim build"},
		{"bitnami/redis:latest", "linux/amd64", "opt/bitnami/scripts/redis/run.sh", "redis-server"},
		{"hashicorp/vault:1.17", "linux/arm64", "etc/alpine-release", "3.20.3"},
		{"hashicorp/vault:1.17", "linux/arm64", "lib/ld-musl-aarch64.so.1", "musl"},
	}
	for _, tt := range tests {
		t.Run(tt.ref+" "+tt.platform+" "+tt.file, func(t *testing.T) {
			plat, _ := v1.ParsePlatform(tt.platform)
			img, err := remote.Image(th.ref(t, tt.ref), remoteOpts(authn.Anonymous, remote.WithPlatform(*plat))...)
			if err != nil {
				t.Fatal(err)
			}
			files := flatten(t, img)
			if got, ok := files[tt.file]; !ok || !strings.Contains(got, tt.contains) {
				t.Errorf("%s = %q (present %v), want it to contain %q", tt.file, got, ok, tt.contains)
			}
			var filler int
			for name, content := range files {
				if strings.HasPrefix(name, "usr/share/hubsim/") {
					filler++
					if len(content) != layerSize {
						t.Errorf("%s has %d bytes, want LayerSize %d", name, len(content), layerSize)
					}
				}
			}
			if layers, _ := img.Layers(); filler != len(layers) {
				t.Errorf("%d filler files for %d layers", filler, len(layers))
			}
		})
	}
}

func TestSeededMediaTypes(t *testing.T) {
	t.Parallel()
	th := startHub(t, hubsim.Config{AnonymousLimit: plenty})
	tests := []struct {
		ref        string
		index      types.MediaType
		manifest   types.MediaType
		layer      types.MediaType
		wantExpose string
	}{
		{"library/nginx:latest", types.OCIImageIndex, types.OCIManifestSchema1, types.OCILayer, "80/tcp"},
		{"library/redis:latest", types.OCIImageIndex, types.OCIManifestSchema1, types.OCILayer, "6379/tcp"},
		{"bitnami/redis:latest", types.DockerManifestList, types.DockerManifestSchema2, types.DockerLayer, "6379/tcp"},
		{"hashicorp/vault:latest", types.DockerManifestList, types.DockerManifestSchema2, types.DockerLayer, "8200/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			idx, err := remote.Index(th.ref(t, tt.ref), remoteOpts(authn.Anonymous)...)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if im.MediaType != tt.index || im.Manifests[0].MediaType != tt.manifest {
				t.Errorf("index %s with %s, want %s with %s", im.MediaType, im.Manifests[0].MediaType, tt.index, tt.manifest)
			}
			img, err := idx.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				if l.MediaType != tt.layer {
					t.Errorf("layer %s is %s, want %s", l.Digest, l.MediaType, tt.layer)
				}
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := cf.Config.ExposedPorts[tt.wantExpose]; !ok {
				t.Errorf("ExposedPorts = %v, want %s", cf.Config.ExposedPorts, tt.wantExpose)
			}
			if len(cf.History) != len(m.Layers) || cf.History[0].CreatedBy == "" || strings.Contains(cf.History[0].CreatedBy, "${") {
				t.Errorf("history %+v", cf.History)
			}
		})
	}
}

func flatten(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = string(b)
	}
}
