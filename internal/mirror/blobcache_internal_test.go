package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestBlobCacheBounded: beyond maxCacheBlobs the least recently seen blobs
// are left out; a cache cut short is an empty cache.
func TestBlobCacheBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.json")
	copyFixture(t, "truncated.json", path)
	c, err := OpenBlobCache(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return clock }
	hash := func(i int) v1.Hash {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	}
	const extra = 10
	for i := range maxCacheBlobs + extra {
		clock = clock.Add(time.Second)
		c.add("registry.example", hash(i), "repo")
	}
	f, _ := saveAndRead(t, c)
	if len(f.Blobs) != maxCacheBlobs {
		t.Errorf("%d blobs kept, want %d", len(f.Blobs), maxCacheBlobs)
	}
	if f.Blobs[cacheKey("registry.example", hash(0))] != nil || f.Blobs[cacheKey("registry.example", hash(maxCacheBlobs+extra-1))] == nil {
		t.Error("the oldest entry was kept or the newest dropped")
	}
}

func copyFixture(t *testing.T, name, dst string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "blobcache", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenBlobCachePaths: what --blob-cache may name. A cache (cut short,
// of another version, blank or missing included) is opened and saved; a
// path that holds something else is refused at once, never read whole, and
// left as it is.
func TestOpenBlobCachePaths(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.json")
	if err := os.WriteFile(large, []byte(cacheMagic), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(large, maxCacheFileBytes+1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		fixture string // copied from testdata/blobcache
		path    string // used as it is
		blobs   int    // entries read
		want    string // the error, "" if it opens
	}{
		{name: "missing", path: filepath.Join(dir, "none", "blobs.json")},
		{name: "blank", fixture: "blank.json"},
		{name: "cut short", fixture: "truncated.json"},
		{name: "another version", fixture: "other-version.json"},
		{name: "a cache", fixture: "cache.json", blobs: 1},
		{name: "a policy", fixture: "policy.yaml", want: `not a pullheal blob cache (a cache is JSON beginning {"version":); it is left as it is`},
		{name: "a docker config", fixture: "docker-config.json", want: "not a pullheal blob cache"},
		{name: "a directory", path: dir, want: "is a directory, not a regular file"},
		{name: "a fifo", path: fifo, want: "is a named pipe (FIFO), not a regular file"},
		{name: "a device", path: "/dev/zero", want: "is a character device, not a regular file"},
		{name: "too large", path: large, want: "larger than 67108864 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			var before []byte
			if tc.fixture != "" {
				path = filepath.Join(t.TempDir(), tc.fixture)
				copyFixture(t, tc.fixture, path)
				before, _ = os.ReadFile(path)
			}
			done := make(chan struct{})
			var c *BlobCache
			var err error
			go func() {
				defer close(done)
				c, err = OpenBlobCache(path)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("OpenBlobCache did not return")
			}
			if tc.want != "" {
				if err == nil || !errors.Is(err, ErrNotBlobCache) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "blob cache "+path+": ") {
					t.Fatalf("error %v, want one naming %s wrapping ErrNotBlobCache with %q", err, path, tc.want)
				}
				if tc.fixture != "" {
					if after, _ := os.ReadFile(path); string(after) != string(before) {
						t.Errorf("the file was changed:\n%s", after)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.entries) != tc.blobs {
				t.Errorf("%d entries read, want %d", len(c.entries), tc.blobs)
			}
			c.add("registry.example", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}, "team-b/app")
			if f, data := saveAndRead(t, c); f.Version != cacheVersion || len(f.Blobs) != tc.blobs+1 {
				t.Errorf("saved %s, want version %d with %d blobs", data, cacheVersion, tc.blobs+1)
			}
		})
	}
}

// TestBlobCacheSaveLeavesAnotherFile: a file put at the cache's path after
// it was opened is not replaced by Save.
func TestBlobCacheSaveLeavesAnotherFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.json")
	c, err := OpenBlobCache(path)
	if err != nil {
		t.Fatal(err)
	}
	c.add("registry.example", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}, "team-a/app")
	copyFixture(t, "policy.yaml", path)
	before, _ := os.ReadFile(path)
	if err := c.Save(); !errors.Is(err, ErrNotBlobCache) {
		t.Errorf("Save: %v, want ErrNotBlobCache", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("the file was replaced:\n%s", after)
	}
	if left, _ := filepath.Glob(path + ".*.tmp"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// saveAndRead saves c and reads back the file it wrote, decoded and raw.
func saveAndRead(t *testing.T, c *BlobCache) (cacheFile, []byte) {
	t.Helper()
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("saved %s: %v", data, err)
	}
	return f, data
}
