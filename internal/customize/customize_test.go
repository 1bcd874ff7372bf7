package customize_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/pullheal/pullheal/internal/customize"
	"github.com/pullheal/pullheal/policy"
)

// baseMTime is the time of every entry of the base image's layers.
var baseMTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

type fileSpec struct {
	Name, Type, Mode, Link, Content string
	UID                             int `json:"uid"`
	GID                             int `json:"gid"`
	Uname, Gname                    string
}

type baseSpec struct {
	Comment string        `json:"comment"`
	Config  v1.ConfigFile `json:"config"`
	Layers  [][]fileSpec  `json:"layers"`
}

// baseImage builds testdata/base.json as an image of the given format
// ("oci" or "docker") and architecture.
func baseImage(t testing.TB, format, arch string) v1.Image {
	t.Helper()
	var spec baseSpec
	readJSON(t, "testdata/base.json", &spec)
	spec.Config.Architecture = arch
	spec.Config.RootFS.Type = "layers"
	manifestType, configType, layerType := types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	if format == "docker" {
		manifestType, configType, layerType = types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, manifestType), configType)
	img, err := mutate.ConfigFile(img, &spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	for i, files := range spec.Layers {
		data := tarOf(t, files)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			tarball.WithMediaType(layerType))
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: struct{ v1.Layer }{l}, MediaType: layerType,
			History: v1.History{Created: spec.Config.Created, CreatedBy: fmt.Sprintf("base layer %d", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func tarOf(t testing.TB, files []fileSpec) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		var mode int64
		if f.Mode != "" {
			if _, err := fmt.Sscanf(f.Mode, "%o", &mode); err != nil {
				t.Fatalf("mode of %s: %v", f.Name, err)
			}
		}
		h := &tar.Header{Name: f.Name, Mode: mode, Uid: f.UID, Gid: f.GID, Uname: f.Uname, Gname: f.Gname, ModTime: baseMTime}
		switch f.Type {
		case "dir":
			h.Typeflag = tar.TypeDir
		case "symlink":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		case "file":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Content))
		default:
			t.Fatalf("%s: unknown type %q", f.Name, f.Type)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.Content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// node is what a test checks of a filesystem entry.
type node struct {
	Type  string `json:"type"`
	Mode  string `json:"mode"`
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Link  string `json:"link,omitempty"`
	MTime string `json:"mtime"`
}

// entries reads a tar stream into nodes by name; clean turns "./a/b/" into
// "a/b" (flattened filesystems), otherwise names stay as written.
func entries(t testing.TB, r io.Reader, clean bool) map[string]node {
	t.Helper()
	out := map[string]node{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		typ := map[byte]string{tar.TypeDir: "dir", tar.TypeReg: "file", tar.TypeSymlink: "symlink"}[h.Typeflag]
		name := h.Name
		if clean {
			name = strings.Trim(strings.TrimPrefix(name, "./"), "/")
		}
		out[name] = node{Type: typ, Mode: fmt.Sprintf("%04o", h.Mode), UID: h.Uid, GID: h.Gid, Link: h.Linkname,
			MTime: h.ModTime.UTC().Format(time.RFC3339)}
	}
}

type hist struct {
	CreatedBy  string `json:"createdBy"`
	EmptyLayer bool   `json:"emptyLayer"`
}

type applyCase struct {
	Name    string          `json:"name"`
	Lines   []string        `json:"lines"`
	Env     []string        `json:"env"`
	Volumes []string        `json:"volumes"`
	History []hist          `json:"history"`
	Layer   map[string]node `json:"layer"`
	FS      map[string]node `json:"fs"`
	Err     string          `json:"err"`
}

func TestApply(t *testing.T) {
	var cases []applyCase
	readJSON(t, "testdata/cases.json", &cases)
	for _, format := range []string{"oci", "docker"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.Name, func(t *testing.T) {
				base := baseImage(t, format, "amd64")
				lines, err := customize.Parse(tc.Lines)
				if err != nil {
					t.Fatal(err)
				}
				out, err := customize.Apply(base, lines)
				if tc.Err != "" {
					if err == nil || err.Error() != tc.Err {
						t.Fatalf("error %v, want %q", err, tc.Err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Image(out); err != nil {
					t.Fatalf("result is not a consistent image: %v", err)
				}
				checkApplied(t, base, out, tc, format)
			})
		}
	}
}

func checkApplied(t *testing.T, base, out v1.Image, tc applyCase, format string) {
	t.Helper()
	bcf, _ := base.ConfigFile()
	cf, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := tc.Env
	if wantEnv == nil {
		wantEnv = bcf.Config.Env
	}
	if d := cmp.Diff(wantEnv, cf.Config.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if d := cmp.Diff(tc.Volumes, slices.Sorted(maps.Keys(cf.Config.Volumes))); d != "" {
		t.Errorf("volumes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(bcf.Config.Cmd, cf.Config.Cmd); d != "" || cf.Config.User != bcf.Config.User || !cf.Created.Equal(bcf.Created.Time) {
		t.Errorf("cmd, user or created changed: %v %q %v", cf.Config.Cmd, cf.Config.User, cf.Created)
	}
	var gotHist []hist
	for _, h := range cf.History[len(bcf.History):] {
		gotHist = append(gotHist, hist{CreatedBy: h.CreatedBy, EmptyLayer: h.EmptyLayer})
		if !h.Created.Equal(bcf.Created.Time) {
			t.Errorf("history %q created %v, want the image's %v", h.CreatedBy, h.Created, bcf.Created)
		}
	}
	if d := cmp.Diff(tc.History, gotHist); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	lines, _ := customize.Parse(tc.Lines)
	hash, err := customize.Hash(lines)
	if err != nil {
		t.Fatal(err)
	}
	baseDigest, _ := base.Digest()
	wantLabels := map[string]string{"maintainer": "base", customize.LabelBaseDigest: baseDigest.String(), customize.LabelCustomized: hash}
	if d := cmp.Diff(wantLabels, cf.Config.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	m, _ := out.Manifest()
	var wantAnn map[string]string
	if format == "oci" {
		wantAnn = map[string]string{customize.LabelBaseDigest: baseDigest.String(), customize.LabelCustomized: hash}
	}
	if d := cmp.Diff(wantAnn, m.Annotations); d != "" {
		t.Errorf("manifest annotations (-want +got):\n%s", d)
	}
	bm, _ := base.Manifest()
	if m.MediaType != bm.MediaType || m.Config.MediaType != bm.Config.MediaType {
		t.Errorf("media types %s/%s, want the source's %s/%s", m.MediaType, m.Config.MediaType, bm.MediaType, bm.Config.MediaType)
	}
	layers, _ := out.Layers()
	baseLayers, _ := base.Layers()
	if tc.Layer == nil {
		if len(layers) != len(baseLayers) {
			t.Errorf("%d layers, want the source's %d", len(layers), len(baseLayers))
		}
	} else {
		if len(layers) != len(baseLayers)+1 {
			t.Fatalf("%d layers, want the source's %d and one more", len(layers), len(baseLayers))
		}
		if got, want := m.Layers[len(m.Layers)-1].MediaType, bm.Layers[0].MediaType; got != want {
			t.Errorf("new layer media type %s, want the image's %s", got, want)
		}
		rc, err := layers[len(layers)-1].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if d := cmp.Diff(tc.Layer, entries(t, rc, false)); d != "" {
			t.Errorf("new layer (-want +got):\n%s", d)
		}
	}
	if len(tc.FS) > 0 {
		rc := mutate.Extract(out)
		defer rc.Close()
		fs := entries(t, rc, true)
		got := map[string]node{}
		for p := range tc.FS {
			if n, ok := fs[p]; ok {
				got[p] = n
			}
		}
		if d := cmp.Diff(tc.FS, got); d != "" {
			t.Errorf("flattened filesystem (-want +got):\n%s", d)
		}
	}
	if bcf2, _ := base.ConfigFile(); !slices.Equal(bcf2.Config.Env, bcf.Config.Env) {
		t.Errorf("the source image changed")
	}
}

// index builds a two-platform index of the base image with an attestation
// manifest, as BuildKit pushes them.
func index(t testing.TB, format string) v1.ImageIndex {
	t.Helper()
	mt := types.OCIImageIndex
	if format == "docker" {
		mt = types.DockerManifestList
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, mt)
	if format == "oci" {
		idx = mutate.Annotations(idx, map[string]string{"org.opencontainers.image.source": "https://example.com/redis"}).(v1.ImageIndex)
	}
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img := baseImage(t, format, arch)
		m, _ := img.Manifest()
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: m.MediaType,
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if format == "oci" {
		att, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := adds[0].Add.Digest()
		adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d.String()},
		}})
	}
	return mutate.AppendManifests(idx, adds...)
}

func TestApplyIndex(t *testing.T) {
	lines, err := customize.Parse([]string{"ENV FOO=bar", "VOLUME /data", "DIR /data 0750"})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := customize.Hash(lines)
	for _, tc := range []struct {
		format, name string
		opts         []customize.Option
		platforms    []string
		labelPlat    string
	}{
		{format: "oci", name: "every platform", platforms: []string{"linux/amd64", "linux/arm64"}},
		{format: "docker", name: "every platform", platforms: []string{"linux/amd64", "linux/arm64"}},
		{format: "oci", name: "filtered", opts: []customize.Option{customize.WithPlatforms(platforms(t, "linux/arm64")...)},
			platforms: []string{"linux/arm64"}, labelPlat: "linux/arm64"},
		{format: "docker", name: "filter keeping all", opts: []customize.Option{customize.WithPlatforms(platforms(t, "linux/arm64", "linux/amd64")...)},
			platforms: []string{"linux/amd64", "linux/arm64"}, labelPlat: "linux/amd64,linux/arm64"},
	} {
		t.Run(tc.format+"/"+tc.name, func(t *testing.T) {
			src := index(t, tc.format)
			var filter []v1.Platform
			if tc.labelPlat != "" {
				filter = platforms(t, strings.Split(tc.labelPlat, ",")...)
			}
			out, err := customize.ApplyIndex(src, lines, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(out); err != nil {
				t.Fatalf("result is not a consistent index: %v", err)
			}
			srcDigest, _ := src.Digest()
			srcMT, _ := src.MediaType()
			if mt, _ := out.MediaType(); mt != srcMT {
				t.Errorf("media type %s, want the source's %s", mt, srcMT)
			}
			im, _ := out.IndexManifest()
			want := map[string]string{customize.LabelBaseDigest: srcDigest.String(), customize.LabelCustomized: hash}
			if tc.labelPlat != "" {
				want[customize.LabelPlatforms] = tc.labelPlat
			}
			var wantAnn map[string]string
			if tc.format == "oci" {
				wantAnn = maps.Clone(want)
				wantAnn["org.opencontainers.image.source"] = "https://example.com/redis"
			}
			if d := cmp.Diff(wantAnn, im.Annotations); d != "" {
				t.Errorf("index annotations (-want +got):\n%s", d)
			}
			var plats []string
			for _, d := range im.Manifests {
				plats = append(plats, d.Platform.String())
				img, err := out.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				cf, _ := img.ConfigFile()
				if cf.Architecture != d.Platform.Architecture {
					t.Errorf("%s holds the %s image", d.Platform, cf.Architecture)
				}
				got := map[string]string{}
				for k := range want {
					got[k] = cf.Config.Labels[k]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("labels of %s (-want +got):\n%s", d.Platform, diff)
				}
				if !customize.Stamped(cf, srcDigest, lines, filter) {
					t.Errorf("%s: Stamped is false for what ApplyIndex made", d.Platform)
				}
				if !slices.Contains(cf.Config.Env, "FOO=bar") {
					t.Errorf("%s: env %v lacks FOO=bar", d.Platform, cf.Config.Env)
				}
			}
			if d := cmp.Diff(tc.platforms, plats); d != "" {
				t.Errorf("platforms (-want +got):\n%s", d)
			}
		})
	}
}

func TestApplyIndexRefuses(t *testing.T) {
	lines, _ := customize.Parse([]string{"ENV A=1"})
	if _, err := customize.ApplyIndex(index(t, "oci"), lines, customize.WithPlatforms(platforms(t, "linux/s390x")...)); !errors.Is(err, customize.ErrNoMatchingPlatform) {
		t.Errorf("filter keeping nothing: %v, want ErrNoMatchingPlatform", err)
	}
	inner := index(t, "oci")
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: inner, Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex}})
	if _, err := customize.ApplyIndex(nested, lines); !errors.Is(err, customize.ErrUnsupported) {
		t.Errorf("nested index: %v, want ErrUnsupported", err)
	}
	if _, err := customize.ApplyIndex(index(t, "oci"), lines, customize.WithPlatforms(v1.Platform{OS: "linux"})); err == nil || !strings.Contains(err.Error(), `platform "linux": want os/arch`) {
		t.Errorf("bad platform: %v", err)
	}
}

