package hubsim

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed" // the seed catalogue
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// seedJSON describes the seeded images: which layers each is made of, and
// its config. Layers named alike are one blob wherever they appear.
//
//go:embed seed.json
var seedJSON string

type catalog struct {
	Created   time.Time            `json:"created"`
	Platforms []string             `json:"platforms"`
	Layers    map[string]layerSpec `json:"layers"`
	Images    []imageSpec          `json:"images"`
}

type layerSpec struct {
	CreatedBy string            `json:"createdBy"`
	Files     map[string]string `json:"files"`
}

type imageSpec struct {
	Repository string    `json:"repository"`
	Tags       []string  `json:"tags"`
	Format     string    `json:"format"` // "oci" or "docker"
	Layers     []string  `json:"layers"`
	Config     v1.Config `json:"config"`
}

// mediaTypes are an image's index, manifest, config and layer media types.
type mediaTypes struct {
	index, manifest, config, layer types.MediaType
}

// formatMediaTypes returns the media types of a format. Docker Hub serves
// both: official images are OCI, many others still Docker schema 2.
func formatMediaTypes(format string) (mediaTypes, bool) {
	switch format {
	case "oci":
		return mediaTypes{types.OCIImageIndex, types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer}, true
	case "docker":
		return mediaTypes{types.DockerManifestList, types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer}, true
	}
	return mediaTypes{}, false
}

// archVars returns what fills ${...} in layer file names and contents for
// an architecture.
func archVars(arch string) (map[string]string, bool) {
	switch arch {
	case "amd64":
		return map[string]string{"ARCH": "amd64", "TRIPLET": "x86_64-linux-gnu", "MACHINE": "x86_64"}, true
	case "arm64":
		return map[string]string{"ARCH": "arm64", "TRIPLET": "aarch64-linux-gnu", "MACHINE": "aarch64"}, true
	}
	return nil, false
}

func parseCatalog(data string) (catalog, error) {
	var c catalog
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("seed catalogue: %w", err)
	}
	if len(c.Platforms) == 0 {
		return c, fmt.Errorf("seed catalogue: no platforms")
	}
	for _, p := range c.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return c, fmt.Errorf("seed catalogue: platform %q: %w", p, err)
		}
		if _, ok := archVars(plat.Architecture); !ok {
			return c, fmt.Errorf("seed catalogue: platform %q: architecture not one of amd64, arm64", p)
		}
	}
	seen := map[string]bool{}
	for i, img := range c.Images {
		if !validRepository(img.Repository) {
			return c, fmt.Errorf("seed catalogue: image %d: invalid repository %q", i, img.Repository)
		}
		if _, ok := formatMediaTypes(img.Format); !ok {
			return c, fmt.Errorf("seed catalogue: %s: format %q is not oci or docker", img.Repository, img.Format)
		}
		if len(img.Tags) == 0 || len(img.Layers) == 0 {
			return c, fmt.Errorf("seed catalogue: %s: needs tags and layers", img.Repository)
		}
		for _, l := range img.Layers {
			if _, ok := c.Layers[l]; !ok {
				return c, fmt.Errorf("seed catalogue: %s: unknown layer %q", img.Repository, l)
			}
		}
		for _, t := range img.Tags {
			if seen[img.Repository+":"+t] {
				return c, fmt.Errorf("seed catalogue: %s:%s listed twice", img.Repository, t)
			}
			seen[img.Repository+":"+t] = true
		}
	}
	return c, nil
}

// seed builds the catalogue's images and writes them into the store.
func (h *Hub) seed(ctx context.Context) ([]SeededImage, error) {
	cat, err := parseCatalog(seedJSON)
	if err != nil {
		return nil, err
	}
	b := &seedBuilder{cat: cat, size: h.cfg.LayerSize, blobs: map[string][]byte{}}
	var out []SeededImage
	for _, spec := range cat.Images {
		idx, err := b.index(spec)
		if err != nil {
			return nil, fmt.Errorf("build %s:%s: %w", spec.Repository, spec.Tags[0], err)
		}
		digest, err := h.WriteIndex(ctx, spec.Repository, spec.Tags[0], idx)
		if err != nil {
			return nil, err
		}
		for _, t := range spec.Tags[1:] {
			if err := h.tagIndex(ctx, spec.Repository, t, idx); err != nil {
				return nil, err
			}
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("build %s:%s: %w", spec.Repository, spec.Tags[0], err)
		}
		var platforms []string
		pd := map[string]string{}
		for _, m := range im.Manifests {
			platforms = append(platforms, m.Platform.String())
			pd[m.Platform.String()] = m.Digest.String()
		}
		for _, t := range spec.Tags {
			out = append(out, SeededImage{
				Repository:      spec.Repository,
				Tag:             t,
				Digest:          digest.String(),
				Platforms:       slices.Clone(platforms),
				PlatformDigests: pd,
			})
		}
	}
	slices.SortFunc(out, func(a, b SeededImage) int {
		return strings.Compare(a.Repository+"\x00"+a.Tag, b.Repository+"\x00"+b.Tag)
	})
	return out, nil
}

