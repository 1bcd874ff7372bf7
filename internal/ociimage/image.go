// Package ociimage builds pullheal's container image without a Docker
// daemon: an OCI image index of FROM-scratch images (one per platform) that
// hold the static binary and a CA bundle, written as an OCI image layout and
// pushed from there.
//
// The build is reproducible: everything that goes in is a function of the
// commit (its binaries, its time, its metadata) and of the CA bundle, so the
// same inputs give the same index digest, byte for byte.
package ociimage

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs it.
const (
	BinaryPath   = "/pullheal"
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
	// User is numeric so that the image needs no /etc/passwd; 65532 is the
	// "nonroot" of distroless images, which ECS task definitions and
	// policies often expect.
	User = "65532:65532"
	// MetricsPort is the agent's default --listen port.
	MetricsPort = "9090/tcp"
)

// The OCI annotation keys the image carries, as labels of each image's
// config and as annotations of its manifests and of the index.
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationTitle    = "org.opencontainers.image.title"
	AnnotationRefName  = "org.opencontainers.image.ref.name"
)

// Platforms are the platforms `make image` builds.
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// Binary is pullheal built for one platform.
type Binary struct {
	Platform v1.Platform
	Data     []byte
}

// Spec is everything that goes into the image.
type Spec struct {
	Binaries []Binary
	// CABundle is the PEM bundle of trusted roots (Debian's
	// ca-certificates), at CABundlePath where Go's crypto/x509 looks first.
	CABundle []byte
	// Created is the commit's time. Every time in the image is this one.
	Created  time.Time
	Version  string // org.opencontainers.image.version
	Revision string // the commit, org.opencontainers.image.revision
	Source   string // the repository URL, org.opencontainers.image.source
}

// Validate reports the first thing that keeps s from making a usable image.
func (s Spec) Validate() error {
	if len(s.Binaries) == 0 {
		return errors.New("no binaries")
	}
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		p := b.Platform.String()
		if b.Platform.OS == "" || b.Platform.Architecture == "" {
			return fmt.Errorf("binary with platform %q: want OS/ARCH", p)
		}
		if seen[p] {
			return fmt.Errorf("two binaries for %s", p)
		}
		seen[p] = true
		if len(b.Data) == 0 {
			return fmt.Errorf("binary for %s is empty", p)
		}
	}
	if !bytes.Contains(s.CABundle, []byte("-----BEGIN CERTIFICATE-----")) {
		return errors.New("CA bundle holds no PEM certificate")
	}
	if s.Created.IsZero() {
		return errors.New("no creation time (the commit's time)")
	}
	for name, v := range map[string]string{"version": s.Version, "revision": s.Revision, "source": s.Source} {
		if v == "" || strings.ContainsAny(v, " \t\r\n\"'") {
			return fmt.Errorf("%s %q: want a non-empty word", name, v)
		}
	}
	return nil
}

func (s Spec) annotations() map[string]string {
	return map[string]string{
		AnnotationSource:   s.Source,
		AnnotationRevision: s.Revision,
		AnnotationVersion:  s.Version,
		AnnotationCreated:  s.Created.UTC().Format(time.RFC3339),
		AnnotationTitle:    "pullheal",
	}
}

// Build assembles the image index: one image per binary, sorted by
// platform, each FROM scratch with a layer of the CA bundle (the same blob
// for every platform) and a layer of the binary.
func Build(s Spec) (v1.ImageIndex, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image spec: %w", err)
	}
	created := s.Created.UTC().Truncate(time.Second)
	base, err := tarLayer(created,
		dir("etc/", 0o755), dir("etc/ssl/", 0o755), dir("etc/ssl/certs/", 0o755),
		file(strings.TrimPrefix(CABundlePath, "/"), 0o644, s.CABundle),
		// A writable /tmp for runs outside ECS; the task definition mounts a
		// volume there because the root file system is read-only.
		dir("tmp/", 0o1777),
	)
	if err != nil {
		return nil, fmt.Errorf("CA bundle layer: %w", err)
	}
	bins := append([]Binary(nil), s.Binaries...)
	sort.Slice(bins, func(i, j int) bool { return bins[i].Platform.String() < bins[j].Platform.String() })
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, b := range bins {
		img, err := platformImage(s, created, base, b)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", b.Platform, err)
		}
		p := b.Platform
		adds = append(adds, mutate.IndexAddendum{Add: plainImage{img}, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	out, ok := mutate.Annotations(idx, s.annotations()).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotate the index: not an index")
	}
	return out, nil
}

func platformImage(s Spec, created time.Time, base v1.Layer, b Binary) (v1.Image, error) {
	bin, err := tarLayer(created, file(strings.TrimPrefix(BinaryPath, "/"), 0o755, b.Data))
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			User:         User,
			Entrypoint:   []string{BinaryPath},
			Cmd:          []string{"agent"},
			Env:          []string{"PATH=/"},
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{MetricsPort: {}},
			Labels:       s.annotations(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "COPY ca-certificates.crt " + CABundlePath, Comment: "Debian ca-certificates"}},
		mutate.Addendum{Layer: bin, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "COPY pullheal " + BinaryPath, Comment: "pullheal " + s.Version}},
	)
	if err != nil {
		return nil, err
	}
	out, ok := mutate.Annotations(img, s.annotations()).(v1.Image)
	if !ok {
		return nil, errors.New("annotate the image: not an image")
	}
	return out, nil
}

// plainImage describes itself in the index without an artifactType.
// go-containerregistry sets one (the config's media type) on every
// manifest it indexes, but OCI means it for artifacts, and tools that
// rewrite an index (skopeo copy) drop it, which changes the digest.
type plainImage struct{ v1.Image }

func (i plainImage) Descriptor() (*v1.Descriptor, error) {
	d := v1.Descriptor{}
	var err error
	if d.MediaType, err = i.MediaType(); err != nil {
		return nil, err
	}
	if d.Digest, err = i.Digest(); err != nil {
		return nil, err
	}
	if d.Size, err = i.Size(); err != nil {
		return nil, err
	}
	return &d, nil
}