// TestReproducible: the same source and lines give the same digest, from
// images built apart (nothing depends on the clock, map order or pointers).
func TestReproducible(t *testing.T) {
	lines, _ := customize.Parse([]string{"ENV FOO=bar", "VOLUME /data /logs", "DIR /data 0750", "DIR /tmp/x", "DIR /var/run/app"})
	digest := func() (string, string) {
		img, err := customize.Apply(baseImage(t, "oci", "amd64"), lines)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := customize.ApplyIndex(index(t, "docker"), lines)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := img.Digest()
		b, _ := idx.Digest()
		return a.String(), b.String()
	}
	img1, idx1 := digest()
	img2, idx2 := digest()
	if img1 != img2 || idx1 != idx2 {
		t.Errorf("digests differ between runs: image %s vs %s, index %s vs %s", img1, img2, idx1, idx2)
	}
	other, _ := customize.Parse([]string{"ENV FOO=baz", "VOLUME /data /logs", "DIR /data 0750", "DIR /tmp/x", "DIR /var/run/app"})
	img3, err := customize.Apply(baseImage(t, "oci", "amd64"), other)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img3.Digest(); d.String() == img1 {
		t.Errorf("different lines gave the same digest %s", d)
	}
}

// TestEpochWithoutCreated: an image without a creation time gets the Unix
// epoch on what is added, not the clock.
func TestEpochWithoutCreated(t *testing.T) {
	base := baseImage(t, "oci", "amd64")
	cf, _ := base.ConfigFile()
	cf = cf.DeepCopy()
	cf.Created = v1.Time{}
	base, err := mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := customize.Parse([]string{"DIR /data"})
	out, err := customize.Apply(base, lines)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := out.Layers()
	rc, _ := layers[len(layers)-1].Uncompressed()
	defer rc.Close()
	want := map[string]node{"data/": {Type: "dir", Mode: "0755", MTime: "1970-01-01T00:00:00Z"}}
	if d := cmp.Diff(want, entries(t, rc, false)); d != "" {
		t.Errorf("layer (-want +got):\n%s", d)
	}
	ocf, _ := out.ConfigFile()
	if h := ocf.History[len(ocf.History)-1]; !h.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("history created %v, want the epoch", h.Created)
	}
}

