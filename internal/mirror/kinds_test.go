package mirror_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/mirror"
)

// buildxIndex builds an index as `docker buildx build --push` makes it: one
// image per platform, each followed by an attestation manifest (platform
// unknown/unknown) whose annotations name the image it describes.
func buildxIndex(t testing.TB, platforms ...string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for i, p := range platforms {
		img := randomLayerImage(t, uint64(i+1), 1, 512, p)
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		digest := mustDigest(t, img)
		statement := static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":"`+
			strings.TrimPrefix(digest, "sha256:")+`"}}]}`), "application/vnd.in-toto+json")
		att, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), statement)
		if err != nil {
			t.Fatal(err)
		}
		// BuildKit's attestation config says unknown/unknown too.
		att = withPlatform(t, att, v1.Platform{OS: "unknown", Architecture: "unknown"})
		adds = append(adds,
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{
					"vnd.docker.reference.type":   "attestation-manifest",
					"vnd.docker.reference.digest": digest,
				},
			}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

// A platform filter keeps the attestations of the images it keeps, so that
// a filter that keeps every image keeps the source index (and its digest),
// and the result lists the platforms images run on, not unknown/unknown.
func TestCopyPlatformFilterKeepsAttestations(t *testing.T) {
	type entry struct{ Platform, Attests string }
	type outcome struct {
		Entries    []entry
		Platforms  []string
		SameDigest bool
	}
	tests := []struct {
		name      string
		platforms []string // of the source
		filter    []string
		want      outcome
		wantErr   string
	}{
		{
			name: "no filter", platforms: []string{"linux/amd64", "linux/arm64"},
			want: outcome{
				Entries:   []entry{{"linux/amd64", ""}, {"unknown/unknown", "linux/amd64"}, {"linux/arm64", ""}, {"unknown/unknown", "linux/arm64"}},
				Platforms: []string{"linux/amd64", "linux/arm64"}, SameDigest: true,
			},
		},
		{
			name: "one of two platforms", platforms: []string{"linux/amd64", "linux/arm64"}, filter: []string{"linux/amd64"},
			want: outcome{
				Entries:   []entry{{"linux/amd64", ""}, {"unknown/unknown", "linux/amd64"}},
				Platforms: []string{"linux/amd64"},
			},
		},
		{
			// What `docker buildx build` pushes by default: one platform and
			// its provenance. Nothing is dropped, so nothing changes.
			name: "the only platform", platforms: []string{"linux/amd64"}, filter: []string{"linux/amd64"},
			want: outcome{
				Entries:   []entry{{"linux/amd64", ""}, {"unknown/unknown", "linux/amd64"}},
				Platforms: []string{"linux/amd64"}, SameDigest: true,
			},
		},
		{
			name: "no match", platforms: []string{"linux/amd64", "linux/arm64"}, filter: []string{"linux/s390x"},
			wantErr: "offers linux/amd64, linux/arm64",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			idx := buildxIndex(t, tc.platforms...)
			src.pushIndex("library/app:1", idx)
			var opts []mirror.Option
			if len(tc.filter) > 0 {
				opts = append(opts, mirror.WithPlatforms(tc.filter...))
			}
			res, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"), opts...)
			if tc.wantErr != "" {
				if !errors.Is(err, mirror.ErrNoMatchingPlatform) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %v saying %q", err, mirror.ErrNoMatchingPlatform, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !dst.checkAbsentOrComplete("mirror/app:1") {
				t.Fatal("destination tag absent")
			}
			srcIdx := src.index("library/app:1")
			platformOf := map[string]string{}
			for _, d := range srcIdx.Manifests {
				platformOf[d.Digest.String()] = d.Platform.String()
			}
			got := outcome{Platforms: res.Platforms, SameDigest: res.TargetDigest == mustDigest(t, idx)}
			for _, d := range dst.index("mirror/app:1").Manifests {
				got.Entries = append(got.Entries, entry{d.Platform.String(), platformOf[d.Annotations["vnd.docker.reference.digest"]]})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// A filter that finds nothing to select says what the source offers
// instead of an empty list.
func TestCopyPlatformFilterOnWhatHasNoPlatform(t *testing.T) {
	chart, err := mutate.AppendLayers(
		mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.cncf.helm.config.v1+json"),
		static.NewLayer([]byte("chart"), "application/vnd.cncf.helm.chart.content.v1.tar+gzip"))
	if err != nil {
		t.Fatal(err)
	}
	chart, err = mutate.ConfigFile(chart, &v1.ConfigFile{})
	if err != nil {
		t.Fatal(err)
	}
	nested := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: multiArch(t, 256, 1, "linux/amd64"), Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex}})
	tests := []struct {
		name string
		push func(*testRegistry)
		want string
	}{
		{"helm chart", func(r *testRegistry) { r.pushImage("charts/app:1", chart) }, "names no platform (config application/vnd.cncf.helm.config.v1+json)"},
		{"index of an index", func(r *testRegistry) { r.pushIndex("charts/app:1", nested) }, "offers an entry without platform (application/vnd.oci.image.index.v1+json)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			tc.push(src)
			_, err := mirror.Copy(t.Context(), src.ref("charts/app:1"), dst.ref("mirror/app:1"), mirror.WithPlatforms("linux/amd64"))
			if !errors.Is(err, mirror.ErrNoMatchingPlatform) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %v saying %q", err, mirror.ErrNoMatchingPlatform, tc.want)
			}
			// Without a filter it is copied as it is.
			res, err := mirror.Copy(t.Context(), src.ref("charts/app:1"), dst.ref("mirror/app:1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.TargetDigest != src.digestOf("charts/app:1") || !dst.checkAbsentOrComplete("mirror/app:1") {
				t.Errorf("copied as %s, source is %s", res.TargetDigest, src.digestOf("charts/app:1"))
			}
		})
	}
}
