package ociimage_test

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/ociimage"
)

var commitTime = time.Date(2026, 11, 30, 17, 4, 5, 0, time.UTC)

// fakeSpec is a spec whose binaries are small stand-ins: the layout and
// its digests do not care what the bytes are.
func fakeSpec(t *testing.T) ociimage.Spec {
	t.Helper()
	ca, err := os.ReadFile("testdata/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	var bins []ociimage.Binary
	for _, p := range ociimage.Platforms {
		bins = append(bins, ociimage.Binary{Platform: p, Data: []byte("\x7fELF fake pullheal for " + p.String() + strings.Repeat(".", 4096))})
	}
	return ociimage.Spec{
		Binaries: bins, CABundle: ca, Created: commitTime,
		Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Source: "https://github.com/pullheal/pullheal",
	}
}

func buildLayout(t *testing.T, s ociimage.Spec, dir string) v1.Hash {
	t.Helper()
	idx, err := ociimage.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ociimage.WriteLayout(dir, idx, s.Version)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tree maps each file of a directory to its contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildIsReproducible(t *testing.T) {
	s := fakeSpec(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	first, second := buildLayout(t, s, a), buildLayout(t, s, b)
	if first != second {
		t.Fatalf("two builds of the same spec: %s and %s", first, second)
	}
	// Not only the digest: every file of the two layouts, byte for byte.
	ta, tb := tree(t, a), tree(t, b)
	if len(ta) < 9 || !cmp.Equal(ta, tb) {
		t.Errorf("the layouts differ (%d and %d files)", len(ta), len(tb))
	}
	// Building again over an existing layout replaces it.
	if again := buildLayout(t, s, a); again != first || !cmp.Equal(tree(t, a), tb) {
		t.Errorf("rebuilding in place gave %s, want %s and the same files", again, first)
	}

	// And the digest does depend on each input.
	later := s
	later.Created = s.Created.Add(time.Second)
	other := s
	other.Binaries = append([]ociimage.Binary(nil), s.Binaries...)
	other.Binaries[1].Data = append([]byte("changed"), s.Binaries[1].Data...)
	for name, changed := range map[string]ociimage.Spec{"created": later, "one binary": other} {
		if h := buildLayout(t, changed, filepath.Join(t.TempDir(), "c")); h == first {
			t.Errorf("changing %s kept the digest %s", name, h)
		}
	}
}

func TestImageContents(t *testing.T) {
	s := fakeSpec(t)
	dir := filepath.Join(t.TempDir(), "image")
	digest := buildLayout(t, s, dir)
	idx, err := ociimage.ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := idx.Digest(); h != digest {
		t.Fatalf("layout holds %s, WriteLayout said %s", h, digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tm, err := top.IndexManifest(); err != nil || len(tm.Manifests) != 1 || tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Errorf("index.json: %v %+v; want the index named v1.2.3", err, tm)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %s, want %s", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAnn := map[string]string{
		"org.opencontainers.image.source":   s.Source,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.created":  "2026-11-30T17:04:05Z",
		"org.opencontainers.image.title":    "pullheal",
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	if diff := cmp.Diff(wantAnn, im.Annotations); diff != "" {
		t.Errorf("index annotations (-want +got):\n%s", diff)
	}
	var platforms []string
	var blobs = map[v1.Hash]int{}
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		if d.MediaType != types.OCIManifestSchema1 || d.ArtifactType != "" {
			t.Errorf("%s: index entry of media type %q, artifactType %q; want an OCI image manifest, no artifact type", d.Platform, d.MediaType, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS+"/"+cf.Architecture != d.Platform.String() {
			t.Errorf("config of %s says %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
		if !cf.Created.Time.Equal(commitTime) {
			t.Errorf("%s created %s, want the commit time", d.Platform, cf.Created)
		}
		if cf.Config.User != "65532:65532" || !cmp.Equal(cf.Config.Entrypoint, []string{"/pullheal"}) || !cmp.Equal(cf.Config.Cmd, []string{"agent"}) {
			t.Errorf("%s: user %q entrypoint %q cmd %q", d.Platform, cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd)
		}
		if diff := cmp.Diff(wantAnn, cf.Config.Labels); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", d.Platform, diff)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("%s: manifest %s, config %s; want OCI media types", d.Platform, m.MediaType, m.Config.MediaType)
		}
		if diff := cmp.Diff(wantAnn, m.Annotations); diff != "" {
			t.Errorf("%s manifest annotations (-want +got):\n%s", d.Platform, diff)
		}
		for _, l := range m.Layers {
			blobs[l.Digest]++
			if l.MediaType != types.OCILayer {
				t.Errorf("%s: layer media type %s", d.Platform, l.MediaType)
			}
		}
		var bin []byte
		for _, b := range s.Binaries {
			if b.Platform.String() == d.Platform.String() {
				bin = b.Data
			}
		}
		checkFiles(t, d.Platform.String(), img, bin, s.CABundle)
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	shared := 0
	for _, n := range blobs {
		if n == 2 {
			shared++
		}
	}
	if len(blobs) != 3 || shared != 1 {
		t.Errorf("want one CA layer shared by both platforms and one binary layer each; layer use counts %v", blobs)
	}
}

type fileInfo struct {
	Mode     int64
	Uid, Gid int
	Type     byte
	Data     string
}

// checkFiles reads the tar entries of the image's layers as written.
func checkFiles(t *testing.T, platform string, img v1.Image, bin, ca []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fileInfo{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(commitTime) || h.Uname != "" || h.Gname != "" || h.Format != tar.FormatUSTAR {
				t.Errorf("%s %s: mtime %s, owner names %q:%q, format %s; want the commit time, none, USTAR", platform, h.Name, h.ModTime, h.Uname, h.Gname, h.Format)
			}
			names = append(names, h.Name)
			got[h.Name] = fileInfo{Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Type: h.Typeflag, Data: string(data)}
		}
		rc.Close()
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s: layer entries not sorted: %q", platform, names)
		}
	}
	want := map[string]fileInfo{
		"etc/":                              {Mode: 0o755, Type: tar.TypeDir},
		"etc/ssl/":                          {Mode: 0o755, Type: tar.TypeDir},
		"etc/ssl/certs/":                    {Mode: 0o755, Type: tar.TypeDir},
		"etc/ssl/certs/ca-certificates.crt": {Mode: 0o644, Type: tar.TypeReg, Data: string(ca)},
		"tmp/":                              {Mode: 0o1777, Type: tar.TypeDir},
		"pullheal":                          {Mode: 0o755, Type: tar.TypeReg, Data: string(bin)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s file system (-want +got):\n%s", platform, diff)
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*ociimage.Spec)
		want   string
	}{
		{"no binaries", func(s *ociimage.Spec) { s.Binaries = nil }, "no binaries"},
		{"same platform twice", func(s *ociimage.Spec) { s.Binaries[1].Platform = s.Binaries[0].Platform }, "two binaries for linux/amd64"},
		{"empty binary", func(s *ociimage.Spec) { s.Binaries[0].Data = nil }, "empty"},
		{"no platform", func(s *ociimage.Spec) { s.Binaries[0].Platform = v1.Platform{} }, "OS/ARCH"},
		{"not a CA bundle", func(s *ociimage.Spec) { s.CABundle = []byte("hello") }, "no PEM certificate"},
		{"no time", func(s *ociimage.Spec) { s.Created = time.Time{} }, "creation time"},
		{"no version", func(s *ociimage.Spec) { s.Version = "" }, "version"},
		{"revision with a space", func(s *ociimage.Spec) { s.Revision = "abc def" }, "revision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeSpec(t)
			tc.change(&s)
			_, err := ociimage.Build(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestReadLayoutErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ociimage.ReadLayout(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "make image") {
		t.Errorf("missing layout: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ociimage.ReadLayout(dir); err == nil || !strings.Contains(err.Error(), "exactly one image index") {
		t.Errorf("empty layout: %v", err)
	}
}
