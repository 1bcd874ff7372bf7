package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestSize bounds what is read into memory for one manifest; ECR
// refuses manifests over 4 MiB anyway.
const maxManifestSize = 4 << 20

// manifestAccept lists what the mirror copies; Docker schema 1 is left out
// on purpose so that a registry holding only that answers with an error.
var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex),
	string(types.DockerManifestList),
	string(types.OCIManifestSchema1),
	string(types.DockerManifestSchema2),
}, ", ")

// repoClient speaks the distribution API to one repository. The requests
// are written out here rather than through remote.Image/remote.Write so that
// the mirror decides each round trip: HEAD before GET, which GETs count
// against a pull budget, where a mount is tried and how a blob streams.
type repoClient struct {
	repo   name.Repository
	client *http.Client
	// endpoint is where a mapped registry really listens (WithEndpoint); nil
	// when it is not mapped.
	endpoint *url.URL
}

// newRepoClient authenticates to repo's registry over inner with the given
// scopes (go-containerregistry's ping and token handshake).
func newRepoClient(ctx context.Context, repo name.Repository, kc authn.Keychain, inner http.RoundTripper, scopes []string, endpoint *url.URL) (*repoClient, error) {
	auth, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, inner, scopes)
	if err != nil {
		return nil, fmt.Errorf("authenticate to %s: %w", repo.RegistryStr(), err)
	}
	return &repoClient{
		repo:     repo,
		endpoint: endpoint,
		// Blob GETs are redirected to storage (Docker Hub to a CDN, ECR to
		// S3); the auth transport only sends credentials to the registry's
		// own host, so the client follows them as it is.
		client: &http.Client{Transport: rt},
	}, nil
}

func (c *repoClient) url(p string) *url.URL {
	return &url.URL{Scheme: c.repo.Scheme(), Host: c.repo.RegistryStr(), Path: "/v2/" + c.repo.RepositoryStr() + p}
}

func (c *repoClient) do(ctx context.Context, method string, u *url.URL, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	return resp, redactURLError(err)
}

// redactURLError keeps query values out of a request error: upload
// sessions and storage redirects carry signed state and signatures there.
// The digest, mount and from parameters are the mirror's own and stay.
func redactURLError(err error) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.RawQuery == "" {
		return err
	}
	q := u.Query()
	for k := range q {
		if k != "digest" && k != "mount" && k != "from" {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}

// statusError turns an unexpected response into an error (the registry's
// own error codes included) and closes its body.
func statusError(resp *http.Response, ok ...int) error {
	err := transport.CheckError(resp, ok...)
	if err == nil {
		return nil
	}
	drain(resp.Body)
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return err
}

// isNotFound reports a 404 (some registries send 403 for absent manifests
// of repositories the caller may not list; those stay errors).
func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// headManifest returns the descriptor of ref (tag or digest); found false on 404.
func (c *repoClient) headManifest(ctx context.Context, ref string) (v1.Descriptor, bool, error) {
	resp, err := c.do(ctx, http.MethodHead, c.url("/manifests/"+ref), nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return v1.Descriptor{}, false, err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusOK); err != nil {
		if isNotFound(err) {
			return v1.Descriptor{}, false, nil
		}
		return v1.Descriptor{}, false, err
	}
	d := v1.Descriptor{MediaType: types.MediaType(mediaTypeOf(resp.Header)), Size: resp.ContentLength}
	if dg := resp.Header.Get("Docker-Content-Digest"); dg != "" {
		h, err := v1.NewHash(dg)
		if err != nil {
			return v1.Descriptor{}, false, fmt.Errorf("manifest %s: bad Docker-Content-Digest %q: %w", ref, dg, err)
		}
		d.Digest = h
	}
	return d, true, nil
}

func mediaTypeOf(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

// getManifest fetches ref and checks it against want when want is set.
func (c *repoClient) getManifest(ctx context.Context, ref string, want v1.Hash) ([]byte, types.MediaType, v1.Hash, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("/manifests/"+ref), nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return nil, "", v1.Hash{}, err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusOK); err != nil {
		return nil, "", v1.Hash{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", v1.Hash{}, fmt.Errorf("read manifest %s: %w", ref, err)
	}
	if len(raw) > maxManifestSize {
		return nil, "", v1.Hash{}, fmt.Errorf("manifest %s is larger than %d bytes", ref, maxManifestSize)
	}
	got, _, _ := v1.SHA256(bytes.NewReader(raw))
	if want.Hex != "" && got != want {
		return nil, "", v1.Hash{}, fmt.Errorf("%w: manifest %s hashes to %s", ErrDigestMismatch, want, got)
	}
	return raw, types.MediaType(mediaTypeOf(resp.Header)), got, nil
}

// headBlob reports whether the repository holds the blob.
func (c *repoClient) headBlob(ctx context.Context, h v1.Hash) (bool, error) {
	resp, err := c.do(ctx, http.MethodHead, c.url("/blobs/"+h.String()), nil, nil)
	if err != nil {
		return false, err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusOK, http.StatusNotFound); err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil
}

// getBlob opens the blob for streaming. A Content-Length that contradicts
// the manifest's size fails here, before any upload starts.
func (c *repoClient) getBlob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("/blobs/"+d.Digest.String()), nil, nil)
	if err != nil {
		return nil, err
	}
	if err := statusError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != d.Size {
		drain(resp.Body)
		return nil, fmt.Errorf("%w: blob %s: registry sends %d bytes, manifest says %d", ErrDigestMismatch, d.Digest, resp.ContentLength, d.Size)
	}
	return resp.Body, nil
}

