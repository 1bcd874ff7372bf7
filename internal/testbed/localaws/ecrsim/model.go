package ecrsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Ways a repository came to be (ECR's RCTAppliedFor values name the last
// two).
const (
	createdByAPI      = ""
	createdByCache    = "PULL_THROUGH_CACHE"
	createdByPush     = "CREATE_ON_PUSH"
	appliedForReplica = "REPLICATION"
)

const (
	mutable                = "MUTABLE"
	immutable              = "IMMUTABLE"
	immutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	mutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// Wire shapes shared by several operations (JSON member names as in the
// ECR model).
type (
	tag struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	exclusionFilter struct {
		FilterType string `json:"filterType"`
		Filter     string `json:"filter"`
	}
	encryption struct {
		EncryptionType string `json:"encryptionType"`
		KmsKey         string `json:"kmsKey,omitempty"`
	}
	scanningConfig struct {
		ScanOnPush bool `json:"scanOnPush"`
	}
	imageID struct {
		ImageDigest string `json:"imageDigest,omitempty"`
		ImageTag    string `json:"imageTag,omitempty"`
	}
)

type repository struct {
	Name              string               `json:"name"`
	CreatedAt         time.Time            `json:"createdAt"`
	Mutability        string               `json:"imageTagMutability"`
	MutabilityFilters []exclusionFilter    `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ScanOnPush        bool                 `json:"scanOnPush"`
	Encryption        encryption           `json:"encryption"`
	Tags              []tag                `json:"tags,omitempty"`
	LifecyclePolicy   string               `json:"lifecyclePolicy,omitempty"`
	Policy            string               `json:"repositoryPolicy,omitempty"`
	CreatedBy         string               `json:"createdBy,omitempty"`
	Images            map[string]*image    `json:"images"`                 // by digest
	ImageTags         map[string]string    `json:"imageTags"`              // tag -> digest
	Blobs             map[string]int64     `json:"blobs"`                  // digest -> size
	TagCheckedAt      map[string]time.Time `json:"tagCheckedAt,omitempty"` // pull-through: last upstream comparison
}

func (r *repository) initMaps() {
	if r.Images == nil {
		r.Images = map[string]*image{}
	}
	if r.ImageTags == nil {
		r.ImageTags = map[string]string{}
	}
	if r.Blobs == nil {
		r.Blobs = map[string]int64{}
	}
	if r.TagCheckedAt == nil {
		r.TagCheckedAt = map[string]time.Time{}
	}
}

type image struct {
	Digest            string    `json:"digest"`
	MediaType         string    `json:"mediaType"`
	ArtifactMediaType string    `json:"artifactMediaType,omitempty"`
	ManifestSize      int64     `json:"manifestSize"`
	BlobsSize         int64     `json:"blobsSize"`          // config + layers
	Children          []string  `json:"children,omitempty"` // an index's manifests
	PushedAt          time.Time `json:"pushedAt"`
	LastPulledAt      time.Time `json:"lastPulledAt"`
}

// lookup finds an image by tag or digest.
func (r *repository) lookup(ref string) *image {
	if isDigest(ref) {
		return r.Images[ref]
	}
	if d, ok := r.ImageTags[ref]; ok {
		return r.Images[d]
	}
	return nil
}

// tagIndex maps each tagged digest to its tags, sorted.
func (r *repository) tagIndex() map[string][]string {
	idx := map[string][]string{}
	for t, d := range r.ImageTags {
		idx[d] = append(idx[d], t)
	}
	for _, tags := range idx {
		slices.Sort(tags)
	}
	return idx
}

// sizeOf is imageSizeInBytes: an image's blobs, or the largest child of an
// index present in the repository.
func (r *repository) sizeOf(img *image) int64 {
	if len(img.Children) == 0 {
		return img.BlobsSize
	}
	var largest int64
	for _, c := range img.Children {
		if child, ok := r.Images[c]; ok {
			largest = max(largest, r.sizeOf(child))
		}
	}
	return largest
}

// referencedByIndex reports whether a cached index lists digest: the
// pull-through cache may then fetch it by digest.
func (r *repository) referencedByIndex(digest string) bool {
	for _, img := range r.Images {
		if slices.Contains(img.Children, digest) {
			return true
		}
	}
	return false
}

// tagImmutable reports whether tag may not move to another digest.
func (r *repository) tagImmutable(tag string) bool {
	switch r.Mutability {
	case immutable:
		return true
	case immutableWithExclusion:
		return !matchesAnyFilter(r.MutabilityFilters, tag)
	case mutableWithExclusion:
		return matchesAnyFilter(r.MutabilityFilters, tag)
	}
	return false
}

func matchesAnyFilter(filters []exclusionFilter, tag string) bool {
	for _, f := range filters {
		if wildcardMatch(f.Filter, tag) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a pattern in which '*' stands for any
// run of characters (ECR's WILDCARD exclusion filters).
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

type cacheRule struct {
	Prefix                   string    `json:"ecrRepositoryPrefix"`
	UpstreamURL              string    `json:"upstreamRegistryUrl"`
	Upstream                 string    `json:"upstreamRegistry"`
	CredentialArn            string    `json:"credentialArn,omitempty"`
	UpstreamRepositoryPrefix string    `json:"upstreamRepositoryPrefix,omitempty"`
	CreatedAt                time.Time `json:"createdAt"`
	UpdatedAt                time.Time `json:"updatedAt"`
}

// upstreamHost is the rule's upstream registry host (the URL without a
// scheme).
func (c *cacheRule) upstreamHost() string {
	h := strings.TrimPrefix(strings.TrimPrefix(c.UpstreamURL, "https://"), "http://")
	return strings.TrimSuffix(h, "/")
}

// upstreamPath maps a cache repository name to the upstream repository.
func (c *cacheRule) upstreamPath(repo string) string {
	rest := strings.TrimPrefix(repo, c.Prefix+"/")
	if p := c.UpstreamRepositoryPrefix; p != "" && p != "ROOT" {
		return strings.TrimSuffix(p, "/") + "/" + rest
	}
	return rest
}

type creationTemplate struct {
	Prefix            string            `json:"prefix"`
	Description       string            `json:"description,omitempty"`
	Encryption        encryption        `json:"encryptionConfiguration"`
	ResourceTags      []tag             `json:"resourceTags,omitempty"`
	Mutability        string            `json:"imageTagMutability"`
	MutabilityFilters []exclusionFilter `json:"imageTagMutabilityExclusionFilters,omitempty"`
	RepositoryPolicy  string            `json:"repositoryPolicy,omitempty"`
	LifecyclePolicy   string            `json:"lifecyclePolicy,omitempty"`
	AppliedFor        []string          `json:"appliedFor"`
	CustomRoleArn     string            `json:"customRoleArn,omitempty"`
	CreatedAt         time.Time         `json:"createdAt"`
	UpdatedAt         time.Time         `json:"updatedAt"`
}

// matches reports whether the template's prefix covers repo; ROOT covers
// every repository.
func (t *creationTemplate) matches(repo string) bool {
	if t.Prefix == "ROOT" {
		return true
	}
	p := strings.TrimSuffix(t.Prefix, "/")
	return repo == p || strings.HasPrefix(repo, p+"/")
}

// ruleForLocked returns the pull-through rule whose prefix covers repo
// (the longest), or nil.
func (e *ECR) ruleForLocked(repo string) *cacheRule {
	var best *cacheRule
	for _, r := range e.st.Rules {
		if strings.HasPrefix(repo, r.Prefix+"/") && (best == nil || len(r.Prefix) > len(best.Prefix)) {
			best = r
		}
	}
	return best
}

// templateForLocked returns the creation template for a repository
// created the given way: the longest matching prefix, ROOT last.
func (e *ECR) templateForLocked(repo, appliedFor string) *creationTemplate {
	var best *creationTemplate
	for _, t := range e.st.Templates {
		if !slices.Contains(t.AppliedFor, appliedFor) || !t.matches(repo) {
			continue
		}
		switch {
		case best == nil, best.Prefix == "ROOT":
			best = t
		case t.Prefix != "ROOT" && len(t.Prefix) > len(best.Prefix):
			best = t
		}
	}
	return best
}

func (e *ECR) newRepository(name string) *repository {
	r := &repository{
		Name:       name,
		CreatedAt:  e.now(),
		Mutability: mutable,
		Encryption: encryption{EncryptionType: "AES256"},
	}
	r.initMaps()
	return r
}

// createFromTemplateLocked creates repo the way the cache or a push does.
// For a push a CREATE_ON_PUSH template is required; the cache creates the
// repository with or without one.
func (e *ECR) createFromTemplateLocked(name, createdBy string) (*repository, bool) {
	t := e.templateForLocked(name, createdBy)
	if t == nil && createdBy == createdByPush {
		return nil, false
	}
	r := e.newRepository(name)
	r.CreatedBy = createdBy
	if t != nil {
		r.Mutability = t.Mutability
		r.MutabilityFilters = slices.Clone(t.MutabilityFilters)
		if t.Encryption.EncryptionType != "" {
			r.Encryption = e.effectiveEncryption(t.Encryption)
		}
		r.Tags = slices.Clone(t.ResourceTags)
		r.LifecyclePolicy = t.LifecyclePolicy
	}
	e.st.Repositories[name] = r
	return r, true
}

// effectiveEncryption fills in the AWS managed key for KMS without a key.
func (e *ECR) effectiveEncryption(enc encryption) encryption {
	if enc.EncryptionType == "" {
		return encryption{EncryptionType: "AES256"}
	}
	if strings.HasPrefix(enc.EncryptionType, "KMS") && enc.KmsKey == "" {
		enc.KmsKey = fmt.Sprintf("arn:aws:kms:%s:%s:alias/aws/ecr", e.cfg.Region, e.cfg.Account)
	}
	return enc
}

func (e *ECR) repositoryArn(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", e.cfg.Region, e.cfg.Account, name)
}

// Validation, with ECR's patterns.
var (
	repoNameRE   = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	prefixRE     = regexp.MustCompile(`^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$`)
	imageTagRE   = wire.NewPattern(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE     = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	filterRE     = wire.NewPattern(`^[0-9a-zA-Z._*-]{1,128}$`)
	credentialRE = regexp.MustCompile(`^arn:aws:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+$`)
	registryIDRE = regexp.MustCompile(`^[0-9]{12}$`)
)

func isDigest(ref string) bool { return digestRE.MatchString(ref) }

func invalidParameter(format string, args ...any) error {
	return wire.Errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

func validRepoName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && repoNameRE.MatchString(name)
}

func checkRepoName(name string) error {
	if !validRepoName(name) {
		return invalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*' and be 2 to 256 characters long', got %q", name)
	}
	return nil
}

func checkTags(tags []tag) error {
	if len(tags) > 50 {
		return wire.Errorf(http.StatusBadRequest, "TooManyTagsException", "a resource takes at most 50 tags, got %d", len(tags))
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || strings.HasPrefix(t.Key, "aws:") {
			return wire.Errorf(http.StatusBadRequest, "InvalidTagParameterException", "tag %d (%q): a key is 1-128 characters, not starting with aws:, and a value at most 256", i, t.Key)
		}
		if seen[t.Key] {
			return wire.Errorf(http.StatusBadRequest, "InvalidTagParameterException", "tag key %q is given twice", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func checkMutability(m string, filters []exclusionFilter) error {
	switch m {
	case mutable, immutable:
		if len(filters) > 0 {
			return invalidParameter("imageTagMutabilityExclusionFilters are only valid with %s or %s, not %s", immutableWithExclusion, mutableWithExclusion, m)
		}
	case immutableWithExclusion, mutableWithExclusion:
		if len(filters) == 0 || len(filters) > 5 {
			return invalidParameter("%s needs 1 to 5 imageTagMutabilityExclusionFilters, got %d", m, len(filters))
		}
		for i, f := range filters {
			if f.FilterType != "WILDCARD" || !filterRE.MatchString(f.Filter) {
				return invalidParameter("imageTagMutabilityExclusionFilters[%d]: want filterType WILDCARD and a filter of [0-9a-zA-Z._*-], got %q %q", i, f.FilterType, f.Filter)
			}
		}
	default:
		return invalidParameter("imageTagMutability %q is not one of %s, %s, %s, %s", m, mutable, immutable, immutableWithExclusion, mutableWithExclusion)
	}
	return nil
}

func checkEncryption(enc encryption) error {
	switch enc.EncryptionType {
	case "AES256":
		if enc.KmsKey != "" {
			return invalidParameter("kmsKey can only be given with encryptionType KMS or KMS_DSSE")
		}
	case "KMS", "KMS_DSSE":
	default:
		return invalidParameter("encryptionType %q is not one of AES256, KMS, KMS_DSSE", enc.EncryptionType)
	}
	return nil
}

// checkLifecyclePolicy accepts a JSON document with a non-empty rules
// array, each rule with a rulePriority, a selection and an action.
func checkLifecyclePolicy(text string) error {
	if text == "" || len(text) > 30720 {
		return invalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length between 1 and 30720'")
	}
	var doc struct {
		Rules []struct {
			RulePriority *int            `json:"rulePriority"`
			Selection    *map[string]any `json:"selection"`
			Action       *map[string]any `json:"action"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return invalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: %v'", err)
	}
	if len(doc.Rules) == 0 {
		return invalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rules must be a non-empty array'")
	}
	for i, r := range doc.Rules {
		if r.RulePriority == nil || r.Selection == nil || r.Action == nil {
			return invalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rule %d needs rulePriority, selection and action'", i)
		}
	}
	return nil
}
