package ecrsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Service returns the ECR API operations for a wire.Mux.
func (e *ECR) Service() wire.Service {
	return wire.Service{
		TargetPrefix: "AmazonEC2ContainerRegistry_V20150921",
		JSONVersion:  "1.1",
		Ops: map[string]wire.Op{
			"GetAuthorizationToken":               e.getAuthorizationToken,
			"CreateRepository":                    e.createRepository,
			"DescribeRepositories":                e.describeRepositories,
			"DeleteRepository":                    e.deleteRepository,
			"DescribeImages":                      e.describeImages,
			"ListImages":                          e.listImages,
			"BatchGetImage":                       e.batchGetImage,
			"PutLifecyclePolicy":                  e.putLifecyclePolicy,
			"GetLifecyclePolicy":                  e.getLifecyclePolicy,
			"PutImageTagMutability":               e.putImageTagMutability,
			"PutImageScanningConfiguration":       e.putImageScanningConfiguration,
			"TagResource":                         e.tagResource,
			"ListTagsForResource":                 e.listTagsForResource,
			"CreatePullThroughCacheRule":          e.createPullThroughCacheRule,
			"DescribePullThroughCacheRules":       e.describePullThroughCacheRules,
			"DeletePullThroughCacheRule":          e.deletePullThroughCacheRule,
			"ValidatePullThroughCacheRule":        e.validatePullThroughCacheRule,
			"CreateRepositoryCreationTemplate":    e.createRepositoryCreationTemplate,
			"DescribeRepositoryCreationTemplates": e.describeRepositoryCreationTemplates,
			"DeleteRepositoryCreationTemplate":    e.deleteRepositoryCreationTemplate,
			"PutAccountSetting":                   e.putAccountSetting,
			"GetAccountSetting":                   e.getAccountSetting,
			"PutRegistryPolicy":                   e.putRegistryPolicy,
			"GetRegistryPolicy":                   e.getRegistryPolicy,
			"DeleteRegistryPolicy":                e.deleteRegistryPolicy,
			"SetRepositoryPolicy":                 e.setRepositoryPolicy,
			"GetRepositoryPolicy":                 e.getRepositoryPolicy,
		},
	}
}

// decode reads an operation's input and checks its registryId.
func (e *ECR) decode(body []byte, in any, registryID func() string) error {
	if err := wire.Decode(body, in); err != nil {
		return err
	}
	if registryID == nil {
		return nil
	}
	if id := registryID(); id != "" && !registryIDRE.MatchString(id) {
		return invalidParameter("Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}'', got %q", id)
	}
	return nil
}

func (e *ECR) registryOf(id string) string {
	if id == "" {
		return e.cfg.Account
	}
	return id
}

// checkOwnRegistry refuses registry-level operations on other accounts'
// registries.
func (e *ECR) checkOwnRegistry(id string) error {
	if id != "" && id != e.cfg.Account {
		return invalidParameter("registry %s is not this registry (%s): the test bed has one account", id, e.cfg.Account)
	}
	return nil
}

func (e *ECR) repositoryNotFound(registryID, name string) error {
	return wire.Errorf(http.StatusBadRequest, "RepositoryNotFoundException",
		"The repository with name '%s' does not exist in the registry with id '%s'", name, e.registryOf(registryID))
}

// repoLocked finds a repository of this registry. Callers hold e.mu.
func (e *ECR) repoLocked(registryID, name string) (*repository, error) {
	if name == "" {
		return nil, invalidParameter("repositoryName is required")
	}
	if registryID != "" && registryID != e.cfg.Account {
		return nil, e.repositoryNotFound(registryID, name)
	}
	r, ok := e.st.Repositories[name]
	if !ok {
		return nil, e.repositoryNotFound(registryID, name)
	}
	return r, nil
}

func (e *ECR) saveErr() error {
	if err := e.save(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// paginate cuts items for maxResults/nextToken (default page 100).
func paginate[T any](items []T, token string, maxResults *int32) ([]T, string, error) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(raw), "ecrsim:"))
		if err != nil || cerr != nil || !strings.HasPrefix(string(raw), "ecrsim:") || n < 0 || n > len(items) {
			return nil, "", invalidParameter("Invalid parameter at 'nextToken': %q is not a token this registry issued", token)
		}
		start = n
	}
	limit := 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return nil, "", invalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000', got %d", *maxResults)
		}
		limit = int(*maxResults)
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("ecrsim:" + strconv.Itoa(end)))
	}
	return items[start:end], next, nil
}

