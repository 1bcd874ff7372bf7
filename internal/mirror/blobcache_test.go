package mirror_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pullheal/pullheal/internal/mirror"
)

// run copies src to dst with a new Mirror and a blob cache opened from
// path, as one `pullheal mirror` process does, and saves the cache.
func run(t *testing.T, path, src, dst string) mirror.Result {
	t.Helper()
	c, err := mirror.OpenBlobCache(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mirror.New(mirror.WithBlobCache(c), mirror.WithJobs(1))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Copy(t.Context(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	return res
}

// cachedRepos reads the cache file: blob key -> repositories.
func cachedRepos(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Blobs map[string]struct {
			Repos []string `json:"repos"`
		} `json:"blobs"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("cache file is not JSON: %v", err)
	}
	out := map[string][]string{}
	for k, e := range f.Blobs {
		out[k] = e.Repos
	}
	return out
}

// TestBlobCacheMountsAcrossRuns: a second process mounts what the first
// uploaded, learnt from the cache file alone.
func TestBlobCacheMountsAcrossRuns(t *testing.T) {
	img := randomLayerImage(t, 7, 3, 64<<10, "linux/amd64")
	src := newTestRegistry(t)
	dst := newTestRegistry(t, scoped(true))
	src.pushImage("library/app:1", img)
	path := filepath.Join(t.TempDir(), "pullheal", "blobs.json")

	first := run(t, path, src.ref("library/app:1"), dst.ref("team-a/app:1"))
	if first.BlobsCopied != 4 {
		t.Fatalf("first run: %+v", first)
	}
	for _, b := range imageBlobs(t, img) {
		if repos := cachedRepos(t, path)[dst.host+"@"+b]; len(repos) != 1 || repos[0] != "team-a/app" {
			t.Errorf("cache for %s: %v, want [team-a/app]", b, repos)
		}
	}
	dst.counts()
	second := run(t, path, src.ref("library/app:1"), dst.ref("team-b/app:1"))
	if second.BlobsMounted != 4 || second.BlobsCopied != 0 || second.MountsRefused != 0 {
		t.Errorf("second run: %+v, want 4 blobs mounted", second)
	}
	if bytes, _ := dst.counts(); bytes != 0 {
		t.Errorf("second run uploaded %d bytes", bytes)
	}
	if !dst.checkAbsentOrComplete("team-b/app:1") {
		t.Error("team-b/app:1 absent")
	}
}

// TestBlobCacheStaleEntry: entries for a repository that lost its blobs
// cost one refused mount each, are dropped, and do not stop mounts that
// work.
func TestBlobCacheStaleEntry(t *testing.T) {
	img := randomLayerImage(t, 8, 2, 64<<10, "linux/amd64")
	src := newTestRegistry(t)
	dst := newTestRegistry(t, scoped(true))
	src.pushImage("library/app:1", img)
	path := filepath.Join(t.TempDir(), "blobs.json")
	run(t, path, src.ref("library/app:1"), dst.ref("team-a/app:1"))

	// team-a/app is deleted behind the cache's back.
	dst.mu.Lock()
	delete(dst.repoBlobs, "team-a/app")
	dst.mu.Unlock()

	res := run(t, path, src.ref("library/app:1"), dst.ref("team-b/app:1"))
	if res.MountsRefused != 3 || res.BlobsCopied != 3 || res.BlobsMounted != 0 {
		t.Errorf("after the deletion: %+v, want 3 refused mounts and 3 uploads", res)
	}
	for k, repos := range cachedRepos(t, path) {
		if strings.Join(repos, ",") != "team-b/app" {
			t.Errorf("cache for %s: %v, want the stale team-a/app dropped", k, repos)
		}
	}
	// The next run mounts from team-b/app.
	res = run(t, path, src.ref("library/app:1"), dst.ref("team-c/app:1"))
	if res.BlobsMounted != 3 || res.MountsRefused != 0 {
		t.Errorf("third run: %+v, want 3 mounts", res)
	}
}

// TestBlobCacheConcurrentSaves: processes saving at once leave a file that
// parses, never a mix of two.
func TestBlobCacheConcurrentSaves(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t, scoped(true))
	const n = 6
	for i := range n {
		src.pushImage(fmt.Sprintf("library/app%d:1", i), randomLayerImage(t, uint64(20+i), 1, 4<<10, "linux/amd64"))
	}
	path := filepath.Join(t.TempDir(), "blobs.json")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mirror.OpenBlobCache(path)
			if err != nil {
				t.Error(err)
				return
			}
			m, _ := mirror.New(mirror.WithBlobCache(c))
			if _, err := m.Copy(t.Context(), src.ref(fmt.Sprintf("library/app%d:1", i)), dst.ref(fmt.Sprintf("app%d:1", i))); err != nil {
				t.Error(err)
			}
			if err := c.Save(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := cachedRepos(t, path); len(got) < 2 {
		t.Errorf("cache holds %d blobs, want at least one process's 2", len(got))
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
