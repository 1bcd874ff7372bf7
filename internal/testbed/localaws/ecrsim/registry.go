package ecrsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestSize is ECR's manifest size limit.
const maxManifestSize = 4 << 20

// regError is an error in the distribution API's shape.
type regError struct {
	Status  int
	Code    string
	Message string
	Header  map[string]string
}

func (e *regError) Error() string { return e.Code + ": " + e.Message }

func writeRegError(w http.ResponseWriter, e *regError) {
	for k, v := range e.Header {
		w.Header().Set(k, v)
	}
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{e.Code, e.Message}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func (e *ECR) nameUnknown(repo string) *regError {
	return &regError{Status: http.StatusNotFound, Code: "NAME_UNKNOWN",
		Message: fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", repo, e.cfg.Account)}
}

var errManifestUnknown = &regError{Status: http.StatusNotFound, Code: "MANIFEST_UNKNOWN", Message: "Requested image not found"}

func unsupported(msg string) *regError {
	return &regError{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: msg}
}

// newUploadEngine returns go-containerregistry's registry, used for the
// blob protocol only (GET/HEAD of blobs, monolithic and chunked uploads);
// manifests, repositories and authentication are handled here.
func newUploadEngine(e *ECR) http.Handler {
	return registry.New(
		registry.WithBlobHandler(repoBlobs{e}),
		registry.Logger(log.New(io.Discard, "", 0)),
	)
}

type pathKind int

const (
	pathBase pathKind = iota
	pathCatalog
	pathManifest
	pathBlob
	pathUploadStart
	pathUploadSession
	pathTags
)

type regPath struct {
	kind pathKind
	repo string
	ref  string // tag or digest, blob digest, or upload session id
}

// parsePath splits /v2/NAME/{manifests/REF,blobs/DIGEST,blobs/uploads/[ID],tags/list}.
func parsePath(p string) (regPath, bool) {
	if p == "/v2" || p == "/v2/" {
		return regPath{kind: pathBase}, true
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return regPath{}, false
	}
	if rest == "_catalog" {
		return regPath{kind: pathCatalog}, true
	}
	el := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	n := len(el)
	switch {
	case n >= 3 && el[n-2] == "tags" && el[n-1] == "list":
		return regPath{kind: pathTags, repo: strings.Join(el[:n-2], "/")}, true
	case n >= 3 && el[n-2] == "manifests":
		return regPath{kind: pathManifest, repo: strings.Join(el[:n-2], "/"), ref: el[n-1]}, true
	case n >= 3 && el[n-2] == "blobs" && el[n-1] == "uploads":
		return regPath{kind: pathUploadStart, repo: strings.Join(el[:n-2], "/")}, true
	case n >= 4 && el[n-3] == "blobs" && el[n-2] == "uploads":
		return regPath{kind: pathUploadSession, repo: strings.Join(el[:n-3], "/"), ref: el[n-1]}, true
	case n >= 3 && el[n-2] == "blobs":
		return regPath{kind: pathBlob, repo: strings.Join(el[:n-2], "/"), ref: el[n-1]}, true
	}
	return regPath{}, false
}

func (e *ECR) serveRegistry(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	p, ok := parsePath(r.URL.Path)
	if !ok {
		writeRegError(w, &regError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "404 page not found"})
		return
	}
	principal, rerr := e.authenticate(r)
	if rerr != nil {
		writeRegError(w, rerr)
		return
	}
	r = r.WithContext(withPrincipal(r.Context(), principal))
	if p.kind != pathBase && p.kind != pathCatalog && !validRepoName(p.repo) {
		writeRegError(w, &regError{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: fmt.Sprintf("invalid repository name %q", p.repo)})
		return
	}
	switch p.kind {
	case pathBase:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	case pathCatalog:
		rerr = unsupported("ECR does not offer the catalog API; use DescribeRepositories")
	case pathTags:
		rerr = e.serveTags(w, r, p.repo)
	case pathManifest:
		rerr = e.serveManifest(w, r, p)
	case pathBlob:
		rerr = e.serveBlob(w, r, p)
	case pathUploadStart, pathUploadSession:
		rerr = e.serveUpload(w, r, p)
	}
	if rerr != nil {
		writeRegError(w, rerr)
	}
}

// authenticate checks the request's token and returns the principal it was
// issued to ("" for the test bed's own caller).
func (e *ECR) authenticate(r *http.Request) (string, *regError) {
	user, password, ok := r.BasicAuth()
	if ok && user == "AWS" {
		valid, expired, principal := e.checkPassword(password)
		if valid && !expired {
			return principal, nil
		}
		if valid {
			return "", &regError{Status: http.StatusForbidden, Code: "DENIED", Message: "Your authorization token has expired. Reauthenticate and try again."}
		}
	}
	e.mu.Lock()
	realm := e.proxyEndpointLocked() + "/"
	e.mu.Unlock()
	return "", &regError{Status: http.StatusUnauthorized, Code: "DENIED", Message: "Not Authorized",
		Header: map[string]string{"WWW-Authenticate": fmt.Sprintf("Basic realm=%q,service=\"ecr.amazonaws.com\"", realm)}}
}

func (e *ECR) serveTags(w http.ResponseWriter, r *http.Request, repoName string) *regError {
	if r.Method != http.MethodGet {
		return unsupported("tags/list answers GET only")
	}
	e.mu.Lock()
	repo, ok := e.st.Repositories[repoName]
	var tags []string
	if ok {
		for t := range repo.ImageTags {
			tags = append(tags, t)
		}
	}
	e.mu.Unlock()
	if !ok {
		return e.nameUnknown(repoName)
	}
	slices.Sort(tags)
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i, _ := slices.BinarySearch(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return &regError{Status: http.StatusBadRequest, Code: "PAGINATION_NUMBER_INVALID", Message: fmt.Sprintf("invalid n %q", ns)}
		}
		if n < len(tags) {
			tags = tags[:n]
			w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, repoName, n, tags[len(tags)-1]))
		}
	}
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repoName, tags})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}

