package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullheal/pullheal/internal/regfile"
)

// BlobCache remembers across runs which repositories of a destination
// registry hold a blob, so that a later run mounts it instead of uploading
// it again. It is a small JSON file; see OpenBlobCache and Save.
//
// An entry can be stale (the repository or the blob was deleted since): the
// mirror then sees its mount refused, drops the entry and uploads, at the
// cost of that one request.
type BlobCache struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry // registry + "@" + digest
	added   map[string]map[string]bool
	dropped map[string]map[string]bool
}

type cacheEntry struct {
	Repos []string `json:"repos"`
	Seen  int64    `json:"seen"` // Unix seconds of the last add
}

type cacheFile struct {
	Version int                    `json:"version"`
	Blobs   map[string]*cacheEntry `json:"blobs"`
}

// Bounds of the file: blobs kept (the least recently seen go first) and
// repositories per blob (one that works is enough; a few guard against
// deleted repositories).
const (
	maxCacheBlobs     = 50000
	cacheVersion      = 1
	maxCacheFileBytes = 64 << 20
)

// ErrNotBlobCache is wrapped by the error for a path that holds something
// other than a blob cache: a directory, a FIFO or device, or a file of
// another format (a policy, a docker config given by mistake). Such a path
// is never read whole nor written: Save would replace the file.
var ErrNotBlobCache = errors.New("not a pullheal blob cache")

// cacheMagic is how every file Save writes begins (json.Marshal of
// cacheFile); a file that begins otherwise is not one.
const cacheMagic = `{"version":`

// OpenBlobCache reads the cache at path. A missing or empty file is an
// empty cache; so is a cache that cannot be parsed (cut short, an older
// layout: it is rewritten on Save), since a cache must never stop a copy.
// A path that holds something else gives an error wrapping
// ErrNotBlobCache.
func OpenBlobCache(path string) (*BlobCache, error) {
	if path == "" {
		return nil, errors.New("blob cache path is empty")
	}
	c := &BlobCache{path: path, now: time.Now, entries: map[string]*cacheEntry{},
		added: map[string]map[string]bool{}, dropped: map[string]map[string]bool{}}
	f, err := readCacheFile(path)
	if err != nil {
		return nil, err
	}
	c.entries = f.Blobs
	return c, nil
}

func readCacheFile(path string) (cacheFile, error) {
	empty := cacheFile{Version: cacheVersion, Blobs: map[string]*cacheEntry{}}
	// regfile: a FIFO would block the open, a device never end the read.
	fh, err := regfile.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return empty, nil
	case errors.Is(err, regfile.ErrNotRegular):
		return empty, fmt.Errorf("blob cache %s: %w", path, notCache{unwrapPath(err)})
	case err != nil:
		return empty, fmt.Errorf("blob cache %s: %w", path, unwrapPath(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxCacheFileBytes+1))
	if err != nil {
		return empty, fmt.Errorf("blob cache %s: read: %w", path, err)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return empty, nil
	case len(data) > maxCacheFileBytes:
		return empty, fmt.Errorf("blob cache %s: %w", path, notCache{fmt.Errorf("larger than %d bytes, more than a cache holds; it is left as it is", maxCacheFileBytes)})
	case !bytes.HasPrefix(trimmed, []byte(cacheMagic)):
		return empty, fmt.Errorf("blob cache %s: %w", path, notCache{fmt.Errorf("%v (a cache is JSON beginning %s); it is left as it is", ErrNotBlobCache, cacheMagic)})
	}
	var f cacheFile
	if json.Unmarshal(data, &f) != nil || f.Version != cacheVersion || f.Blobs == nil {
		return empty, nil
	}
	for k, e := range f.Blobs {
		if e == nil || len(e.Repos) == 0 {
			delete(f.Blobs, k)
		}
	}
	return f, nil
}

// notCache is the error for a path that holds something other than a
// blob cache.
type notCache struct{ err error }

func (e notCache) Error() string        { return e.err.Error() }
func (e notCache) Unwrap() error        { return e.err }
func (e notCache) Is(target error) bool { return target == ErrNotBlobCache }

// unwrapPath drops the *fs.PathError's operation and path, which the
// caller's message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Path is where the cache lives.
func (c *BlobCache) Path() string { return c.path }

func cacheKey(registry string, h v1.Hash) string { return registry + "@" + h.String() }

func (c *BlobCache) lookup(registry string, h v1.Hash) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[cacheKey(registry, h)]; e != nil {
		return slices.Clone(e.Repos)
	}
	return nil
}

func (c *BlobCache) add(registry string, h v1.Hash, repo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey(registry, h)
	e := c.entries[k]
	if e == nil {
		e = &cacheEntry{}
		c.entries[k] = e
	}
	e.Repos = addRepo(e.Repos, repo)
	e.Seen = c.now().Unix()
	mark(c.added, k, repo)
	delete(c.dropped[k], repo)
}

// drop forgets that repo holds the blob (a mount from it was refused).
func (c *BlobCache) drop(registry string, h v1.Hash, repo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey(registry, h)
	if e := c.entries[k]; e != nil {
		e.Repos = slices.DeleteFunc(e.Repos, func(r string) bool { return r == repo })
		if len(e.Repos) == 0 {
			delete(c.entries, k)
		}
	}
	mark(c.dropped, k, repo)
	delete(c.added[k], repo)
}

func mark(m map[string]map[string]bool, k, repo string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][repo] = true
}

// addRepo puts repo first and keeps at most mountIndexWidth repositories.
func addRepo(repos []string, repo string) []string {
	out := []string{repo}
	for _, r := range repos {
		if r != repo && len(out) < mountIndexWidth {
			out = append(out, r)
		}
	}
	return out
}

// Save writes what this process learnt into the file, merged with what
// other processes wrote there since it was opened: the file is read again,
// this process's additions and drops applied, the least recently seen blobs
// beyond the bound left out, and the result written to a temporary file
// that is renamed over the old one, so that a reader never sees half a file
// and concurrent writers never interleave (the last rename wins; an entry
// lost that way only costs an upload).
func (c *BlobCache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.added) == 0 && len(c.dropped) == 0 {
		return nil
	}
	f, err := readCacheFile(c.path)
	if err != nil {
		return err
	}
	for k, repos := range c.dropped {
		if e := f.Blobs[k]; e != nil {
			e.Repos = slices.DeleteFunc(e.Repos, func(r string) bool { return repos[r] })
			if len(e.Repos) == 0 {
				delete(f.Blobs, k)
			}
		}
	}
	for k := range c.added {
		mine := c.entries[k]
		if mine == nil {
			continue
		}
		e := f.Blobs[k]
		if e == nil {
			e = &cacheEntry{}
			f.Blobs[k] = e
		}
		for i := len(mine.Repos) - 1; i >= 0; i-- {
			e.Repos = addRepo(e.Repos, mine.Repos[i])
		}
		e.Seen = max(e.Seen, mine.Seen)
	}
	if len(f.Blobs) > maxCacheBlobs {
		keys := make([]string, 0, len(f.Blobs))
		for k := range f.Blobs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return f.Blobs[keys[i]].Seen > f.Blobs[keys[j]].Seen })
		for _, k := range keys[maxCacheBlobs:] {
			delete(f.Blobs, k)
		}
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("blob cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	clear(c.added)
	clear(c.dropped)
	return nil
}
