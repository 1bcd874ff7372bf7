package mirror_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/mirror"
)

// ignoreVolatile leaves out of a Result comparison what depends on timing
// or random content.
var ignoreVolatile = cmpopts.IgnoreFields(mirror.Result{}, "Duration", "BytesCopied")

func TestCopyKeepsDigests(t *testing.T) {
	single, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		push   func(*testRegistry) v1.Hash
		want   func(digest string) mirror.Result
		childs int
	}{
		{
			name: "single-platform image",
			push: func(r *testRegistry) v1.Hash {
				r.pushImage("library/app:1", single)
				h, _ := single.Digest()
				return h
			},
			want: func(d string) mirror.Result {
				// A config and three layers; one manifest, fetched once.
				return mirror.Result{SourceDigest: d, TargetDigest: d, BlobsCopied: 4, ManifestsPushed: 1, ManifestGETs: 1}
			},
		},
		{
			name: "index of three platforms",
			push: func(r *testRegistry) v1.Hash {
				idx := multiArch(t, 1024, 2, "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
				r.pushIndex("library/app:1", idx)
				h, _ := idx.Digest()
				return h
			},
			want: func(d string) mirror.Result {
				// Three images of a config and two layers; three children and
				// the index, each fetched once.
				return mirror.Result{
					SourceDigest: d, TargetDigest: d,
					Platforms:   []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"},
					BlobsCopied: 9, ManifestsPushed: 4, ManifestGETs: 4,
				}
			},
			childs: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			digest := tc.push(src).String()

			res, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/library/app:1"))
			if err != nil {
				t.Fatal(err)
			}

			want := tc.want(digest)
			want.Source = src.ref("library/app:1")
			want.Target = dst.ref("mirror/library/app@" + digest)
			if diff := cmp.Diff(want, res, ignoreVolatile); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if got := dst.digestOf("mirror/library/app:1"); got != digest {
				t.Errorf("destination tag names %q, want the source digest %s", got, digest)
			}
			if !dst.checkAbsentOrComplete("mirror/library/app:1") {
				t.Fatal("destination tag absent after copy")
			}
			if bytes, _ := dst.counts(); bytes != res.BytesCopied || bytes == 0 {
				t.Errorf("destination received %d blob bytes, result says %d", bytes, res.BytesCopied)
			}
			if _, gets := src.counts(); gets != 1+tc.childs {
				t.Errorf("source served %d manifest GETs, want %d", gets, 1+tc.childs)
			}
		})
	}
}

func TestCopyDestinationWithoutTagTakesSources(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	idx := multiArch(t, 512, 1, "linux/amd64", "linux/arm64")
	src.pushIndex("library/app:1.27", idx)
	digest := mustDigest(t, idx)

	if _, err := mirror.Copy(t.Context(), src.ref("library/app:1.27"), dst.ref("mirror/app")); err != nil {
		t.Fatal(err)
	}
	if got := dst.digestOf("mirror/app:1.27"); got != digest {
		t.Errorf("mirror/app:1.27 names %q, want %s", got, digest)
	}

	// By digest, the destination gets the digest and no tag.
	if _, err := mirror.Copy(t.Context(), src.ref("library/app@"+digest), dst.ref("mirror/bydigest")); err != nil {
		t.Fatal(err)
	}
	if got := dst.digestOf("mirror/bydigest@" + digest); got != digest {
		t.Errorf("mirror/bydigest@%s missing", digest)
	}
	if got := dst.digestOf("mirror/bydigest:latest"); got != "" {
		t.Errorf("a copy by digest tagged latest (%s)", got)
	}
}

