// Package customize applies a policy's customisation lines (VOLUME, ENV,
// DIR; see policy.ParseCustomization) to container images without a
// container runtime: the config is edited and directories arrive in one new
// layer, built in memory with go-containerregistry. It works on one image
// (Apply) and on a multi-platform index (ApplyIndex), and does no I/O of its
// own: the images may be remote (pkg/v1/remote) and are read lazily.
//
// The result is reproducible: the same source and the same lines always
// give the same digest. Every time in what is added (the layer's entries,
// history entries) is the source image's creation time, or the Unix epoch
// when it has none, and nothing depends on the clock or on map order.
//
// A customised image records where it came from, so that a later run can
// tell it is up to date without pulling the source again (Stamped):
//
//	org.opencontainers.image.base.digest  the digest the source reference
//	                                      resolved to (the index, for a
//	                                      multi-platform source)
//	dev.pullheal.customized               sha256 of the lines (Hash)
//	dev.pullheal.platforms                the platform filter, when ApplyIndex had one
//
// They are config labels of every image, and also manifest annotations where
// the format has them (OCI manifests and indexes; Docker schema 2 has none).
package customize

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/policy"
)

// Labels (and annotations) a customised image carries.
const (
	LabelBaseDigest = "org.opencontainers.image.base.digest"
	LabelCustomized = "dev.pullheal.customized"
	LabelPlatforms  = "dev.pullheal.platforms"
)

// HistoryPrefix starts the created_by of the history entry each line adds.
const HistoryPrefix = "pullheal customize: "

// Sentinel errors.
var (
	// ErrNoLines means there was nothing to apply.
	ErrNoLines = errors.New("no customisation lines")
	// ErrNoMatchingPlatform means a platform filter kept no image of an index.
	ErrNoMatchingPlatform = errors.New("no matching platform")
	// ErrUnsupported means the input is not something this package can
	// customise: an artifact rather than an image, a nested index.
	ErrUnsupported = errors.New("unsupported manifest")
)

// dockerReferenceType marks BuildKit's attestation manifests in an index.
// They describe the source images' bytes, which a customised index no
// longer holds, so they are dropped.
const (
	dockerReferenceType  = "vnd.docker.reference.type"
	attestationReference = "attestation-manifest"
)