// --- authorization

type authorizationData struct {
	AuthorizationToken string  `json:"authorizationToken"`
	ExpiresAt          float64 `json:"expiresAt"`
	ProxyEndpoint      string  `json:"proxyEndpoint"`
}

func (e *ECR) getAuthorizationToken(_ context.Context, body []byte) (any, error) {
	var in struct{ RegistryIds []string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	for _, id := range in.RegistryIds {
		if !registryIDRE.MatchString(id) {
			return nil, invalidParameter("Invalid parameter at 'registryIds' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}'', got %q", id)
		}
	}
	n := max(len(in.RegistryIds), 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]authorizationData, 0, n)
	for range n {
		t := e.issueTokenForLocked("")
		out = append(out, authorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte(t.Username + ":" + t.Password)),
			ExpiresAt:          wire.Epoch(t.ExpiresAt),
			ProxyEndpoint:      e.proxyEndpointLocked(),
		})
	}
	return map[string]any{"authorizationData": out}, nil
}

// --- repositories

type repositoryOut struct {
	RepositoryArn                      string            `json:"repositoryArn"`
	RegistryId                         string            `json:"registryId"`
	RepositoryName                     string            `json:"repositoryName"`
	RepositoryUri                      string            `json:"repositoryUri"`
	CreatedAt                          float64           `json:"createdAt"`
	ImageTagMutability                 string            `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []exclusionFilter `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ImageScanningConfiguration         scanningConfig    `json:"imageScanningConfiguration"`
	EncryptionConfiguration            encryption        `json:"encryptionConfiguration"`
}

func (e *ECR) repositoryOutLocked(r *repository) repositoryOut {
	return repositoryOut{
		RepositoryArn:                      e.repositoryArn(r.Name),
		RegistryId:                         e.cfg.Account,
		RepositoryName:                     r.Name,
		RepositoryUri:                      e.registryHostLocked() + "/" + r.Name,
		CreatedAt:                          wire.Epoch(r.CreatedAt),
		ImageTagMutability:                 r.Mutability,
		ImageTagMutabilityExclusionFilters: r.MutabilityFilters,
		ImageScanningConfiguration:         scanningConfig{ScanOnPush: r.ScanOnPush},
		EncryptionConfiguration:            r.Encryption,
	}
}

type createRepositoryInput struct {
	RegistryId                         string
	RepositoryName                     string
	Tags                               []tag
	ImageTagMutability                 string
	ImageTagMutabilityExclusionFilters []exclusionFilter
	ImageScanningConfiguration         *scanningConfig
	EncryptionConfiguration            *encryption
}

