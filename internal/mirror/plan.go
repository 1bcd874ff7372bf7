package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

func isSchema1(mt types.MediaType) bool {
	return mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed
}

// sniffMediaType reads the mediaType a manifest declares about itself.
func sniffMediaType(raw []byte) types.MediaType {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return types.OCIImageIndex
	case probe.Config != nil:
		return types.OCIManifestSchema1
	}
	return ""
}

// plan reads one manifest and, for an index, the children the destination
// lacks, and collects the blobs to copy.
func (c *copier) plan(ctx context.Context, raw []byte, mt types.MediaType, digest v1.Hash, top bool) (*node, error) {
	if mt == "" || (!mt.IsIndex() && !mt.IsImage() && !isSchema1(mt)) {
		// Some registries send a generic Content-Type; the manifest knows.
		if s := sniffMediaType(raw); s != "" {
			mt = s
		}
	}
	n := &node{digest: digest, mediaType: mt, raw: raw}
	switch {
	case isSchema1(mt):
		return nil, fmt.Errorf("%w: %s is a Docker schema 1 manifest", ErrUnsupportedManifest, digest)
	case mt.IsIndex():
		return n, c.planIndex(ctx, n, top)
	case mt.IsImage():
		return n, c.planImage(ctx, n, top)
	}
	return nil, fmt.Errorf("%w: %s has media type %q", ErrUnsupportedManifest, digest, mt)
}

func (c *copier) planImage(ctx context.Context, n *node, top bool) error {
	m, err := v1.ParseManifest(bytes.NewReader(n.raw))
	if err != nil {
		return fmt.Errorf("parse manifest %s: %w", n.digest, err)
	}
	if top && len(c.o.platforms) > 0 {
		if err := c.checkImagePlatform(ctx, m.Config); err != nil {
			return err
		}
	}
	n.blobs = append(n.blobs, m.Config)
	for _, l := range m.Layers {
		if l.MediaType.IsDistributable() {
			n.blobs = append(n.blobs, l)
		}
	}
	for _, b := range n.blobs {
		if b.Size < 0 || b.Digest.Hex == "" {
			return fmt.Errorf("manifest %s: blob descriptor %q with size %d is invalid", n.digest, b.Digest, b.Size)
		}
	}
	return nil
}

