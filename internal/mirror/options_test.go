package mirror_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/internal/mirror"
)

func TestOptionsRejectBadArguments(t *testing.T) {
	tests := []struct {
		name string
		opt  mirror.Option
		want string
	}{
		{"zero jobs", mirror.WithJobs(0), "jobs must be positive, got 0"},
		{"negative jobs", mirror.WithJobs(-3), "jobs must be positive, got -3"},
		{"nil logger", mirror.WithLogger(nil), "logger is nil"},
		{"nil source keychain", mirror.WithSourceKeychain(nil), "source keychain is nil"},
		{"nil destination keychain", mirror.WithDestinationKeychain(nil), "destination keychain is nil"},
		{"nil transport", mirror.WithTransport(nil), "transport is nil"},
		{"endpoint without host", mirror.WithEndpoint("", "http://127.0.0.1:1"), "endpoint host is empty"},
		{"endpoint not a URL", mirror.WithEndpoint("docker.io", "127.0.0.1:5000"), `"127.0.0.1:5000" is not an http(s)://host[:port] URL`},
		{"endpoint with path", mirror.WithEndpoint("docker.io", "http://127.0.0.1:5000/v2"), "must not carry a path"},
		{"no platforms", mirror.WithPlatforms(), "platforms: none given"},
		{"platform without arch", mirror.WithPlatforms("linux"), `platform "linux": want os/arch`},
		{"platform with too many parts", mirror.WithPlatforms("linux/arm/v7/extra"), "too many slashes"},
		{"nil progress", mirror.WithProgress(nil), "progress func is nil"},
		{"bad hint digest", mirror.WithMountHint("sha256:xyz", "mirror/app"), `mount hint digest "sha256:xyz"`},
		{"bad hint repository", mirror.WithMountHint("sha256:"+strings.Repeat("a", 64), "Mirror/App"), `mount hint repository "Mirror/App"`},
		{"negative reserve", mirror.WithRateLimitReserve(-1), "reserve must not be negative"},
		{"nil gauge", mirror.WithRateLimitGauge(nil), "rate-limit gauge is nil"},
		{"zero attempts", mirror.WithRetry(0, time.Second), "retry attempts must be at least 1"},
		{"zero backoff", mirror.WithRetry(3, 0), "retry backoff must be positive"},
		{"zero max retry-after", mirror.WithMaxRetryAfter(0), "max retry-after must be positive"},
		{"half a clock", mirror.WithClock(time.Now, nil), "now and sleep must both be set"},
		{"nil repository api", mirror.WithRepositoryCreation(nil, mirror.RepositorySettings{}), "repository api is nil"},
		{"bad repository settings", mirror.WithRepositoryCreation(newFakeRepositories(), mirror.RepositorySettings{TagMutability: "SOMETIMES"}), `tag mutability "SOMETIMES"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mirror.New(tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() error = %v, want one containing %q", err, tc.want)
			}
			// The same option given to one copy fails that copy, before any
			// request.
			m, err := mirror.New()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Copy(t.Context(), "127.0.0.1:1/a:1", "127.0.0.1:1/b:1", tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Copy() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCopyRejectsBadReferences(t *testing.T) {
	tests := []struct{ src, dst, want string }{
		{"UPPER/case:1", "127.0.0.1:1/b:1", `source "UPPER/case:1"`},
		{"127.0.0.1:1/a:1", "127.0.0.1:1/b:bad tag", `destination "127.0.0.1:1/b:bad tag"`},
		{"127.0.0.1:1/a:1", "127.0.0.1:1/B", `destination "127.0.0.1:1/B"`},
	}
	for _, tc := range tests {
		_, err := mirror.Copy(t.Context(), tc.src, tc.dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Copy(%q, %q) error = %v, want one containing %q", tc.src, tc.dst, err, tc.want)
		}
	}
}

// TestCopyReportsProgress: progress only grows, comes along the way, and
// each platform's last report carries both its own total and the overall
// one, whichever platform's blob lands last (one job at a time makes that
// the other platform's; the default pool leaves it to timing).
func TestCopyReportsProgress(t *testing.T) {
	for _, jobs := range []int{1, 6} {
		t.Run(fmt.Sprintf("jobs %d", jobs), func(t *testing.T) { testCopyReportsProgress(t, jobs) })
	}
}

func testCopyReportsProgress(t *testing.T, jobs int) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/app:1", mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: randomLayerImage(t, 1, 2, 3<<20, "linux/amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomLayerImage(t, 2, 2, 3<<20, "linux/arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	))
	var mu sync.Mutex
	last := map[string]mirror.Progress{}
	var allDone []int64
	res, err := mirror.Copy(t.Context(), src.ref("library/app:1"), dst.ref("mirror/app:1"), mirror.WithJobs(jobs), mirror.WithProgress(func(p mirror.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := last[p.Platform]; ok && (p.BytesDone < prev.BytesDone || p.BlobsDone < prev.BlobsDone) {
			t.Errorf("progress of %s went back: %+v after %+v", p.Platform, p, prev)
		}
		last[p.Platform] = p
		allDone = append(allDone, p.AllBytesDone)
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(allDone); i++ {
		if allDone[i] < allDone[i-1] {
			t.Fatalf("overall progress went back: %v", allDone)
		}
	}
	// Each platform: a config and two layers of a little over 3 MiB.
	type final struct {
		BlobsDone, BlobsTotal int
		Complete, AllComplete bool
	}
	got := map[string]final{}
	for p, pr := range last {
		got[p] = final{pr.BlobsDone, pr.BlobsTotal, pr.BytesDone == pr.BytesTotal && pr.BytesTotal > 6<<20,
			pr.AllBytesDone == res.BytesCopied && pr.AllBytesTotal == res.BytesCopied}
	}
	want := map[string]final{
		"linux/amd64": {3, 3, true, true},
		"linux/arm64": {3, 3, true, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("final progress (-want +got):\n%s", diff)
	}
	if len(allDone) < 6 {
		t.Errorf("%d progress reports for 12 MiB, want reports along the way", len(allDone))
	}
}
