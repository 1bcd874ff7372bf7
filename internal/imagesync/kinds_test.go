package imagesync_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/customize"
	"github.com/pullheal/pullheal/internal/mirror"
)

// loopbackRegistry serves go-containerregistry's registry on loopback;
// fault, when it returns true, has answered the request instead.
func loopbackRegistry(t *testing.T, fault func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fault != nil && fault(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func pushTo(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func layerOf(t *testing.T, mt types.MediaType, entries ...tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h.ModTime = time.Unix(1700000000, 0)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return static.NewLayer(buf.Bytes(), mt)
}

func configured(t *testing.T, img v1.Image, os string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func customizeOpts(t *testing.T, lines ...string) []mirror.Option {
	t.Helper()
	cs, err := customize.Parse(lines)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := customize.NewTransform(cs)
	if err != nil {
		t.Fatal(err)
	}
	return []mirror.Option{mirror.WithSourceKeychain(anonymous), mirror.WithDestinationKeychain(anonymous), mirror.WithTransform(tr), mirror.WithRetry(1, time.Millisecond)}
}

// A layer whose download breaks while DIR reads the image's filesystem
// must not count as an empty layer: here /tmp (1777, in the lower layer)
// would be written back as a new root 0755 directory.
func TestCopyCustomizedSourceLayerBreaks(t *testing.T) {
	lower := layerOf(t, types.OCIUncompressedLayer, tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	upper := layerOf(t, types.OCIUncompressedLayer, tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	img = configured(t, img, "linux")
	digest, err := lower.Digest()
	if err != nil {
		t.Fatal(err)
	}
	var cut atomic.Bool
	src := loopbackRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		// The first GET of the lower layer ends after a few bytes.
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+digest.String()) || cut.Swap(true) {
			return false
		}
		size, _ := lower.Size()
		w.Header().Set("Content-Length", "1024")
		w.WriteHeader(http.StatusOK)
		body, _ := lower.Compressed()
		io.CopyN(w, body, min(size, 100))
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return true
	})
	dst := loopbackRegistry(t, nil)
	pushTo(t, src+"/app:1", img)
	cut.Store(false)

	res, err := mirror.Copy(t.Context(), src+"/app:1", dst+"/app:1", customizeOpts(t, "DIR /tmp/cache 0700")...)
	if !cut.Load() {
		t.Fatal("the lower layer was never read")
	}
	if err == nil {
		// A copy that went on must have seen /tmp as it is.
		out, err := remote.Image(mustRef(t, dst+"/app:1"))
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := out.Layers()
		rc, _ := layers[len(layers)-1].Uncompressed()
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				t.Fatalf("the DIR layer of %s has no tmp/: %v", res.TargetDigest, err)
			}
			if h.Name == "tmp/" {
				if h.Mode != 0o1777 {
					t.Errorf("tmp/ written with mode %o over the image's 1777", h.Mode)
				}
				return
			}
		}
	}
	if _, herr := remote.Head(mustRef(t, dst+"/app:1")); herr == nil {
		t.Errorf("copy failed (%v) but the destination is tagged", err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A Windows image is customised with ENV, its foreign base layer kept as
// a reference (URLs) and never fetched; DIR is refused before anything is
// pushed.
func TestCopyCustomizedWindows(t *testing.T) {
	foreign := static.NewLayer([]byte("windows base layer"), types.DockerForeignLayer)
	fd, err := foreign.Digest()
	if err != nil {
		t.Fatal(err)
	}
	own := layerOf(t, types.DockerLayer, tar.Header{Name: "Files/", Typeflag: tar.TypeDir, Mode: 0o755})
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.DockerManifestSchema2), types.DockerConfigJSON),
		mutate.Addendum{Layer: foreign, MediaType: types.DockerForeignLayer, URLs: []string{"https://mcr.microsoft.com/v2/windows/servercore/blobs/" + fd.String()}},
		mutate.Addendum{Layer: own, MediaType: types.DockerLayer})
	if err != nil {
		t.Fatal(err)
	}
	img = configured(t, img, "windows")
	var foreignGETs atomic.Int32
	src := loopbackRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+fd.String()) {
			foreignGETs.Add(1)
		}
		return false
	})
	dst := loopbackRegistry(t, nil)
	pushTo(t, src+"/win:1", img) // a foreign layer is not pushed

	_, err = mirror.Copy(t.Context(), src+"/win:1", dst+"/win:dir", customizeOpts(t, "DIR /data")...)
	if !errors.Is(err, customize.ErrUnsupported) || !strings.Contains(err.Error(), "Windows") {
		t.Errorf("DIR: %v, want %v naming Windows", err, customize.ErrUnsupported)
	}
	if _, herr := remote.Head(mustRef(t, dst+"/win:dir")); herr == nil {
		t.Error("refused copy tagged the destination")
	}

	if _, err := mirror.Copy(t.Context(), src+"/win:1", dst+"/win:1", customizeOpts(t, "ENV FOO=bar")...); err != nil {
		t.Fatal(err)
	}
	out, err := remote.Image(mustRef(t, dst+"/win:1"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := out.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 || m.Layers[0].Digest != fd || m.Layers[0].MediaType != types.DockerForeignLayer || len(m.Layers[0].URLs) != 1 {
		t.Errorf("layers %+v, want the foreign layer first, URLs kept", m.Layers)
	}
	if n := foreignGETs.Load(); n != 0 {
		t.Errorf("the foreign layer was asked of the source %d times", n)
	}
	cf, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "windows" || cf.Config.Env[len(cf.Config.Env)-1] != "FOO=bar" {
		t.Errorf("config os %q env %q", cf.OS, cf.Config.Env)
	}
}
