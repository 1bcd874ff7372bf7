package customize_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/customize"
)

// unreadableLayer is a layer whose content cannot be read, as a blob
// whose download fails.
type unreadableLayer struct{ v1.Layer }

var errUnreadable = errors.New("connection reset")

func (unreadableLayer) Compressed() (io.ReadCloser, error)   { return nil, errUnreadable }
func (unreadableLayer) Uncompressed() (io.ReadCloser, error) { return nil, errUnreadable }

// DIR reads the image's filesystem to keep what it has; a layer that cannot
// be read fails the customisation instead of counting as empty (which would
// replace, say, /tmp's mode with a new directory's).
func TestApplyFailsOnUnreadableLayer(t *testing.T) {
	base := baseImage(t, "oci", "amd64")
	m, err := base.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Layers {
		img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON))
		if err != nil {
			t.Fatal(err)
		}
		layers, err := base.Layers()
		if err != nil {
			t.Fatal(err)
		}
		layers[i] = unreadableLayer{layers[i]}
		if img, err = mutate.AppendLayers(img, layers...); err != nil {
			t.Fatal(err)
		}
		lines, _ := customize.Parse([]string{"DIR /tmp/cache"})
		if _, err := customize.Apply(img, lines); !errors.Is(err, errUnreadable) {
			t.Errorf("layer %d unreadable: %v, want %v", i, err, errUnreadable)
		}
	}
}

// windowsImage is a Windows image as Microsoft's bases are: a foreign
// (non-distributable) base layer fetched from its URL, and a layer of its own.
func windowsImage(t testing.TB) v1.Image {
	t.Helper()
	foreign := static.NewLayer([]byte("windows base layer"), types.DockerForeignLayer)
	own := static.NewLayer(tarOf(t, []fileSpec{{Name: "Files/", Type: "dir", Mode: "0755"}, {Name: "Hives/", Type: "dir", Mode: "0755"}}), types.DockerUncompressedLayer)
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.DockerManifestSchema2), types.DockerConfigJSON)
	img, err := mutate.Append(img,
		mutate.Addendum{Layer: foreign, MediaType: types.DockerForeignLayer, URLs: []string{"https://mcr.microsoft.com/v2/windows/nanoserver/blobs/" + mustHash(t, foreign)}},
		mutate.Addendum{Layer: own, MediaType: types.DockerUncompressedLayer})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.OSVersion = "windows", "amd64", "10.0.20348.2700"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func mustHash(t testing.TB, l v1.Layer) string {
	t.Helper()
	h, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// A Windows image takes ENV and VOLUME (its foreign layer kept as it was,
// URLs and all, and never read); DIR, whose layer would be a Linux one, is
// refused. So is DIR on any image with a layer the registry does not hold.
func TestApplyWindowsAndForeignLayers(t *testing.T) {
	win := windowsImage(t)
	lines, _ := customize.Parse([]string{"ENV FOO=bar", "VOLUME /data"})
	out, err := customize.Apply(win, lines)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := win.Manifest()
	got, err := out.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != len(src.Layers) || got.Layers[0].MediaType != types.DockerForeignLayer ||
		strings.Join(got.Layers[0].URLs, ",") != strings.Join(src.Layers[0].URLs, ",") || got.Layers[0].Digest != src.Layers[0].Digest {
		t.Errorf("layers %+v, want the source's %+v", got.Layers, src.Layers)
	}
	cf, _ := out.ConfigFile()
	if cf.OS != "windows" || cf.OSVersion != "10.0.20348.2700" || cf.Config.Env[len(cf.Config.Env)-1] != "FOO=bar" {
		t.Errorf("config %+v", cf)
	}

	dir, _ := customize.Parse([]string{"DIR /data"})
	if _, err := customize.Apply(win, dir); !errors.Is(err, customize.ErrUnsupported) || !strings.Contains(err.Error(), "Windows") {
		t.Errorf("DIR on Windows: %v, want %v naming Windows", err, customize.ErrUnsupported)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.OSVersion = "linux", ""
	linux, err := mutate.ConfigFile(win, cf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := customize.Apply(linux, dir); !errors.Is(err, customize.ErrUnsupported) || !strings.Contains(err.Error(), "non-distributable layer "+src.Layers[0].Digest.String()) {
		t.Errorf("DIR over a foreign layer: %v, want %v naming the layer", err, customize.ErrUnsupported)
	}
}

// A config that has no rootfs (an image of no layers, as some tools write
// it) gets the type runtimes require once a layer is added.
func TestApplyConfigWithoutRootFS(t *testing.T) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := customize.Parse([]string{"ENV A=1", "DIR /data 0750"})
	out, err := customize.Apply(img, lines)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.RootFS.Type != "layers" || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("rootfs %+v, want type layers and the DIR layer", cf.RootFS)
	}
	if err := validate.Image(out); err != nil {
		t.Error(err)
	}
}