// Parse parses the customize lines of a policy rule. The error names the
// line by its position: customize[1] "ENV 1A=x": ...
func Parse(lines []string) ([]policy.Customization, error) {
	out := make([]policy.Customization, 0, len(lines))
	for i, l := range lines {
		c, err := policy.ParseCustomization(l)
		if err != nil {
			return nil, fmt.Errorf("customize[%d] %q: %w", i, l, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Format renders c as the canonical line that parses back to it: the
// instruction in capitals, single spaces, quotes only where needed, DIR's
// mode as four octal digits. It is what history entries and Hash use, so
// that "env A=1" and "ENV  A=1" customise alike.
func Format(c policy.Customization) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(c.Instruction))
	switch strings.ToUpper(c.Instruction) {
	case policy.CustomizeVolume:
		for _, p := range c.Paths {
			b.WriteByte(' ')
			b.WriteString(quote(p))
		}
	case policy.CustomizeEnv:
		b.WriteByte(' ')
		b.WriteString(c.Key)
		b.WriteByte('=')
		b.WriteString(quote(c.Value))
	case policy.CustomizeDir:
		for _, p := range c.Paths {
			b.WriteByte(' ')
			b.WriteString(quote(p))
		}
		fmt.Fprintf(&b, " %04o", octalMode(c.Mode))
	}
	return b.String()
}

// quote double-quotes s when a word splitter would otherwise change it.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// octalMode renders a directory mode the way chmod writes it.
func octalMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		o |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	return o
}

// canonical checks every line by formatting and parsing it again, and
// returns the parsed forms with their canonical text. A Customization built
// by hand that no line can express (a newline in a value, two DIR paths)
// is refused here rather than applied in a way no policy could write.
func canonical(lines []policy.Customization) ([]policy.Customization, []string, error) {
	if len(lines) == 0 {
		return nil, nil, ErrNoLines
	}
	cs := make([]policy.Customization, len(lines))
	texts := make([]string, len(lines))
	for i, c := range lines {
		text := Format(c)
		p, err := policy.ParseCustomization(text)
		if err != nil {
			return nil, nil, fmt.Errorf("customisation %d (%s): %w", i, text, err)
		}
		cs[i], texts[i] = p, Format(p)
	}
	return cs, texts, nil
}

// Hash identifies a list of lines: "sha256:" and the hex SHA-256 of their
// canonical forms (Format), one a line. Order matters (a later ENV of the
// same key wins), so it is kept.
func Hash(lines []policy.Customization) (string, error) {
	_, texts, err := canonical(lines)
	if err != nil {
		return "", err
	}
	return hashTexts(texts), nil
}

func hashTexts(texts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(texts, "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Option configures ApplyIndex.
type Option func(*options) error

type options struct {
	platforms []v1.Platform
	specs     []string
}

// WithPlatforms keeps only the images of an index whose platform satisfies
// one of ps, as mirror.WithPlatforms does for plain copies (which parses
// and validates them). Entries without a platform are dropped by a filter.
func WithPlatforms(ps ...v1.Platform) Option {
	return func(o *options) error {
		if len(ps) == 0 {
			return errors.New("platforms: none given")
		}
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("platform %q: want os/arch[/variant]", p.String())
			}
			o.platforms = append(o.platforms, p)
			o.specs = append(o.specs, p.String())
		}
		slices.Sort(o.specs)
		o.specs = slices.Compact(o.specs)
		return nil
	}
}

func (o *options) keeps(p *v1.Platform) bool {
	if len(o.platforms) == 0 {
		return true
	}
	if p == nil {
		return false
	}
	for _, want := range o.platforms {
		if p.Satisfies(want) {
			return true
		}
	}
	return false
}

// stamp is the provenance a customised image records.
type stamp map[string]string

func newStamp(base v1.Hash, linesHash string, platforms []string) stamp {
	s := stamp{LabelBaseDigest: base.String(), LabelCustomized: linesHash}
	if len(platforms) > 0 {
		s[LabelPlatforms] = strings.Join(platforms, ",")
	}
	return s
}

// Stamped reports whether cf, the config of an image in a registry, is
// what Apply (platforms nil) or ApplyIndex (with those platforms) makes of
// a source with digest base and these lines: it carries the same three
// labels, the platform one absent when there was no filter. It lets a
// caller skip a rebuild knowing only the source's digest, which a HEAD
// request gives without spending a pull.
func Stamped(cf *v1.ConfigFile, base v1.Hash, lines []policy.Customization, platforms []v1.Platform) bool {
	if cf == nil {
		return false
	}
	h, err := Hash(lines)
	if err != nil {
		return false
	}
	var o options
	if len(platforms) > 0 {
		if err := WithPlatforms(platforms...)(&o); err != nil {
			return false
		}
	}
	want := newStamp(base, h, o.specs)
	for _, k := range []string{LabelBaseDigest, LabelCustomized, LabelPlatforms} {
		have, ok := cf.Config.Labels[k]
		w, wantOK := want[k]
		if ok != wantOK || have != w {
			return false
		}
	}
	return true
}

// Apply returns img with lines applied, in order:
//
//   - VOLUME adds the paths to the config's volumes;
//   - ENV sets the variable, replacing an existing entry of the same name
//     where it stands, or appending it;
//   - DIR lines together add one layer holding the directories: each is
//     owned by root with the line's mode; parents the image lacks are
//     created root-owned 0755, parents it has keep their owner and mode.
//     A path through a symbolic link of the image is followed the way a
//     runtime extracting the layer would (DIR /var/run/app on an image
//     where /var/run -> /run creates /run/app).
//
// Each line adds a history entry "pullheal customize: LINE"; the one that
// carries the DIR layer is the first DIR line's. Created time, entrypoint,
// user and every other setting of the image are kept. The labels of the
// package doc are added, with base digest img's own.
func Apply(img v1.Image, lines []policy.Customization) (v1.Image, error) {
	cs, texts, err := canonical(lines)
	if err != nil {
		return nil, err
	}
	base, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("source digest: %w", err)
	}
	return apply(img, cs, texts, newStamp(base, hashTexts(texts), nil))
}

// ApplyIndex applies lines (see Apply) to every image of idx and returns a
// new index of the results, with the source index's media type, platforms
// and annotations. The base digest recorded in every image is idx's own.
// BuildKit attestation manifests are dropped: they attest the source's
// bytes, not the customised ones. A nested index is refused.
func ApplyIndex(idx v1.ImageIndex, lines []policy.Customization, opts ...Option) (v1.ImageIndex, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cs, texts, err := canonical(lines)
	if err != nil {
		return nil, err
	}
	base, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("source index digest: %w", err)
	}
	st := newStamp(base, hashTexts(texts), o.specs)
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("source index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, fmt.Errorf("source index media type: %w", err)
	}
	var adds []mutate.IndexAddendum
	for _, d := range im.Manifests {
		switch {
		case d.Annotations[dockerReferenceType] == attestationReference:
			continue
		case !o.keeps(d.Platform):
			continue
		case d.MediaType.IsIndex():
			return nil, fmt.Errorf("%w: %s is an index inside an index", ErrUnsupported, d.Digest)
		case !d.MediaType.IsImage():
			return nil, fmt.Errorf("%w: index entry %s has media type %q, not an image", ErrUnsupported, d.Digest, d.MediaType)
		}
		child, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("image %s of the index: %w", d.Digest, err)
		}
		out, err := apply(child, cs, texts, st)
		if err != nil {
			return nil, fmt.Errorf("image %s (%s): %w", d.Digest, platformString(d.Platform), err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: out, Descriptor: v1.Descriptor{
			MediaType: d.MediaType, Platform: d.Platform, Annotations: d.Annotations,
		}})
	}
	if len(adds) == 0 {
		return nil, fmt.Errorf("%w: the index has no image for %s", ErrNoMatchingPlatform, strings.Join(o.specs, ", "))
	}
	var out v1.ImageIndex = mutate.IndexMediaType(empty.Index, mt)
	if mt == types.OCIImageIndex {
		anns := maps.Clone(im.Annotations)
		if anns == nil {
			anns = map[string]string{}
		}
		maps.Copy(anns, st)
		out = mutate.Annotations(out, anns).(v1.ImageIndex)
	}
	return mutate.AppendManifests(out, adds...), nil
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "no platform"
	}
	return p.String()
}