func TestRecopyTransfersNothing(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	idx := multiArch(t, 4096, 2, "linux/amd64", "linux/arm64")
	src.pushIndex("library/app:1", idx)
	digest := mustDigest(t, idx)
	m, err := mirror.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1")); err != nil {
		t.Fatal(err)
	}
	src.counts()
	dst.counts()

	tests := []struct {
		name   string
		mirror func() *mirror.Mirror
		dst    string
		pushed int // manifests written: the tag only, when it is new
	}{
		{"same mirror, same tag", func() *mirror.Mirror { return m }, "mirror/app:1", 0},
		{"new mirror, same tag", func() *mirror.Mirror { n, _ := mirror.New(); return n }, "mirror/app:1", 0},
		{"new tag of the same image", func() *mirror.Mirror { return m }, "mirror/app:stable", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.mirror().Copy(t.Context(), src.ref("library/app:1"), dst.ref(tc.dst))
			if err != nil {
				t.Fatal(err)
			}
			want := mirror.Result{
				Source: src.ref("library/app:1"), Target: dst.ref("mirror/app@" + digest),
				SourceDigest: digest, TargetDigest: digest, AlreadyMirrored: true, ManifestsPushed: tc.pushed,
			}
			if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(mirror.Result{}, "Duration")); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if _, gets := src.counts(); gets != 0 {
				t.Errorf("source served %d manifest GETs, want 0", gets)
			}
			if bytes, _ := dst.counts(); bytes != 0 {
				t.Errorf("destination received %d blob bytes, want 0", bytes)
			}
			if got := dst.digestOf(tc.dst); got != digest {
				t.Errorf("%s names %q, want %s", tc.dst, got, digest)
			}
		})
	}
}

