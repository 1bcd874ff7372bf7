package ecrsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// errDigestMismatch is returned when content does not hash to the digest it
// was stored under.
var errDigestMismatch = errors.New("content does not match its digest")

// blobStore holds content (layers, configs, manifests) by sha256 digest,
// in memory or on disk (dir/sha256/HEX, the layout of go-containerregistry's
// disk blob handler). Which repositories may serve a blob is the
// repositories' business, not the store's.
type blobStore struct {
	dir string

	mu    sync.RWMutex
	mem   map[string][]byte // when dir == ""
	sizes map[string]int64  // sizes known to be on disk
}

func newBlobStore(dir string) *blobStore {
	return &blobStore{dir: dir, mem: map[string][]byte{}, sizes: map[string]int64{}}
}

func newDiskBlobStore(dir string) (*blobStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("ecrsim blob dir: %w", err)
	}
	return newBlobStore(dir), nil
}

func (s *blobStore) path(d v1.Hash) string { return filepath.Join(s.dir, "sha256", d.Hex) }

func checkAlgorithm(d v1.Hash) error {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return fmt.Errorf("digest %s: only sha256 digests are stored", d)
	}
	return nil
}

// stat returns the blob's size and whether the store holds it.
func (s *blobStore) stat(d v1.Hash) (int64, bool) {
	if checkAlgorithm(d) != nil {
		return 0, false
	}
	s.mu.RLock()
	if s.dir == "" {
		b, ok := s.mem[d.String()]
		s.mu.RUnlock()
		return int64(len(b)), ok
	}
	size, ok := s.sizes[d.String()]
	s.mu.RUnlock()
	if ok {
		return size, true
	}
	fi, err := os.Stat(s.path(d))
	if err != nil {
		return 0, false
	}
	s.mu.Lock()
	s.sizes[d.String()] = fi.Size()
	s.mu.Unlock()
	return fi.Size(), true
}

// open returns the blob's content, or registry.ErrNotFound.
func (s *blobStore) open(d v1.Hash) (io.ReadCloser, error) {
	if err := checkAlgorithm(d); err != nil {
		return nil, registry.ErrNotFound
	}
	if s.dir == "" {
		s.mu.RLock()
		b, ok := s.mem[d.String()]
		s.mu.RUnlock()
		if !ok {
			return nil, registry.ErrNotFound
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	f, err := os.Open(s.path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, registry.ErrNotFound
	}
	return f, err
}

// read returns a whole (small) blob such as a manifest.
func (s *blobStore) read(d v1.Hash) ([]byte, error) {
	rc, err := s.open(d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// put stores r's content under d, verifying the digest, and returns the
// number of bytes read.
func (s *blobStore) put(d v1.Hash, r io.Reader) (int64, error) {
	if err := checkAlgorithm(d); err != nil {
		return 0, err
	}
	h := sha256.New()
	if s.dir == "" {
		var buf bytes.Buffer
		n, err := io.Copy(io.MultiWriter(&buf, h), r)
		if err != nil {
			return n, err
		}
		if err := verify(h, d); err != nil {
			return n, err
		}
		s.mu.Lock()
		s.mem[d.String()] = buf.Bytes()
		s.mu.Unlock()
		return n, nil
	}
	tmp, err := os.CreateTemp(s.dir, "upload-*")
	if err != nil {
		return 0, fmt.Errorf("store blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := verify(h, d); err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), s.path(d)); err != nil {
		return n, fmt.Errorf("store blob: %w", err)
	}
	s.mu.Lock()
	s.sizes[d.String()] = n
	s.mu.Unlock()
	return n, nil
}

func verify(h hash.Hash, d v1.Hash) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		return fmt.Errorf("blob %s: got sha256:%s: %w", d, got, errDigestMismatch)
	}
	return nil
}

// repoKey carries the repository of a registry request into the blob
// handler: go-containerregistry derives the repository from the path
// itself, and gets it wrong for upload-session URLs.
type repoKey struct{}

func repoFrom(ctx context.Context) string {
	r, _ := ctx.Value(repoKey{}).(string)
	return r
}

// repoBlobs is the registry.BlobHandler behind go-containerregistry's blob
// protocol: it serves a blob only from a repository that holds it, and
// records uploads against the repository.
type repoBlobs struct{ e *ECR }

var (
	_ registry.BlobStatHandler = repoBlobs{}
	_ registry.BlobPutHandler  = repoBlobs{}
)

func (h repoBlobs) Stat(ctx context.Context, _ string, d v1.Hash) (int64, error) {
	if !h.e.repoHasBlob(repoFrom(ctx), d.String()) {
		return 0, registry.ErrNotFound
	}
	size, ok := h.e.blobs.stat(d)
	if !ok {
		return 0, registry.ErrNotFound
	}
	return size, nil
}

func (h repoBlobs) Get(ctx context.Context, _ string, d v1.Hash) (io.ReadCloser, error) {
	if !h.e.repoHasBlob(repoFrom(ctx), d.String()) {
		return nil, registry.ErrNotFound
	}
	return h.e.blobs.open(d)
}

func (h repoBlobs) Put(ctx context.Context, _ string, d v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	n, err := h.e.blobs.put(d, rc)
	if err != nil {
		return fmt.Errorf("upload %s: %w", d, err)
	}
	return h.e.recordUpload(repoFrom(ctx), d.String(), n)
}

func (e *ECR) repoHasBlob(repo, digest string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.st.Repositories[repo]
	if !ok {
		return false
	}
	_, ok = r.Blobs[digest]
	return ok
}

func (e *ECR) recordUpload(repo, digest string, n int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bytesIn[repo] += n
	r, ok := e.st.Repositories[repo]
	if !ok {
		return fmt.Errorf("repository %s was deleted during the upload", repo)
	}
	r.Blobs[digest] = n
	return e.save()
}