// seedBuilder builds each (layer, architecture) once, so that images sharing
// a layer share its blob.
type seedBuilder struct {
	cat   catalog
	size  int
	blobs map[string][]byte // "layer/arch" -> gzip tar
	zw    *gzip.Writer      // reused: each new one allocates its window
}

func (b *seedBuilder) index(spec imageSpec) (v1.ImageIndex, error) {
	mt, _ := formatMediaTypes(spec.Format) // checked by parseCatalog
	idx := mutate.IndexMediaType(empty.Index, mt.index)
	for _, p := range b.cat.Platforms {
		plat, _ := v1.ParsePlatform(p) // checked by parseCatalog
		img, err := b.image(spec, *plat, mt)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: mt.manifest, Platform: plat},
		})
	}
	return idx, nil
}

func (b *seedBuilder) image(spec imageSpec, plat v1.Platform, mt mediaTypes) (v1.Image, error) {
	created := v1.Time{Time: b.cat.Created}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Created:      created,
		Config:       spec.Config,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, mt.manifest), mt.config)
	vars, _ := archVars(plat.Architecture)
	for _, name := range spec.Layers {
		blob, err := b.layerBlob(name, plat.Architecture)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blob)), nil
		}, tarball.WithMediaType(mt.layer))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", name, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     layer,
			MediaType: mt.layer,
			History:   v1.History{Created: created, CreatedBy: expand(b.cat.Layers[name].CreatedBy, vars)},
		})
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", name, err)
		}
	}
	return img, nil
}

func (b *seedBuilder) layerBlob(name, arch string) ([]byte, error) {
	key := name + "/" + arch
	if blob, ok := b.blobs[key]; ok {
		return blob, nil
	}
	vars, _ := archVars(arch)
	if b.zw == nil {
		zw, err := gzip.NewWriterLevel(io.Discard, gzip.NoCompression)
		if err != nil {
			return nil, err
		}
		b.zw = zw
	}
	blob, err := layerTarGz(b.zw, name, b.cat.Layers[name], vars, b.size, b.cat.Created)
	if err != nil {
		return nil, fmt.Errorf("layer %s (%s): %w", name, arch, err)
	}
	b.blobs[key] = blob
	return blob, nil
}

// layerTarGz writes a layer: the spec's files, their parent directories and
// a filler file of size bytes, in a fixed order with fixed metadata, gzipped
// without compression. Stored blocks keep the bytes (and so the digests)
// independent of the compressor's implementation, and make a blob's size
// follow size.
func layerTarGz(zw *gzip.Writer, name string, spec layerSpec, vars map[string]string, size int, mtime time.Time) ([]byte, error) {
	files := map[string][]byte{}
	for p, content := range spec.Files {
		files[expand(p, vars)] = []byte(expand(content, vars))
	}
	files["usr/share/hubsim/"+name+".bin"] = filler(name+"/"+vars["ARCH"], size)

	dirs := map[string]bool{}
	for p := range files {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	var names []string
	for p := range files {
		names = append(names, p)
	}
	for d := range dirs {
		names = append(names, d)
	}
	slices.Sort(names)

	var buf bytes.Buffer
	buf.Grow(size + 16<<10)
	zw.Reset(&buf)
	tw := tar.NewWriter(zw)
	for _, p := range names {
		hdr := &tar.Header{Name: p, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatUSTAR}
		if dirs[p] {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		} else {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, fileMode(p), int64(len(files[p]))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", p, err)
		}
		if !dirs[p] {
			if _, err := tw.Write(files[p]); err != nil {
				return nil, fmt.Errorf("tar %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fileMode(p string) int64 {
	dir := path.Base(path.Dir(p))
	if dir == "bin" || dir == "sbin" || strings.HasSuffix(p, ".sh") {
		return 0o755
	}
	return 0o644
}

// filler returns n bytes that look random and depend only on seed: SHA-256
// in counter mode, which no library upgrade can change.
func filler(seed string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var block [8]byte
	for i := uint64(0); len(out) < n; i++ {
		binary.BigEndian.PutUint64(block[:], i)
		sum := sha256.Sum256(append([]byte(seed), block[:]...))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return s
}