func TestCopyFaults(t *testing.T) {
	tests := []struct {
		name string
		// fault installs faults on the source and destination.
		fault       func(src, dst *testRegistry)
		wantErr     error  // nil: the copy recovers
		wantErrText string // part of the error message
		wantSleeps  []time.Duration
	}{
		{
			name: "500 on one blob upload",
			fault: func(_, dst *testRegistry) {
				dst.setFault(failTimes(1, isBlobUpload, serverError))
			},
		},
		{
			name: "500 on every blob upload",
			fault: func(_, dst *testRegistry) {
				dst.setFault(failTimes(1000, isBlobUpload, serverError))
			},
			wantErrText: "storage failure",
		},
		{
			// The source GET started while the session opened is given up.
			name: "500 on one upload session start",
			fault: func(_, dst *testRegistry) {
				dst.setFault(failTimes(1, isUploadStart, serverError))
			},
		},
		{
			name: "500 on every upload session start",
			fault: func(_, dst *testRegistry) {
				dst.setFault(failTimes(1000, isUploadStart, serverError))
			},
			wantErrText: "start upload",
		},
		{
			name: "connection reset in the middle of a blob",
			fault: func(src, _ *testRegistry) {
				src.setFault(failTimes(1, isBlobGET, src.resetMidBody))
			},
		},
		{
			name: "connection reset in the middle of every blob",
			fault: func(src, _ *testRegistry) {
				src.setFault(failTimes(1000, isBlobGET, src.resetMidBody))
			},
			wantErrText: "unexpected EOF",
		},
		{
			name: "429 with Retry-After on a manifest GET",
			fault: func(src, _ *testRegistry) {
				src.setFault(failTimes(1, isManifestGET, tooManyRequests("7")))
			},
			wantSleeps: []time.Duration{7 * time.Second},
		},
		{
			name: "429 with a Retry-After longer than allowed",
			fault: func(src, _ *testRegistry) {
				src.setFault(failTimes(1, isManifestGET, tooManyRequests("3600")))
			},
			wantErr:    mirror.ErrRateLimited,
			wantSleeps: []time.Duration{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			idx := multiArch(t, 64<<10, 2, "linux/amd64", "linux/arm64")
			src.pushIndex("library/app:1", idx)
			tc.fault(src, dst)
			clock := newFakeClock()

			res, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"),
				clock.option(), mirror.WithRetry(3, time.Second))

			failing := tc.wantErr != nil || tc.wantErrText != ""
			switch {
			case !failing && err != nil:
				t.Fatalf("copy did not recover: %v", err)
			case failing && err == nil:
				t.Fatal("copy succeeded, want an error")
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("error %v, want %v", err, tc.wantErr)
			case tc.wantErrText != "" && !strings.Contains(err.Error(), tc.wantErrText):
				t.Errorf("error %q does not say %q", err, tc.wantErrText)
			}
			dst.setFault(nil)
			present := dst.checkAbsentOrComplete("mirror/app:1")
			if present == failing {
				t.Errorf("after the copy the tag is present=%v, want %v", present, !failing)
			}
			if !failing && res.TargetDigest != mustDigest(t, idx) {
				t.Errorf("target digest %s, want %s", res.TargetDigest, mustDigest(t, idx))
			}
			if tc.wantSleeps != nil {
				if diff := cmp.Diff(tc.wantSleeps, clock.sleeps(), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCopyRejectsCorruptBlob(t *testing.T) {
	img := randomLayerImage(t, 7, 3, 256<<10, "linux/amd64")
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	bad, err := layers[1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		corrupt func([]byte) []byte
		want    string
		// session makes the destination refuse monolithic uploads, so that
		// blobs go as PATCH then a commit PUT.
		session bool
	}{
		{name: "one byte flipped", corrupt: func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, want: "hashes to"},
		{name: "first byte flipped", corrupt: func(b []byte) []byte { b[0] ^= 0xff; return b }, want: "hashes to"},
		{name: "longer than promised", corrupt: func(b []byte) []byte { return append(b, 'x') }, want: "sends"},
		{name: "shorter than promised", corrupt: func(b []byte) []byte { return b[:len(b)-1] }, want: "sends"},
		{name: "one byte flipped, session upload", corrupt: func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, want: "hashes to", session: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			m, err := mirror.New(newFakeClock().option())
			if err != nil {
				t.Fatal(err)
			}
			if tc.session {
				// A first copy teaches the Mirror that this registry takes
				// sessions only.
				dst.setFault(refuseMonolithic)
				src.pushIndex("library/primer:1", multiArch(t, 128, 1, "linux/amd64"))
				if _, err := m.Copy(t.Context(), src.ref("library/primer:1"), dst.ref("mirror/primer:1")); err != nil {
					t.Fatal(err)
				}
				dst.seen()
			}
			src.pushImage("library/app:1", img)
			src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if !isBlobGET(r) || !strings.HasSuffix(r.URL.Path, bad.String()) {
					return false
				}
				rec := newRecorder()
				src.handler.ServeHTTP(rec, r)
				body := tc.corrupt(rec.Body.Bytes())
				w.Header().Set("Docker-Content-Digest", bad.String())
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return true
			})

			_, err = m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"))
			if !errors.Is(err, mirror.ErrDigestMismatch) {
				t.Fatalf("error %v, want ErrDigestMismatch", err)
			}
			if !strings.Contains(err.Error(), bad.String()) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name blob %s and say %q", err, bad, tc.want)
			}
			if dst.checkAbsentOrComplete("mirror/app:1") {
				t.Error("destination tag exists after a rejected copy")
			}
			if dst.digestOf("mirror/app@"+mustDigest(t, img)) != "" {
				t.Error("destination holds the manifest after a rejected copy")
			}
			for _, req := range dst.committed() {
				if strings.Contains(req, bad.String()) {
					t.Errorf("destination committed the corrupt blob: %s", req)
				}
			}
			// The upload that names the digest never delivers a whole blob:
			// the bytes that would complete it are withheld. In a session
			// the commit naming the digest is never sent at all.
			if got, size := dst.received(bad.String()), layerSize(t, layers[1]); got >= size {
				t.Errorf("destination received %d bytes for %s, want fewer than its %d", got, bad, size)
			}
			if tc.session {
				for _, req := range dst.seen() {
					if strings.HasPrefix(req, "PUT ") && strings.Contains(req, url.QueryEscape(bad.String())) {
						t.Errorf("destination was asked to commit the corrupt blob: %s", req)
					}
				}
			}
		})
	}
}

func TestCopyMountsFromSiblingRepository(t *testing.T) {
	tests := []struct {
		name        string
		mount       bool // the destination honours mount requests
		hintOnly    bool // a fresh Mirror that knows the sibling from a hint
		wantMounted int
		wantCopied  int
		wantTries   int // mount requests
	}{
		{name: "registry mounts", mount: true, wantMounted: 4, wantTries: 4},
		// The first refusal of a mount the Mirror knew would work stops it
		// trying more on that registry.
		{name: "registry ignores mounts", mount: false, wantCopied: 4, wantTries: 1},
		{name: "mount from a hint", mount: true, hintOnly: true, wantMounted: 4, wantTries: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := randomLayerImage(t, 3, 3, 128<<10, "linux/amd64")
			src := newTestRegistry(t)
			dst := newTestRegistry(t, scoped(tc.mount))
			src.pushImage("library/app:1", img)
			m, err := mirror.New()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("team-a/app:1")); err != nil {
				t.Fatal(err)
			}
			dst.counts()
			dst.seen()

			var opts []mirror.Option
			if tc.hintOnly {
				if m, err = mirror.New(); err != nil {
					t.Fatal(err)
				}
				blobs := imageBlobs(t, img)
				for _, b := range blobs {
					opts = append(opts, mirror.WithMountHint(b, "team-a/app"))
				}
			}
			opts = append(opts, mirror.WithJobs(1))
			res, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("team-b/app:1"), opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := [2]int{res.BlobsMounted, res.BlobsCopied}
			if want := [2]int{tc.wantMounted, tc.wantCopied}; got != want {
				t.Errorf("mounted, copied = %v, want %v", got, want)
			}
			bytes, _ := dst.counts()
			if tc.wantCopied == 0 && bytes != 0 {
				t.Errorf("destination received %d blob bytes, want 0 (all mounted)", bytes)
			}
			if tc.wantCopied > 0 && bytes != res.BytesCopied {
				t.Errorf("destination received %d blob bytes, result says %d", bytes, res.BytesCopied)
			}
			mounts := 0
			for _, req := range dst.seen() {
				if strings.Contains(req, "mount=") && strings.Contains(req, "from=team-a%2Fapp") {
					mounts++
				}
			}
			if mounts != tc.wantTries || res.MountsRefused != tc.wantTries-tc.wantMounted {
				t.Errorf("destination saw %d mount requests from team-a/app, %d refused; want %d", mounts, res.MountsRefused, tc.wantTries)
			}
			if !dst.checkAbsentOrComplete("team-b/app:1") {
				t.Error("team-b/app:1 absent")
			}
		})
	}
}