// startUpload opens an upload session. With from set it first asks the
// registry to mount the blob from that repository: 201 means done; 202 means
// the registry did not mount (unsupported, or from lacks the blob) and the
// session it opened is used for a normal upload.
func (c *repoClient) startUpload(ctx context.Context, h v1.Hash, from string) (location string, mounted bool, err error) {
	u := c.url("/blobs/uploads/")
	if from != "" {
		u.RawQuery = url.Values{"mount": {h.String()}, "from": {from}}.Encode()
	}
	resp, err := c.do(ctx, http.MethodPost, u, nil, nil)
	if err != nil {
		return "", false, err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusCreated, http.StatusAccepted); err != nil {
		if from != "" {
			// Some registries refuse a mount outright (403, 404) instead of
			// opening a session; upload then.
			return c.startUpload(ctx, h, "")
		}
		return "", false, err
	}
	if resp.StatusCode == http.StatusCreated {
		if from == "" {
			return "", false, fmt.Errorf("upload of %s: registry answered 201 to a plain upload request", h)
		}
		return "", true, nil
	}
	loc, err := c.location(resp)
	return loc, false, err
}

// location resolves a Location header against the request URL as the
// mirror wrote it (the registry's real name), so that endpoint mapping and
// credentials apply to the next request too.
func (c *repoClient) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errors.New("registry sent no Location for the upload")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("upload Location %q: %w", loc, err)
	}
	base := c.url("/")
	if u.IsAbs() && c.endpoint != nil && u.Host == c.endpoint.Host {
		// The mapped registry names its real address; keep the registry's
		// name so that credentials and mapping still apply.
		u.Scheme, u.Host = base.Scheme, base.Host
	}
	return base.ResolveReference(u).String(), nil
}

// patch streams body (of size bytes) into the upload session and returns
// the location to commit to.
func (c *repoClient) patch(ctx context.Context, location string, body io.Reader, size int64) (string, error) {
	resp, err := c.send(ctx, http.MethodPatch, location, body, size)
	if err != nil {
		return "", err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return "", err
	}
	return c.location(resp)
}

// putBlob uploads body (size bytes) to the session and commits it in one
// request: the monolithic upload of the distribution spec (POST, then PUT
// with the content), which ECR supports (ORAS and Helm push this way). It
// saves the registry buffering a PATCH and the client a round trip. The
// body is a verifier: on a mismatch it withholds the bytes that would
// complete the Content-Length, so the request fails short and the
// registry commits nothing.
func (c *repoClient) putBlob(ctx context.Context, location string, h v1.Hash, body io.Reader, size int64) error {
	u, err := url.Parse(location)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", h.String())
	u.RawQuery = q.Encode()
	resp, err := c.send(ctx, http.MethodPut, u.String(), body, size)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	return statusError(resp, http.StatusCreated, http.StatusNoContent, http.StatusAccepted)
}

// commit ends a chunked upload session with the digest; the registry
// verifies the bytes it received against it. On the wire this is the
// closing PUT of a monolithic upload with no bytes in it.
func (c *repoClient) commit(ctx context.Context, location string, h v1.Hash) error {
	return c.putBlob(ctx, location, h, http.NoBody, 0)
}

// send streams body (size bytes) to an upload session's location.
func (c *repoClient) send(ctx context.Context, method, location string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, location, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, redactURLError(err)
	}
	return resp, nil
}

// putManifest pushes raw under ref (tag or digest) and checks the digest the
// registry reports.
func (c *repoClient) putManifest(ctx context.Context, ref string, mt types.MediaType, raw []byte, want v1.Hash) error {
	resp, err := c.do(ctx, http.MethodPut, c.url("/manifests/"+ref), bytes.NewReader(raw), http.Header{"Content-Type": {string(mt)}})
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if err := statusError(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted); err != nil {
		return err
	}
	if dg := resp.Header.Get("Docker-Content-Digest"); dg != "" && dg != want.String() {
		return fmt.Errorf("%w: registry stored manifest %s as %s", ErrDigestMismatch, want, dg)
	}
	return nil
}