func (e *ECR) serveManifest(w http.ResponseWriter, r *http.Request, p regPath) *regError {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if rerr := e.authorize(r.Context(), "ecr:BatchGetImage", p.repo, pullActions); rerr != nil {
			return rerr
		}
		m, rerr := e.resolveManifest(r.Context(), p.repo, p.ref)
		if rerr != nil {
			return rerr
		}
		if r.Method == http.MethodGet {
			e.recordPull(p.repo, m.digest)
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", m.digest)
		w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(m.body)
		}
		return nil
	case http.MethodPut:
		return e.putManifest(w, r, p)
	case http.MethodDelete:
		return e.deleteManifest(w, p)
	}
	return unsupported("manifests answer GET, HEAD, PUT and DELETE")
}

type manifestRecord struct {
	digest    string
	mediaType string
	body      []byte
}

// resolveManifest answers a manifest request from the repository, going
// through the pull-through cache for repositories under a rule.
func (e *ECR) resolveManifest(ctx context.Context, repoName, ref string) (manifestRecord, *regError) {
	if !isDigest(ref) && !imageTagRE.MatchString(ref) {
		return manifestRecord{}, &regError{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: fmt.Sprintf("invalid tag or digest %q", ref)}
	}
	e.mu.Lock()
	rule := e.ruleForLocked(repoName)
	repo := e.st.Repositories[repoName]
	var img *image
	if repo != nil {
		img = repo.lookup(ref)
	}
	e.mu.Unlock()
	if rule != nil {
		digest, rerr := e.pullThrough(ctx, *rule, repoName, ref)
		if rerr != nil {
			return manifestRecord{}, rerr
		}
		e.mu.Lock()
		if repo = e.st.Repositories[repoName]; repo != nil {
			img = repo.Images[digest]
		}
		e.mu.Unlock()
	}
	switch {
	case repo == nil:
		return manifestRecord{}, e.nameUnknown(repoName)
	case img == nil:
		return manifestRecord{}, errManifestUnknown
	}
	var body []byte
	h, err := v1.NewHash(img.Digest)
	if err == nil {
		body, err = e.blobs.read(h)
	}
	if err != nil {
		return manifestRecord{}, &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: fmt.Sprintf("read manifest %s: %v", img.Digest, err)}
	}
	return manifestRecord{digest: img.Digest, mediaType: img.MediaType, body: body}, nil
}

func (e *ECR) recordPull(repoName, digest string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if repo := e.st.Repositories[repoName]; repo != nil {
		if img := repo.Images[digest]; img != nil {
			img.LastPulledAt = e.now()
		}
	}
}