func layerSize(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCopyPlatformFilter(t *testing.T) {
	idx := multiArch(t, 1024, 2, "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	single := randomLayerImage(t, 5, 2, 1024, "linux/arm64")
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	children := map[string]string{}
	for _, d := range im.Manifests {
		children[d.Platform.String()] = d.Digest.String()
	}
	type outcome struct {
		Platforms    []string // of the destination's index entries
		SameDigest   bool
		ManifestGETs int
		BlobsCopied  int
	}
	tests := []struct {
		name      string
		image     string // "index" or "single"
		platforms []string
		want      outcome
		wantErr   error
	}{
		{
			name: "two of three", image: "index", platforms: []string{"linux/amd64", "linux/arm64"},
			// The index and the two kept children; the third is never fetched.
			want: outcome{Platforms: []string{"linux/amd64", "linux/arm64/v8"}, ManifestGETs: 3, BlobsCopied: 6},
		},
		{
			name: "variant must match", image: "index", platforms: []string{"linux/arm/v7"},
			want: outcome{Platforms: []string{"linux/arm/v7"}, ManifestGETs: 2, BlobsCopied: 3},
		},
		{
			name: "every platform keeps the source index", image: "index",
			platforms: []string{"linux/amd64", "linux/arm64", "linux/arm"},
			want:      outcome{Platforms: []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}, SameDigest: true, ManifestGETs: 4, BlobsCopied: 9},
		},
		{
			name: "no match", image: "index", platforms: []string{"windows/amd64"},
			wantErr: mirror.ErrNoMatchingPlatform,
		},
		{
			name: "single image of a wanted platform", image: "single", platforms: []string{"linux/arm64"},
			want: outcome{SameDigest: true, ManifestGETs: 1, BlobsCopied: 3},
		},
		{
			name: "single image of another platform", image: "single", platforms: []string{"linux/amd64"},
			wantErr: mirror.ErrNoMatchingPlatform,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			srcDigest := mustDigest(t, idx)
			if tc.image == "index" {
				src.pushIndex("library/app:1", idx)
			} else {
				src.pushImage("library/app:1", single)
				srcDigest = mustDigest(t, single)
			}
			res, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"), mirror.WithPlatforms(tc.platforms...))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				if dst.checkAbsentOrComplete("mirror/app:1") {
					t.Error("destination tagged after a refused copy")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := outcome{
				SameDigest: res.TargetDigest == srcDigest, ManifestGETs: res.ManifestGETs, BlobsCopied: res.BlobsCopied,
			}
			if res.SourceDigest != srcDigest {
				t.Errorf("source digest %s, want %s", res.SourceDigest, srcDigest)
			}
			if dst.digestOf("mirror/app:1") != res.TargetDigest {
				t.Errorf("tag names %s, result says %s", dst.digestOf("mirror/app:1"), res.TargetDigest)
			}
			if !dst.checkAbsentOrComplete("mirror/app:1") {
				t.Fatal("destination tag absent")
			}
			if tc.image == "index" {
				dstIdx := dst.index("mirror/app:1")
				for _, d := range dstIdx.Manifests {
					got.Platforms = append(got.Platforms, d.Platform.String())
					if children[d.Platform.String()] != d.Digest.String() {
						t.Errorf("entry %s has digest %s, source child is %s", d.Platform, d.Digest, children[d.Platform.String()])
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyPlatformFilterTwice(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/app:1", multiArch(t, 2048, 2, "linux/amd64", "linux/arm64"))
	filter := mirror.WithPlatforms("linux/amd64")
	m, err := mirror.New(filter)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	src.counts()
	dst.counts()

	// The same Mirror knows which index it made: no upstream GET at all.
	again, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	// A new Mirror (a later run) reads the source digest and the filter
	// from the annotations of the index in the destination: no upstream
	// GET either.
	fresh, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"), filter)
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		Target          string
		AlreadyMirrored bool
		ManifestGETs    int
		BlobsCopied     int
	}
	got := []run{
		{again.TargetDigest, again.AlreadyMirrored, again.ManifestGETs, again.BlobsCopied},
		{fresh.TargetDigest, fresh.AlreadyMirrored, fresh.ManifestGETs, fresh.BlobsCopied},
	}
	want := []run{{first.TargetDigest, true, 0, 0}, {first.TargetDigest, true, 0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repeated filtered copies (-want +got):\n%s", diff)
	}
	if bytes, _ := dst.counts(); bytes != 0 {
		t.Errorf("repeated filtered copies moved %d blob bytes", bytes)
	}
	if _, gets := src.counts(); gets != 0 {
		t.Errorf("the source served %d manifest GETs to the repeated copies", gets)
	}
	im := dst.index("mirror/app:1")
	if a := im.Annotations; a[mirror.AnnotationSourceDigest] != first.SourceDigest || a[mirror.AnnotationPlatforms] != "linux/amd64" {
		t.Errorf("annotations of the filtered index: %v", a)
	}
	// Another filter is another index: the source is read again.
	other, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"), mirror.WithPlatforms("linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if other.AlreadyMirrored || other.TargetDigest == first.TargetDigest || other.ManifestGETs == 0 {
		t.Errorf("copy with another filter: %+v", other)
	}
}

func TestCopyFallsBackToSessionUploads(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/app:1", multiArch(t, 8<<10, 2, "linux/amd64", "linux/arm64"))
	src.pushIndex("library/app:2", multiArch(t, 8<<10, 2, "linux/amd64"))
	dst.setFault(refuseMonolithic)
	m, err := mirror.New()
	if err != nil {
		t.Fatal(err)
	}
	count := func(reqs []string, prefix string) int {
		n := 0
		for _, r := range reqs {
			if strings.HasPrefix(r, prefix) && strings.Contains(r, "/blobs/uploads/") {
				n++
			}
		}
		return n
	}
	// The first refusal switches the registry to PATCH then PUT.
	if _, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1")); err != nil {
		t.Fatal(err)
	}
	first := dst.seen()
	// The Mirror remembers: no monolithic attempt on the next copy.
	res, err := m.Copy(t.Context(), src.ref("library/app:2"), dst.ref("mirror/app:2"))
	if err != nil {
		t.Fatal(err)
	}
	second := dst.seen()
	if count(first, "PATCH") == 0 {
		t.Error("first copy made no PATCH uploads")
	}
	if got, want := count(second, "PATCH"), res.BlobsCopied; got != want {
		t.Errorf("second copy made %d PATCH uploads for %d blobs", got, want)
	}
	if got := count(second, "PUT"); got != res.BlobsCopied {
		t.Errorf("second copy made %d commits for %d blobs (no monolithic attempts expected)", got, res.BlobsCopied)
	}
	dst.setFault(nil)
	for _, tag := range []string{"1", "2"} {
		if !dst.checkAbsentOrComplete("mirror/app:" + tag) {
			t.Errorf("mirror/app:%s absent", tag)
		}
	}
}

func TestConcurrentCopiesShareOneMirror(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t, scoped(true))
	idx := multiArch(t, 16<<10, 2, "linux/amd64", "linux/arm64")
	src.pushIndex("library/app:1", idx)
	m, err := mirror.New(mirror.WithJobs(3))
	if err != nil {
		t.Fatal(err)
	}
	repos := []string{"team-a/app", "team-b/app", "team-c/app", "team-d/app"}
	errs := make(chan error, len(repos))
	for _, repo := range repos {
		go func() {
			_, err := m.Copy(t.Context(), src.ref("library/app:1"), dst.ref(repo+":1"))
			errs <- err
		}()
	}
	for range repos {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, repo := range repos {
		if got := dst.digestOf(repo + ":1"); got != mustDigest(t, idx) {
			t.Errorf("%s:1 names %q, want %s", repo, got, mustDigest(t, idx))
		}
		dst.checkAbsentOrComplete(repo + ":1")
	}
}

// TestParallelCopiesUploadSharedLayersOnce: four images sharing three base
// layers, copied at once by one Mirror into four repositories: each base
// layer is uploaded once and mounted into the other repositories.
func TestParallelCopiesUploadSharedLayersOnce(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t, scoped(true))
	base := randomLayerImage(t, 100, 3, 256<<10, "linux/amd64")
	baseLayers := imageBlobs(t, base)[1:]
	var imgs []v1.Image
	for i := range 4 {
		img, err := mutate.AppendLayers(base, static.NewLayer([]byte(fmt.Sprintf("app %d", i)), types.DockerLayer))
		if err != nil {
			t.Fatal(err)
		}
		src.pushImage(fmt.Sprintf("library/app%d:1", i), img)
		imgs = append(imgs, img)
	}
	m, err := mirror.New(mirror.WithJobs(3))
	if err != nil {
		t.Fatal(err)
	}
	results := make([]mirror.Result, len(imgs))
	var wg sync.WaitGroup
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = m.Copy(t.Context(), src.ref(fmt.Sprintf("library/app%d:1", i)), dst.ref(fmt.Sprintf("team-%d/app:1", i)))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, l := range baseLayers {
		if got := dst.received(l); got != 256<<10 {
			t.Errorf("base layer %s: %d bytes uploaded, want one upload of %d", l, got, 256<<10)
		}
	}
	mounted := 0
	for i, r := range results {
		mounted += r.BlobsMounted
		if got := dst.digestOf(fmt.Sprintf("team-%d/app:1", i)); got != mustDigest(t, imgs[i]) {
			t.Errorf("team-%d/app:1 names %q", i, got)
		}
		dst.checkAbsentOrComplete(fmt.Sprintf("team-%d/app:1", i))
	}
	if mounted != 9 {
		t.Errorf("%d blobs mounted, want the 3 base layers into 3 more repositories", mounted)
	}
}