func apply(img v1.Image, cs []policy.Customization, texts []string, st stamp) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Config.MediaType != types.DockerConfigJSON && m.Config.MediaType != types.OCIConfigJSON {
		return nil, fmt.Errorf("%w: config media type %q is not an image config", ErrUnsupported, m.Config.MediaType)
	}
	src, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf := src.DeepCopy()
	if cf.RootFS.Type == "" {
		// The only type there is; a config without it (one that had no
		// rootfs at all) would be refused by runtimes once it lists layers.
		cf.RootFS.Type = "layers"
	}
	when := cf.Created.Time
	if when.IsZero() {
		when = time.Unix(0, 0)
	}
	when = when.UTC().Truncate(time.Second)

	var dirs []policy.Customization
	for _, c := range cs {
		switch c.Instruction {
		case policy.CustomizeVolume:
			if cf.Config.Volumes == nil {
				cf.Config.Volumes = map[string]struct{}{}
			}
			for _, p := range c.Paths {
				cf.Config.Volumes[p] = struct{}{}
			}
		case policy.CustomizeEnv:
			cf.Config.Env = setEnv(cf.Config.Env, c.Key, c.Value)
		case policy.CustomizeDir:
			dirs = append(dirs, c)
		}
	}
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	maps.Copy(cf.Config.Labels, st)

	var layer v1.Layer
	if len(dirs) > 0 {
		if cf.OS == "windows" {
			// A Windows layer keeps files under Files/ and registry hives
			// under Hives/, and a base layer is foreign (not in the
			// registry): a Linux-style directory layer would not apply.
			return nil, fmt.Errorf("%w: DIR on a Windows image (ENV and VOLUME work)", ErrUnsupported)
		}
		for _, l := range m.Layers {
			if !l.MediaType.IsDistributable() {
				// DIR reads the image's filesystem, and this layer is
				// not in the registry.
				return nil, fmt.Errorf("%w: DIR on an image with the non-distributable layer %s", ErrUnsupported, l.Digest)
			}
		}
		layer, err = dirLayer(img, dirs, when, layerMediaType(m.MediaType))
		if err != nil {
			return nil, err
		}
	}
	adds := make([]mutate.Addendum, 0, len(cs))
	carried := false
	for i, c := range cs {
		add := mutate.Addendum{History: v1.History{
			Created: v1.Time{Time: when}, CreatedBy: HistoryPrefix + texts[i], EmptyLayer: true,
		}}
		if c.Instruction == policy.CustomizeDir && !carried {
			add.Layer, add.History.EmptyLayer, carried = layer, false, true
			add.MediaType = layerMediaType(m.MediaType)
		}
		adds = append(adds, add)
	}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if out, err = mutate.Append(out, adds...); err != nil {
		return nil, err
	}
	if m.MediaType == types.OCIManifestSchema1 {
		out = mutate.Annotations(out, st).(v1.Image)
	}
	return out, nil
}

// setEnv replaces KEY=... in env where it stands, or appends it.
func setEnv(env []string, key, value string) []string {
	entry := key + "=" + value
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out := slices.Clone(env)
			out[i] = entry
			return out
		}
	}
	return append(slices.Clone(env), entry)
}

// layerMediaType is the gzip layer type of the manifest's format, so that
// a Docker schema 2 image does not get an OCI layer or the reverse.
func layerMediaType(manifest types.MediaType) types.MediaType {
	if manifest == types.OCIManifestSchema1 {
		return types.OCILayer
	}
	return types.DockerLayer
}

// Transform applies lines to images as the mirror engine copies them
// (mirror.WithTransform).
type Transform struct {
	lines []policy.Customization
}

// NewTransform checks lines and returns their Transform.
func NewTransform(lines []policy.Customization) (*Transform, error) {
	if _, err := Hash(lines); err != nil {
		return nil, err
	}
	return &Transform{lines: slices.Clone(lines)}, nil
}

// Image applies the lines to src (Apply).
func (t *Transform) Image(src v1.Image) (v1.Image, error) { return Apply(src, t.lines) }

// Index applies the lines to the images of src that platforms keeps
// (ApplyIndex).
func (t *Transform) Index(src v1.ImageIndex, platforms []v1.Platform) (v1.ImageIndex, error) {
	var opts []Option
	if len(platforms) > 0 {
		opts = append(opts, WithPlatforms(platforms...))
	}
	return ApplyIndex(src, t.lines, opts...)
}

// Made reports whether cf is what the lines made of source (Stamped).
func (t *Transform) Made(cf *v1.ConfigFile, source v1.Hash, platforms []v1.Platform) bool {
	return Stamped(cf, source, t.lines, platforms)
}