func TestStamped(t *testing.T) {
	lines, _ := customize.Parse([]string{"ENV FOO=bar", "DIR /data 0750"})
	base := baseImage(t, "oci", "amd64")
	out, err := customize.Apply(base, lines)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := out.ConfigFile()
	bd, _ := base.Digest()
	other, _ := customize.Parse([]string{"ENV FOO=bar", "DIR /data 0700"})
	same, _ := customize.Parse([]string{"env   FOO=bar", "dir /data 750"})
	for _, tc := range []struct {
		name      string
		cf        *v1.ConfigFile
		base      v1.Hash
		lines     []policy.Customization
		platforms []v1.Platform
		want      bool
	}{
		{"as applied", cf, bd, lines, nil, true},
		{"the same lines written differently", cf, bd, same, nil, true},
		{"other lines", cf, bd, other, nil, false},
		{"another source", cf, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, lines, nil, false},
		{"a platform filter it did not have", cf, bd, lines, platforms(t, "linux/amd64"), false},
		{"the plain source", mustConfig(t, base), bd, lines, nil, false},
		{"no config", nil, bd, lines, nil, false},
		{"no lines", cf, bd, nil, nil, false},
	} {
		if got := customize.Stamped(tc.cf, tc.base, tc.lines, tc.platforms); got != tc.want {
			t.Errorf("%s: Stamped = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func mustConfig(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestParseNamesTheLine(t *testing.T) {
	_, err := customize.Parse([]string{"ENV A=1", "ENV 1A=x"})
	want := `customize[1] "ENV 1A=x": ENV: "1A" is not a variable name (letters, digits and _, not starting with a digit)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestRefusesWhatNoLineCanSay: Customizations built by hand are checked as
// lines are.
func TestRefusesWhatNoLineCanSay(t *testing.T) {
	base := baseImage(t, "oci", "amd64")
	for _, c := range []policy.Customization{
		{Instruction: "ENV", Key: "A", Value: "two\nlines"},
		{Instruction: "DIR", Paths: []string{"/a", "/b"}, Mode: 0o755},
		{Instruction: "VOLUME", Paths: []string{"relative"}},
		{Instruction: "RUN", Paths: []string{"/bin/sh"}},
	} {
		if _, err := customize.Apply(base, []policy.Customization{c}); err == nil {
			t.Errorf("%+v applied, want an error", c)
		}
	}
}

type formatCase struct {
	Line string `json:"line"`
	Want string `json:"want"`
}

func TestFormat(t *testing.T) {
	var cases []formatCase
	readJSON(t, "testdata/format.json", &cases)
	for _, tc := range cases {
		c, err := policy.ParseCustomization(tc.Line)
		if err != nil {
			t.Errorf("%q: %v", tc.Line, err)
			continue
		}
		if got := customize.Format(c); got != tc.Want {
			t.Errorf("Format(%q) = %q, want %q", tc.Line, got, tc.Want)
		}
	}
}

// FuzzFormat: every line that parses formats to a line that parses back to
// the same customisation, and formats the same again. The one exception is
// policy.ParseCustomization's: a backslash before a control character or an
// invalid UTF-8 byte (read as U+FFFD) lets into a value what no line may
// contain literally; such a customisation cannot be applied (canonical
// refuses it).
func FuzzFormat(f *testing.F) {
	var cases []formatCase
	readJSON(f, "testdata/format.json", &cases)
	for _, tc := range cases {
		f.Add(tc.Line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := policy.ParseCustomization(line)
		if err != nil || !literal(c.Value+strings.Join(c.Paths, "")) {
			return
		}
		text := customize.Format(c)
		back, err := policy.ParseCustomization(text)
		if err != nil {
			t.Fatalf("%q formats to %q, which does not parse: %v", line, text, err)
		}
		if d := cmp.Diff(c, back); d != "" {
			t.Fatalf("%q -> %q changes the customisation (-before +after):\n%s", line, text, d)
		}
		if again := customize.Format(back); again != text {
			t.Fatalf("format is not stable: %q then %q", text, again)
		}
	})
}

// literal reports whether a line may hold s as it is.
func literal(s string) bool {
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsControl(r) && r != '\t' {
			return false
		}
	}
	return true
}

func platforms(t testing.TB, specs ...string) []v1.Platform {
	t.Helper()
	var ps []v1.Platform
	for _, s := range specs {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, *p)
	}
	return ps
}