// checkImagePlatform compares a single-platform image against the filter,
// from its config blob (small, and not a counted pull).
func (c *copier) checkImagePlatform(ctx context.Context, cfg v1.Descriptor) error {
	cf, err := c.readConfig(ctx, c.srcC, cfg)
	if err != nil {
		return fmt.Errorf("config of %s: %w", c.src.Name(), err)
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	if have.OS == "" && have.Architecture == "" {
		// An artifact (a Helm chart, a signature) or a config without a
		// platform: nothing a filter can select.
		return fmt.Errorf("%w: %s names no platform (config %s)", ErrNoMatchingPlatform, c.src.Name(), cfg.MediaType)
	}
	if !c.platformWanted(&have) {
		return fmt.Errorf("%w: %s is a single-platform image for %s", ErrNoMatchingPlatform, c.src.Name(), have.String())
	}
	return nil
}

func (c *copier) platformWanted(p *v1.Platform) bool {
	if p == nil {
		return false
	}
	for _, want := range c.o.platforms {
		if p.Satisfies(want) {
			return true
		}
	}
	return false
}

func (c *copier) planIndex(ctx context.Context, n *node, top bool) error {
	im, err := v1.ParseIndexManifest(bytes.NewReader(n.raw))
	if err != nil {
		return fmt.Errorf("parse index %s: %w", n.digest, err)
	}
	kept := im.Manifests
	if top && len(c.o.platforms) > 0 {
		kept = nil
		var keep []int
		var seen []string
		wanted := map[v1.Hash]bool{}
		for _, d := range im.Manifests {
			switch {
			case isAttestation(d):
			case d.Platform == nil:
				seen = append(seen, "an entry without platform ("+string(d.MediaType)+")")
			default:
				seen = append(seen, d.Platform.String())
				if c.platformWanted(d.Platform) {
					wanted[d.Digest] = true
				}
			}
		}
		for i, d := range im.Manifests {
			// An attestation goes with the image it describes.
			if isAttestation(d) && wanted[attestedDigest(d)] || !isAttestation(d) && c.platformWanted(d.Platform) {
				kept = append(kept, d)
				keep = append(keep, i)
			}
		}
		if len(kept) == 0 {
			if len(seen) == 0 {
				seen = []string{"nothing"}
			}
			return fmt.Errorf("%w: %s offers %s", ErrNoMatchingPlatform, c.src.Name(), strings.Join(slices.Compact(seen), ", "))
		}
		if len(kept) < len(im.Manifests) {
			raw, err := filterIndex(n.raw, keep)
			if err != nil {
				return fmt.Errorf("filter index %s: %w", n.digest, err)
			}
			if n.mediaType == types.OCIImageIndex {
				// Where the index came from, so that a later run can tell
				// it is up to date from the destination alone.
				raw, err = annotateIndex(raw, map[string]string{
					AnnotationSourceDigest: n.digest.String(),
					AnnotationPlatforms:    c.platformSpecs(),
				})
				if err != nil {
					return fmt.Errorf("filter index %s: %w", n.digest, err)
				}
			}
			n.raw = raw
			n.digest, _, _ = v1.SHA256(bytes.NewReader(raw))
		}
	}

	// Children the destination holds are complete there (manifests go in
	// last): neither fetch them nor their blobs.
	children := make([]*node, len(kept))
	present := make([]bool, len(kept))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for i, d := range kept {
		g.Go(func() error {
			_, found, err := c.dstC.headManifest(gctx, d.Digest.String())
			present[i] = found
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("look up children in destination: %w", err)
	}
	fetch := 0
	for _, p := range present {
		if !p {
			fetch++
		}
	}
	if err := c.checkBudget(fetch, true); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for i, d := range kept {
		platform := ""
		if d.Platform != nil {
			platform = d.Platform.String()
		}
		attestation := isAttestation(d)
		if present[i] {
			children[i] = &node{digest: d.Digest, mediaType: d.MediaType, platform: platform, attestation: attestation, present: true}
			continue
		}
		g.Go(func() error {
			raw, mt, got, err := c.srcC.getManifest(gctx, d.Digest.String(), d.Digest)
			if err != nil {
				return fmt.Errorf("fetch manifest %s (%s): %w", d.Digest, orUnknown(platform), err)
			}
			if int64(len(raw)) != d.Size {
				return fmt.Errorf("%w: manifest %s is %d bytes, index says %d", ErrDigestMismatch, d.Digest, len(raw), d.Size)
			}
			if d.MediaType != "" {
				mt = d.MediaType
			}
			child, err := c.plan(gctx, raw, mt, got, false)
			if err != nil {
				return err
			}
			child.platform, child.attestation = platform, attestation
			children[i] = child
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	n.children = children
	return nil
}

// BuildKit stores attestations (provenance, SBOMs) of an image as index
// entries with platform unknown/unknown and these annotations, the digest
// one naming the image they describe.
const (
	annotationReferenceType   = "vnd.docker.reference.type"
	annotationReferenceDigest = "vnd.docker.reference.digest"
	referenceTypeAttestation  = "attestation-manifest"
)

func isAttestation(d v1.Descriptor) bool {
	return d.Annotations[annotationReferenceType] == referenceTypeAttestation
}

func attestedDigest(d v1.Descriptor) v1.Hash {
	h, err := v1.NewHash(d.Annotations[annotationReferenceDigest])
	if err != nil {
		return v1.Hash{}
	}
	return h
}

func orUnknown(platform string) string {
	if platform == "" {
		return "no platform"
	}
	return platform
}

// filterIndex keeps the entries at keep of an index, leaving every other
// field, and each kept entry, byte for byte as the source had them (bar
// whitespace). The result is deterministic, so a repeated filtered copy
// yields the same digest.
func filterIndex(raw []byte, keep []int) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, err
	}
	kept := make([]json.RawMessage, 0, len(keep))
	for _, i := range keep {
		kept = append(kept, entries[i])
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	doc["manifests"] = b
	return json.Marshal(doc)
}

func platformsOf(root *node) []string {
	var ps []string
	for _, ch := range root.children {
		if ch.platform != "" && !ch.attestation && !slices.Contains(ps, ch.platform) {
			ps = append(ps, ch.platform)
		}
	}
	return ps
}

// Annotations of an OCI index a platform filter made: the digest of the
// source index and the filter (sorted os/arch[/variant], comma-separated).
// Docker manifest lists carry no annotations; a repeated filtered copy of
// one reads the source index again (one manifest GET).
const (
	AnnotationSourceDigest = "dev.pullheal.source.digest"
	AnnotationPlatforms    = "dev.pullheal.platforms"
)

// annotateIndex adds annotations to an index, every other byte kept as
// filterIndex keeps them.
func annotateIndex(raw []byte, add map[string]string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	anns := map[string]string{}
	if a, ok := doc["annotations"]; ok {
		if err := json.Unmarshal(a, &anns); err != nil {
			return nil, err
		}
	}
	maps.Copy(anns, add)
	b, err := json.Marshal(anns)
	if err != nil {
		return nil, err
	}
	doc["annotations"] = b
	return json.Marshal(doc)
}

// platformSpecs is the filter in AnnotationPlatforms's form.
func (c *copier) platformSpecs() string {
	ps := make([]string, len(c.o.platforms))
	for i, p := range c.o.platforms {
		ps[i] = p.String()
	}
	sort.Strings(ps)
	return strings.Join(slices.Compact(ps), ",")
}
