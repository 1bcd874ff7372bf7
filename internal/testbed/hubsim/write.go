package hubsim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// storeHost names the in-process store in references; requests to it never
// leave the process.
const storeHost = "hubsim.invalid"

// WriteImage stores img as repo:tag, bypassing authentication and rate
// limits (for tests that need images beyond the seeded ones, such as a large
// one for benchmarks), and returns its digest.
func (h *Hub) WriteImage(ctx context.Context, repo, tag string, img v1.Image) (v1.Hash, error) {
	ref, err := h.storeTag(repo, tag)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, h.storeOptions(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("write %s:%s: %w", repo, tag, err)
	}
	h.addRepo(repo)
	return img.Digest()
}

// WriteIndex stores idx (and every image it lists) as repo:tag, like
// WriteImage, and returns its digest.
func (h *Hub) WriteIndex(ctx context.Context, repo, tag string, idx v1.ImageIndex) (v1.Hash, error) {
	ref, err := h.storeTag(repo, tag)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.WriteIndex(ref, idx, h.storeOptions(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("write %s:%s: %w", repo, tag, err)
	}
	h.addRepo(repo)
	return idx.Digest()
}

// tagIndex adds another tag to an index already in the store.
func (h *Hub) tagIndex(ctx context.Context, repo, tag string, idx v1.ImageIndex) error {
	ref, err := h.storeTag(repo, tag)
	if err != nil {
		return err
	}
	if err := remote.Tag(ref, idx, h.storeOptions(ctx)...); err != nil {
		return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

func (h *Hub) storeTag(repo, tag string) (name.Tag, error) {
	if !validRepository(repo) {
		return name.Tag{}, fmt.Errorf("write: invalid repository name %q", repo)
	}
	ref, err := name.NewTag(storeHost+"/"+repo+":"+tag, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("write %s: invalid tag %q: %w", repo, tag, err)
	}
	return ref, nil
}

func (h *Hub) storeOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(storeTransport{h.store})}
}

// storeTransport hands requests straight to the store's handler: writes need
// no socket, and skip the token flow and the meter.
type storeTransport struct{ store http.Handler }

func (t storeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	// A server never hands a handler a nil body, and the store relies on it.
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.store.ServeHTTP(rec, in)
	res := rec.Result()
	res.Request = r
	return res, nil
}
