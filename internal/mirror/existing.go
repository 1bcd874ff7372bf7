package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func (c *copier) filterKey(src v1.Hash) string {
	ps := make([]string, len(c.o.platforms))
	for i, p := range c.o.platforms {
		ps[i] = p.String()
	}
	sort.Strings(ps)
	return c.dst.Context().Name() + "|" + src.String() + "|" + strings.Join(ps, ",")
}

func (c *copier) rememberFiltered(src, target v1.Hash) {
	c.m.filtered.Store(c.filterKey(src), target)
}

// alreadyMirrored finishes the copy without touching the source when the
// destination holds what src names: the source digest itself, or, for a
// platform-filtered copy, the index an earlier copy made from it.
func (c *copier) alreadyMirrored(ctx context.Context, src v1.Hash) (Result, bool, error) {
	want := src
	if len(c.o.platforms) > 0 {
		if v, ok := c.m.filtered.Load(c.filterKey(src)); ok {
			want = v.(v1.Hash)
		} else if h, ok, err := c.filteredInDestination(ctx, src); err != nil || !ok {
			return Result{}, false, err
		} else {
			want = h
		}
	}
	if d, ok := c.dst.(name.Digest); ok && d.DigestStr() != want.String() {
		return Result{}, false, fmt.Errorf("destination names digest %s but the source is %s", d.DigestStr(), want)
	}
	done, err := c.tagExisting(ctx, want)
	if err != nil || !done {
		return Result{}, false, err
	}
	r := c.result()
	r.SourceDigest, r.TargetDigest, r.AlreadyMirrored = src.String(), want.String(), true
	r.Target = c.dst.Context().Digest(want.String()).Name()
	return r, true, nil
}

// tagExisting reports whether the destination holds manifest want, pointing
// dst's tag at it (with the manifest read from the destination) if needed.
func (c *copier) tagExisting(ctx context.Context, want v1.Hash) (bool, error) {
	tag, isTag := c.dst.(name.Tag)
	if isTag {
		d, found, err := c.dstC.headManifest(ctx, tag.TagStr())
		if err != nil {
			return false, fmt.Errorf("look up destination: %w", err)
		}
		if found && d.Digest == want {
			return true, nil
		}
	}
	_, found, err := c.dstC.headManifest(ctx, want.String())
	if err != nil {
		return false, fmt.Errorf("look up destination: %w", err)
	}
	if !found {
		return false, nil
	}
	if !isTag {
		return true, nil
	}
	raw, mt, _, err := c.dstC.getManifest(ctx, want.String(), want)
	if err != nil {
		return false, fmt.Errorf("read destination manifest %s: %w", want, err)
	}
	if mt == "" {
		mt = sniffMediaType(raw)
	}
	if err := c.dstC.putManifest(ctx, tag.TagStr(), mt, raw, want); err != nil {
		return false, fmt.Errorf("tag %s: %w", tag.TagStr(), err)
	}
	c.manifestsPushed.Add(1)
	return true, nil
}

// filteredInDestination reads the index the destination tag names and
// reports it when an earlier copy made it from src with this filter, as
// its annotations say. Reading the destination costs no pull.
func (c *copier) filteredInDestination(ctx context.Context, src v1.Hash) (v1.Hash, bool, error) {
	tag, ok := c.dst.(name.Tag)
	if !ok {
		return v1.Hash{}, false, nil
	}
	head, found, err := c.dstC.headManifest(ctx, tag.TagStr())
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("look up destination: %w", err)
	}
	if !found || head.MediaType != "" && !head.MediaType.IsIndex() {
		return v1.Hash{}, false, nil
	}
	raw, _, digest, err := c.dstC.getManifest(ctx, tag.TagStr(), head.Digest)
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("read destination index: %w", err)
	}
	var probe struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return v1.Hash{}, false, nil
	}
	a := probe.Annotations
	if a[AnnotationSourceDigest] != src.String() || a[AnnotationPlatforms] != c.platformSpecs() {
		return v1.Hash{}, false, nil
	}
	return digest, true, nil
}