// parsedManifest is what the registry needs from a manifest body.
type parsedManifest struct {
	mediaType         string
	artifactMediaType string
	blobs             map[string]int64 // config and distributable layers
	children          []string         // an index's manifests
}

func parseManifest(mediaType string, body []byte) (parsedManifest, error) {
	if mediaType == "" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return parsedManifest{}, fmt.Errorf("manifest is not JSON: %w", err)
		}
		mediaType = probe.MediaType
	}
	mt := types.MediaType(mediaType)
	pm := parsedManifest{mediaType: mediaType, blobs: map[string]int64{}}
	switch {
	case mt.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(body))
		if err != nil {
			return pm, fmt.Errorf("parse image manifest: %w", err)
		}
		if m.Config.Digest.Algorithm != "" {
			pm.blobs[m.Config.Digest.String()] = m.Config.Size
			pm.artifactMediaType = string(m.Config.MediaType)
		}
		if m.ArtifactType != "" {
			pm.artifactMediaType = m.ArtifactType
		}
		for _, l := range m.Layers {
			if l.MediaType.IsDistributable() {
				pm.blobs[l.Digest.String()] = l.Size
			}
		}
	case mt.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return pm, fmt.Errorf("parse index: %w", err)
		}
		for _, d := range idx.Manifests {
			pm.children = append(pm.children, d.Digest.String())
		}
	default:
		return pm, fmt.Errorf("unsupported manifest media type %q", mediaType)
	}
	for d := range pm.blobs {
		if !isDigest(d) {
			return pm, fmt.Errorf("manifest references %q, not a sha256 digest", d)
		}
	}
	for _, d := range pm.children {
		if !isDigest(d) {
			return pm, fmt.Errorf("index references %q, not a sha256 digest", d)
		}
	}
	return pm, nil
}

func (e *ECR) putManifest(w http.ResponseWriter, r *http.Request, p regPath) *regError {
	if !isDigest(p.ref) && !imageTagRE.MatchString(p.ref) {
		return &regError{Status: http.StatusBadRequest, Code: "TAG_INVALID", Message: fmt.Sprintf("invalid tag %q", p.ref)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return &regError{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: fmt.Sprintf("read manifest: %v", err)}
	}
	if len(body) > maxManifestSize {
		return &regError{Status: http.StatusRequestEntityTooLarge, Code: "SIZE_INVALID", Message: "manifest is larger than 4 MiB"}
	}
	pm, err := parseManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return &regError{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: err.Error()}
	}
	h, _, _ := v1.SHA256(bytes.NewReader(body))
	digest := h.String()
	if isDigest(p.ref) && p.ref != digest {
		return &regError{Status: http.StatusBadRequest, Code: "DIGEST_INVALID", Message: fmt.Sprintf("manifest digest %s does not match %s", digest, p.ref)}
	}
	if _, err := e.blobs.put(h, bytes.NewReader(body)); err != nil {
		return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: fmt.Sprintf("store manifest: %v", err)}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	repo, ok := e.st.Repositories[p.repo]
	if !ok {
		if repo, ok = e.createFromTemplateLocked(p.repo, createdByPush); !ok {
			return e.nameUnknown(p.repo)
		}
	}
	var size int64
	for d, s := range pm.blobs {
		if _, ok := repo.Blobs[d]; !ok {
			return &regError{Status: http.StatusBadRequest, Code: "MANIFEST_BLOB_UNKNOWN", Message: fmt.Sprintf("blob %s referenced by the manifest is not in repository '%s'", d, p.repo)}
		}
		size += s
	}
	for _, c := range pm.children {
		if _, ok := repo.Images[c]; !ok {
			return &regError{Status: http.StatusBadRequest, Code: "MANIFEST_BLOB_UNKNOWN", Message: fmt.Sprintf("manifest %s referenced by the index is not in repository '%s'", c, p.repo)}
		}
	}
	if !isDigest(p.ref) {
		if old, ok := repo.ImageTags[p.ref]; ok && old != digest && repo.tagImmutable(p.ref) {
			return &regError{Status: http.StatusBadRequest, Code: "TAG_INVALID",
				Message: fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", p.ref, p.repo)}
		}
	}
	e.addImageLocked(repo, digest, pm, int64(len(body)), size)
	if !isDigest(p.ref) {
		repo.ImageTags[p.ref] = digest
	}
	if err := e.save(); err != nil {
		return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
	}
	w.Header().Set("Location", fmt.Sprintf("/v2/%s/manifests/%s", p.repo, digest))
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (e *ECR) addImageLocked(repo *repository, digest string, pm parsedManifest, manifestSize, blobsSize int64) {
	if _, ok := repo.Images[digest]; ok {
		return
	}
	repo.Images[digest] = &image{
		Digest:            digest,
		MediaType:         pm.mediaType,
		ArtifactMediaType: pm.artifactMediaType,
		ManifestSize:      manifestSize,
		BlobsSize:         blobsSize,
		Children:          pm.children,
		PushedAt:          e.now(),
	}
}

func (e *ECR) deleteManifest(w http.ResponseWriter, p regPath) *regError {
	if !isDigest(p.ref) {
		return unsupported("delete an image by digest")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	repo, ok := e.st.Repositories[p.repo]
	if !ok {
		return e.nameUnknown(p.repo)
	}
	if _, ok := repo.Images[p.ref]; !ok {
		return errManifestUnknown
	}
	repo.deleteImage(p.ref)
	if err := e.save(); err != nil {
		return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r *repository) deleteImage(digest string) {
	delete(r.Images, digest)
	for t, d := range r.ImageTags {
		if d == digest {
			delete(r.ImageTags, t)
			delete(r.TagCheckedAt, t)
		}
	}
}

func (e *ECR) serveBlob(w http.ResponseWriter, r *http.Request, p regPath) *regError {
	if r.Method == http.MethodDelete {
		return unsupported("ECR does not delete layers through the registry API")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return unsupported("blobs answer GET and HEAD")
	}
	if !isDigest(p.ref) {
		return &regError{Status: http.StatusBadRequest, Code: "DIGEST_INVALID", Message: fmt.Sprintf("invalid digest %q", p.ref)}
	}
	if rerr := e.authorize(r.Context(), "ecr:GetDownloadUrlForLayer", p.repo, pullActions); rerr != nil {
		return rerr
	}
	if !e.repoExists(p.repo) {
		return e.nameUnknown(p.repo)
	}
	e.uploads.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), repoKey{}, p.repo)))
	return nil
}