func (e *ECR) createRepository(_ context.Context, body []byte) (any, error) {
	var in createRepositoryInput
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := e.checkOwnRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.ImageTagMutability == "" {
		in.ImageTagMutability = mutable
	}
	if err := checkMutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters); err != nil {
		return nil, err
	}
	enc := encryption{EncryptionType: "AES256"}
	if in.EncryptionConfiguration != nil {
		if err := checkEncryption(*in.EncryptionConfiguration); err != nil {
			return nil, err
		}
		enc = e.effectiveEncryption(*in.EncryptionConfiguration)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.st.Repositories[in.RepositoryName]; ok {
		return nil, wire.Errorf(http.StatusBadRequest, "RepositoryAlreadyExistsException",
			"The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, e.cfg.Account)
	}
	r := e.newRepository(in.RepositoryName)
	r.Tags = in.Tags
	r.Mutability = in.ImageTagMutability
	r.MutabilityFilters = in.ImageTagMutabilityExclusionFilters
	r.Encryption = enc
	if in.ImageScanningConfiguration != nil {
		r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	e.st.Repositories[r.Name] = r
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"repository": e.repositoryOutLocked(r)}, nil
}

type describeRepositoriesInput struct {
	RegistryId      string
	RepositoryNames []string
	NextToken       string
	MaxResults      *int32
}

func (e *ECR) describeRepositories(_ context.Context, body []byte) (any, error) {
	var in describeRepositoriesInput
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if len(in.RepositoryNames) > 0 && (in.MaxResults != nil || in.NextToken != "") {
		return nil, invalidParameter("repositoryNames cannot be combined with maxResults or nextToken")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []repositoryOut
	if len(in.RepositoryNames) > 0 {
		for _, n := range in.RepositoryNames {
			r, err := e.repoLocked(in.RegistryId, n)
			if err != nil {
				return nil, err
			}
			out = append(out, e.repositoryOutLocked(r))
		}
		return map[string]any{"repositories": out}, nil
	}
	if in.RegistryId != "" && in.RegistryId != e.cfg.Account {
		return map[string]any{"repositories": []repositoryOut{}}, nil
	}
	page, next, err := paginate(slices.Sorted(maps.Keys(e.st.Repositories)), in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out = make([]repositoryOut, 0, len(page))
	for _, n := range page {
		out = append(out, e.repositoryOutLocked(e.st.Repositories[n]))
	}
	res := map[string]any{"repositories": out}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

func (e *ECR) deleteRepository(_ context.Context, body []byte) (any, error) {
	var in struct {
		RegistryId     string
		RepositoryName string
		Force          bool
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if len(r.Images) > 0 && !in.Force {
		return nil, wire.Errorf(http.StatusBadRequest, "RepositoryNotEmptyException",
			"The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", r.Name, e.cfg.Account)
	}
	out := e.repositoryOutLocked(r)
	delete(e.st.Repositories, r.Name)
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"repository": out}, nil
}

// --- images

type imageDetail struct {
	RegistryId             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
	ImagePushedAt          float64  `json:"imagePushedAt"`
	ImageManifestMediaType string   `json:"imageManifestMediaType"`
	ArtifactMediaType      string   `json:"artifactMediaType,omitempty"`
	LastRecordedPullTime   *float64 `json:"lastRecordedPullTime,omitempty"`
	ImageStatus            string   `json:"imageStatus"`
}

func imageNotFoundMessage(id imageID, repo, registry string) string {
	d, t := id.ImageDigest, id.ImageTag
	if d == "" {
		d = "null"
	}
	if t == "" {
		t = "null"
	}
	return fmt.Sprintf("The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'", d, t, repo, registry)
}

// findImage resolves an imageId; a digest and a tag must agree.
func (r *repository) findImage(id imageID) (*image, string) {
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return nil, "MissingDigestAndTag"
	case id.ImageDigest != "" && !isDigest(id.ImageDigest):
		return nil, "InvalidImageDigest"
	case id.ImageTag != "" && !imageTagRE.MatchString(id.ImageTag):
		return nil, "InvalidImageTag"
	case id.ImageDigest != "":
		img := r.Images[id.ImageDigest]
		if img == nil {
			return nil, "ImageNotFound"
		}
		if id.ImageTag != "" && r.ImageTags[id.ImageTag] != id.ImageDigest {
			return nil, "ImageTagDoesNotMatchDigest"
		}
		return img, ""
	}
	if img := r.lookup(id.ImageTag); img != nil {
		return img, ""
	}
	return nil, "ImageNotFound"
}

// sortedImages lists a repository's images, newest push last.
func (r *repository) sortedImages() []*image {
	imgs := make([]*image, 0, len(r.Images))
	for _, img := range r.Images {
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b *image) int {
		if c := a.PushedAt.Compare(b.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	return imgs
}

func tagStatusMatches(status string, tagged bool) (bool, error) {
	switch status {
	case "", "ANY":
		return true, nil
	case "TAGGED":
		return tagged, nil
	case "UNTAGGED":
		return !tagged, nil
	}
	return false, invalidParameter("filter.tagStatus %q is not one of TAGGED, UNTAGGED, ANY", status)
}

type describeImagesInput struct {
	RegistryId     string
	RepositoryName string
	ImageIds       []imageID
	NextToken      string
	MaxResults     *int32
	Filter         *struct{ TagStatus string }
}

func (e *ECR) describeImages(_ context.Context, body []byte) (any, error) {
	var in describeImagesInput
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if len(in.ImageIds) > 0 && (in.MaxResults != nil || in.NextToken != "" || in.Filter != nil) {
		return nil, invalidParameter("imageIds cannot be combined with maxResults, nextToken or filter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	var imgs []*image
	if len(in.ImageIds) > 0 {
		for _, id := range in.ImageIds {
			img, code := r.findImage(id)
			switch code {
			case "":
			case "ImageNotFound", "ImageTagDoesNotMatchDigest":
				return nil, wire.Errorf(http.StatusBadRequest, "ImageNotFoundException", "%s", imageNotFoundMessage(id, r.Name, e.cfg.Account))
			default:
				return nil, invalidParameter("imageId %+v: %s", id, code)
			}
			if !slices.Contains(imgs, img) {
				imgs = append(imgs, img)
			}
		}
	} else {
		status := ""
		if in.Filter != nil {
			status = in.Filter.TagStatus
		}
		tags := r.tagIndex()
		for _, img := range r.sortedImages() {
			ok, err := tagStatusMatches(status, len(tags[img.Digest]) > 0)
			if err != nil {
				return nil, err
			}
			if ok {
				imgs = append(imgs, img)
			}
		}
	}
	page, next, err := paginate(imgs, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	tags := r.tagIndex()
	details := make([]imageDetail, 0, len(page))
	for _, img := range page {
		d := imageDetail{
			RegistryId:             e.cfg.Account,
			RepositoryName:         r.Name,
			ImageDigest:            img.Digest,
			ImageTags:              tags[img.Digest],
			ImageSizeInBytes:       r.sizeOf(img),
			ImagePushedAt:          wire.Epoch(img.PushedAt),
			ImageManifestMediaType: img.MediaType,
			ArtifactMediaType:      img.ArtifactMediaType,
			ImageStatus:            "ACTIVE",
		}
		if !img.LastPulledAt.IsZero() {
			t := wire.Epoch(img.LastPulledAt)
			d.LastRecordedPullTime = &t
		}
		details = append(details, d)
	}
	res := map[string]any{"imageDetails": details}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

func (e *ECR) listImages(_ context.Context, body []byte) (any, error) {
	var in struct {
		RegistryId     string
		RepositoryName string
		NextToken      string
		MaxResults     *int32
		Filter         *struct{ TagStatus string }
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	status := ""
	if in.Filter != nil {
		status = in.Filter.TagStatus
	}
	var ids []imageID
	index := r.tagIndex()
	for _, img := range r.sortedImages() {
		tags := index[img.Digest]
		ok, err := tagStatusMatches(status, len(tags) > 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if len(tags) == 0 {
			ids = append(ids, imageID{ImageDigest: img.Digest})
		}
		for _, t := range tags {
			ids = append(ids, imageID{ImageDigest: img.Digest, ImageTag: t})
		}
	}
	page, next, err := paginate(ids, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []imageID{}
	}
	res := map[string]any{"imageIds": page}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

type imageOut struct {
	RegistryId             string  `json:"registryId"`
	RepositoryName         string  `json:"repositoryName"`
	ImageId                imageID `json:"imageId"`
	ImageManifest          string  `json:"imageManifest"`
	ImageManifestMediaType string  `json:"imageManifestMediaType"`
}

type imageFailure struct {
	ImageId       imageID `json:"imageId"`
	FailureCode   string  `json:"failureCode"`
	FailureReason string  `json:"failureReason"`
}

var failureReasons = map[string]string{
	"ImageNotFound":              "Requested image not found",
	"ImageTagDoesNotMatchDigest": "Invalid image tag for the given image digest",
	"MissingDigestAndTag":        "Missing image digest and image tag",
	"InvalidImageDigest":         "Invalid image digest",
	"InvalidImageTag":            "Invalid image tag",
	"UnsupportedImageType":       "The manifest's media type is not among the accepted media types",
}

// batchGetImage returns manifests; for repositories under a pull-through
// rule it imports through the cache, reporting upstream trouble as the
// Upstream* failure codes.
func (e *ECR) batchGetImage(ctx context.Context, body []byte) (any, error) {
	var in struct {
		RegistryId         string
		RepositoryName     string
		ImageIds           []imageID
		AcceptedMediaTypes []string
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if len(in.ImageIds) == 0 || len(in.ImageIds) > 100 {
		return nil, invalidParameter("imageIds must list 1 to 100 images, got %d", len(in.ImageIds))
	}
	e.mu.Lock()
	_, repoErr := e.repoLocked(in.RegistryId, in.RepositoryName)
	cached := e.ruleForLocked(in.RepositoryName) != nil && (in.RegistryId == "" || in.RegistryId == e.cfg.Account)
	e.mu.Unlock()
	if repoErr != nil && !cached {
		return nil, repoErr
	}
	images := []imageOut{}
	failures := []imageFailure{}
	fail := func(id imageID, code, reason string) {
		if reason == "" {
			reason = failureReasons[code]
		}
		failures = append(failures, imageFailure{ImageId: id, FailureCode: code, FailureReason: reason})
	}
	for _, id := range in.ImageIds {
		ref := id.ImageDigest
		if ref == "" {
			ref = id.ImageTag
		}
		if ref == "" {
			fail(id, "MissingDigestAndTag", "")
			continue
		}
		m, rerr := e.resolveManifest(ctx, in.RepositoryName, ref)
		if rerr != nil {
			switch rerr.Status {
			case http.StatusTooManyRequests:
				fail(id, "UpstreamTooManyRequests", rerr.Message)
			case http.StatusForbidden:
				fail(id, "UpstreamAccessDenied", rerr.Message)
			case http.StatusNotFound:
				fail(id, "ImageNotFound", "")
			case http.StatusBadRequest:
				fail(id, "InvalidImageTag", rerr.Message)
			default:
				fail(id, "UpstreamUnavailable", rerr.Message)
			}
			continue
		}
		if id.ImageDigest != "" && id.ImageTag != "" {
			e.mu.Lock()
			match := e.st.Repositories[in.RepositoryName].ImageTags[id.ImageTag] == id.ImageDigest
			e.mu.Unlock()
			if !match {
				fail(id, "ImageTagDoesNotMatchDigest", "")
				continue
			}
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, m.mediaType) {
			fail(id, "UnsupportedImageType", "")
			continue
		}
		e.recordPull(in.RepositoryName, m.digest)
		images = append(images, imageOut{
			RegistryId:             e.cfg.Account,
			RepositoryName:         in.RepositoryName,
			ImageId:                imageID{ImageDigest: m.digest, ImageTag: id.ImageTag},
			ImageManifest:          string(m.body),
			ImageManifestMediaType: m.mediaType,
		})
	}
	return map[string]any{"images": images, "failures": failures}, nil
}

// --- repository settings

type repoRef struct {
	RegistryId     string
	RepositoryName string
}

// repoDoc is a text document a repository keeps: its lifecycle policy or
// its repository policy. Put and Get share the request shapes, the lookup
// and the answer; only the member's name, the check and the error differ.
type repoDoc struct {
	member   string                    // JSON member: lifecyclePolicyText, policyText
	field    func(*repository) *string // where the repository keeps it
	check    func(string) error
	notFound string // error code when there is none
	what     string // "Lifecycle policy", "Repository policy"
}

var (
	lifecycleDoc = repoDoc{member: "lifecyclePolicyText", field: func(r *repository) *string { return &r.LifecyclePolicy },
		check: checkLifecyclePolicy, notFound: "LifecyclePolicyNotFoundException", what: "Lifecycle policy"}
	repositoryPolicyDoc = repoDoc{member: "policyText", field: func(r *repository) *string { return &r.Policy },
		check: checkRepositoryPolicy, notFound: "RepositoryPolicyNotFoundException", what: "Repository policy"}
)

func (e *ECR) putRepoDoc(body []byte, d repoDoc) (any, error) {
	var in repoRef
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := wire.Decode(body, &doc); err != nil {
		return nil, err
	}
	// Members match case-insensitively, as the JSON protocol's decoding
	// into the input structures does.
	var text string
	for k, raw := range doc {
		if strings.EqualFold(k, d.member) {
			if err := json.Unmarshal(raw, &text); err != nil {
				return nil, wire.Errorf(http.StatusBadRequest, "SerializationException", "%s: want a string", d.member)
			}
		}
	}
	if err := d.check(text); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	*d.field(r) = text
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": e.cfg.Account, "repositoryName": r.Name, d.member: text}, nil
}

func (e *ECR) getRepoDoc(body []byte, d repoDoc) (any, error) {
	var in repoRef
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	text := *d.field(r)
	if text == "" {
		return nil, wire.Errorf(http.StatusBadRequest, d.notFound,
			"%s does not exist for the repository with name '%s' in the registry with id '%s'", d.what, r.Name, e.cfg.Account)
	}
	return map[string]any{"registryId": e.cfg.Account, "repositoryName": r.Name, d.member: text}, nil
}

func (e *ECR) putLifecyclePolicy(_ context.Context, body []byte) (any, error) {
	return e.putRepoDoc(body, lifecycleDoc)
}

func (e *ECR) getLifecyclePolicy(_ context.Context, body []byte) (any, error) {
	return e.getRepoDoc(body, lifecycleDoc)
}

func (e *ECR) putImageTagMutability(_ context.Context, body []byte) (any, error) {
	var in struct {
		repoRef
		ImageTagMutability                 string
		ImageTagMutabilityExclusionFilters []exclusionFilter
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := checkMutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	r.Mutability, r.MutabilityFilters = in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	out := map[string]any{"registryId": e.cfg.Account, "repositoryName": r.Name, "imageTagMutability": r.Mutability}
	if len(r.MutabilityFilters) > 0 {
		out["imageTagMutabilityExclusionFilters"] = r.MutabilityFilters
	}
	return out, nil
}

func (e *ECR) putImageScanningConfiguration(_ context.Context, body []byte) (any, error) {
	var in struct {
		repoRef
		ImageScanningConfiguration *scanningConfig
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if in.ImageScanningConfiguration == nil {
		return nil, invalidParameter("imageScanningConfiguration is required")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoLocked(in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": e.cfg.Account, "repositoryName": r.Name, "imageScanningConfiguration": scanningConfig{ScanOnPush: r.ScanOnPush}}, nil
}

// repoForArnLocked resolves a repository ARN of this registry.
func (e *ECR) repoForArnLocked(arn string) (*repository, error) {
	prefix := fmt.Sprintf("arn:aws:ecr:%s:%s:repository/", e.cfg.Region, e.cfg.Account)
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return nil, invalidParameter("Invalid parameter at 'resourceArn': %q is not a repository ARN of this registry (%s...)", arn, prefix)
	}
	return e.repoLocked("", name)
}

func (e *ECR) tagResource(_ context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string
		Tags        []tag
	}
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoForArnLocked(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	merged := slices.Clone(r.Tags)
	for _, t := range in.Tags {
		i := slices.IndexFunc(merged, func(o tag) bool { return o.Key == t.Key })
		if i >= 0 {
			merged[i] = t
		} else {
			merged = append(merged, t)
		}
	}
	if err := checkTags(merged); err != nil {
		return nil, err
	}
	r.Tags = merged
	return struct{}{}, e.saveErr()
}

func (e *ECR) listTagsForResource(_ context.Context, body []byte) (any, error) {
	var in struct{ ResourceArn string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.repoForArnLocked(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	tags := r.Tags
	if tags == nil {
		tags = []tag{}
	}
	return map[string]any{"tags": tags}, nil
}

// --- account settings

const settingBlobMounting = "BLOB_MOUNTING"

// accountSettings lists the settings ECR knows, their defaults and the
// values they take (nil: any value).
var accountSettings = map[string]struct {
	def    string
	values []string
}{
	settingBlobMounting:       {"DISABLED", []string{"ENABLED", "DISABLED"}},
	"BASIC_SCAN_TYPE_VERSION": {"AWS_NATIVE", []string{"AWS_NATIVE", "CLAIR"}},
	"REGISTRY_POLICY_SCOPE":   {"V2", []string{"V1", "V2"}},
}

func (e *ECR) putAccountSetting(_ context.Context, body []byte) (any, error) {
	var in struct{ Name, Value string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	s, ok := accountSettings[in.Name]
	if !ok {
		return nil, invalidParameter("account setting %q is not one of BLOB_MOUNTING, BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE", in.Name)
	}
	if !slices.Contains(s.values, in.Value) {
		return nil, invalidParameter("account setting %s takes %s, got %q", in.Name, strings.Join(s.values, " or "), in.Value)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.Settings[in.Name] = in.Value
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]string{"name": in.Name, "value": in.Value}, nil
}

func (e *ECR) getAccountSetting(_ context.Context, body []byte) (any, error) {
	var in struct{ Name string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	s, ok := accountSettings[in.Name]
	if !ok {
		return nil, invalidParameter("account setting %q is not one of BLOB_MOUNTING, BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE", in.Name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.st.Settings[in.Name]
	if !ok {
		v = s.def
	}
	return map[string]string{"name": in.Name, "value": v}, nil
}
