package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestBlobCacheBounded: beyond maxCacheBlobs the least recently seen blobs
// are left out; a file that is not a cache is an empty cache.
func TestBlobCacheBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.json")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
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
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Blobs) != maxCacheBlobs {
		t.Errorf("%d blobs kept, want %d", len(f.Blobs), maxCacheBlobs)
	}
	if f.Blobs[cacheKey("registry.example", hash(0))] != nil || f.Blobs[cacheKey("registry.example", hash(maxCacheBlobs+extra-1))] == nil {
		t.Error("the oldest entry was kept or the newest dropped")
	}
}