func (e *ECR) repoExists(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.st.Repositories[name]
	return ok
}

func (e *ECR) serveUpload(w http.ResponseWriter, r *http.Request, p regPath) *regError {
	if r.Method == http.MethodPost && p.kind != pathUploadStart {
		return unsupported("start an upload with POST /v2/NAME/blobs/uploads/")
	}
	e.mu.Lock()
	repo, ok := e.st.Repositories[p.repo]
	if !ok && r.Method == http.MethodPost {
		repo, ok = e.createFromTemplateLocked(p.repo, createdByPush)
		if ok {
			if err := e.save(); err != nil {
				e.mu.Unlock()
				return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
			}
		}
	}
	if !ok {
		e.mu.Unlock()
		return e.nameUnknown(p.repo)
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "" {
		mounted, err := e.mountLocked(repo, q.Get("from"), q.Get("mount"))
		if err != nil {
			e.mu.Unlock()
			return &regError{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()}
		}
		if mounted {
			e.mu.Unlock()
			w.Header().Set("Location", fmt.Sprintf("/v2/%s/blobs/%s", p.repo, q.Get("mount")))
			w.Header().Set("Docker-Content-Digest", q.Get("mount"))
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusCreated)
			return nil
		}
	}
	e.mu.Unlock()
	e.uploads.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), repoKey{}, p.repo)))
	return nil
}

// mountLocked links a blob of another repository into dst when ECR would:
// blob mounting enabled, same encryption, a source not created by the
// pull-through cache that holds the blob.
func (e *ECR) mountLocked(dst *repository, from, digest string) (bool, error) {
	if e.st.Settings[settingBlobMounting] != "ENABLED" || !isDigest(digest) {
		return false, nil
	}
	src, ok := e.st.Repositories[from]
	if !ok || src.CreatedBy == createdByCache || src.Encryption != dst.Encryption {
		return false, nil
	}
	size, ok := src.Blobs[digest]
	if !ok {
		return false, nil
	}
	if h, err := v1.NewHash(digest); err != nil {
		return false, nil
	} else if _, ok := e.blobs.stat(h); !ok {
		return false, nil
	}
	dst.Blobs[digest] = size
	if err := e.save(); err != nil {
		return false, err
	}
	return true, nil
}
