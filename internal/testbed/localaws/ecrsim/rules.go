package ecrsim

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// How an upstream registry takes credentials.
const (
	credsRequired = iota
	credsOptional
	credsNone
	credsUnsupported // needs IAM (ECR to ECR)
)

// upstreamKinds are ECR's supported upstream registries and the URL each
// accepts.
type upstreamKind struct {
	kind  string
	host  *regexp.Regexp
	creds int
}

var upstreamKinds = []upstreamKind{
	{"docker-hub", regexp.MustCompile(`^registry-1\.docker\.io$`), credsRequired},
	{"ecr-public", regexp.MustCompile(`^public\.ecr\.aws$`), credsNone},
	{"quay", regexp.MustCompile(`^quay\.io$`), credsOptional},
	{"k8s", regexp.MustCompile(`^registry\.k8s\.io$`), credsNone},
	{"github-container-registry", regexp.MustCompile(`^ghcr\.io$`), credsRequired},
	{"gitlab-container-registry", regexp.MustCompile(`^registry\.gitlab\.com$`), credsRequired},
	{"azure-container-registry", regexp.MustCompile(`^[a-z0-9]+\.azurecr\.io$`), credsRequired},
	{"chainguard", regexp.MustCompile(`^cgr\.dev$`), credsOptional},
	{"ecr", regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$`), credsUnsupported},
}

type ruleOut struct {
	EcrRepositoryPrefix      string   `json:"ecrRepositoryPrefix"`
	UpstreamRegistryUrl      string   `json:"upstreamRegistryUrl"`
	CreatedAt                float64  `json:"createdAt"`
	RegistryId               string   `json:"registryId"`
	CredentialArn            string   `json:"credentialArn,omitempty"`
	UpstreamRegistry         string   `json:"upstreamRegistry,omitempty"`
	UpstreamRepositoryPrefix string   `json:"upstreamRepositoryPrefix,omitempty"`
	UpdatedAt                *float64 `json:"updatedAt,omitempty"`
}

func (e *ECR) ruleOut(r *cacheRule, withUpdated bool) ruleOut {
	out := ruleOut{
		EcrRepositoryPrefix:      r.Prefix,
		UpstreamRegistryUrl:      r.UpstreamURL,
		CreatedAt:                wire.Epoch(r.CreatedAt),
		RegistryId:               e.cfg.Account,
		CredentialArn:            r.CredentialArn,
		UpstreamRegistry:         r.Upstream,
		UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix,
	}
	if withUpdated {
		u := wire.Epoch(r.UpdatedAt)
		out.UpdatedAt = &u
	}
	return out
}

func (e *ECR) ruleNotFound(prefix string) error {
	return wire.Errorf(http.StatusBadRequest, "PullThroughCacheRuleNotFoundException",
		"The pull through cache rule with the prefix '%s' does not exist in the registry with id '%s'", prefix, e.cfg.Account)
}

type createRuleInput struct {
	EcrRepositoryPrefix      string
	UpstreamRegistryUrl      string
	RegistryId               string
	UpstreamRegistry         string
	CredentialArn            string
	CustomRoleArn            string
	UpstreamRepositoryPrefix string
}

// checkRule validates a rule as ECR does and fills in upstreamRegistry.
func (e *ECR) checkRule(in *createRuleInput) error {
	p := in.EcrRepositoryPrefix
	if len(p) < 2 || len(p) > 30 || !prefixRE.MatchString(p) || p == "ROOT" {
		return invalidParameter("Invalid parameter at 'ecrRepositoryPrefix' failed to satisfy constraint: 'must be 2 to 30 characters of lowercase letters, digits and ._-/ separators', got %q", p)
	}
	in.EcrRepositoryPrefix = strings.TrimSuffix(p, "/")
	if in.UpstreamRegistryUrl == "" {
		return invalidParameter("upstreamRegistryUrl is required")
	}
	host := (&cacheRule{UpstreamURL: in.UpstreamRegistryUrl}).upstreamHost()
	i := slices.IndexFunc(upstreamKinds, func(k upstreamKind) bool { return k.host.MatchString(host) })
	if i < 0 {
		return wire.Errorf(http.StatusBadRequest, "UnsupportedUpstreamRegistryException",
			"The specified upstream registry %s is not supported; ECR supports registry-1.docker.io, public.ecr.aws, quay.io, registry.k8s.io, ghcr.io, registry.gitlab.com, *.azurecr.io, cgr.dev and ECR", in.UpstreamRegistryUrl)
	}
	k := upstreamKinds[i]
	if in.UpstreamRegistry != "" && in.UpstreamRegistry != k.kind {
		return invalidParameter("upstreamRegistry %q does not match upstreamRegistryUrl %s (a %s registry)", in.UpstreamRegistry, in.UpstreamRegistryUrl, k.kind)
	}
	in.UpstreamRegistry = k.kind
	if in.CustomRoleArn != "" || in.UpstreamRepositoryPrefix != "" || k.creds == credsUnsupported {
		if k.creds == credsUnsupported {
			return wire.Errorf(http.StatusBadRequest, "UnsupportedUpstreamRegistryException",
				"ECR-to-ECR pull through cache rules need IAM role assumption, which the test bed does not simulate")
		}
		return invalidParameter("customRoleArn and upstreamRepositoryPrefix apply to ECR upstream registries only")
	}
	switch {
	case in.CredentialArn == "" && k.creds == credsRequired:
		return invalidParameter("upstream registry %s requires a credentialArn (a Secrets Manager secret named ecr-pullthroughcache/...)", k.kind)
	case in.CredentialArn != "" && k.creds == credsNone:
		return invalidParameter("upstream registry %s does not take credentials; remove credentialArn", k.kind)
	case in.CredentialArn != "" && !credentialRE.MatchString(in.CredentialArn):
		return invalidParameter("Invalid parameter at 'credentialArn': %q is not the ARN of a Secrets Manager secret whose name starts with ecr-pullthroughcache/", in.CredentialArn)
	}
	if in.CredentialArn != "" {
		if e.cfg.Secrets == nil {
			return wire.Errorf(http.StatusBadRequest, "UnableToAccessSecretException", "the test bed has no Secrets Manager to read %s from", in.CredentialArn)
		}
		if _, err := e.cfg.Secrets.SecretString(in.CredentialArn); err != nil {
			return wire.Errorf(http.StatusBadRequest, "SecretNotFoundException", "The ARN of the secret specified in the pull through cache rule was not found: %s", in.CredentialArn)
		}
	}
	return nil
}

func (e *ECR) createPullThroughCacheRule(_ context.Context, body []byte) (any, error) {
	var in createRuleInput
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := e.checkOwnRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if err := e.checkRule(&in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.st.Rules[in.EcrRepositoryPrefix]; ok {
		return nil, wire.Errorf(http.StatusBadRequest, "PullThroughCacheRuleAlreadyExistsException",
			"A pull through cache rule with the prefix '%s' already exists in the registry with id '%s'", in.EcrRepositoryPrefix, e.cfg.Account)
	}
	now := e.now()
	r := &cacheRule{
		Prefix:        in.EcrRepositoryPrefix,
		UpstreamURL:   in.UpstreamRegistryUrl,
		Upstream:      in.UpstreamRegistry,
		CredentialArn: in.CredentialArn,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	e.st.Rules[r.Prefix] = r
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return e.ruleOut(r, false), nil
}

func (e *ECR) describePullThroughCacheRules(_ context.Context, body []byte) (any, error) {
	var in struct {
		RegistryId            string
		EcrRepositoryPrefixes []string
		NextToken             string
		MaxResults            *int32
	}
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := e.checkOwnRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	prefixes, err := requested(e.st.Rules, in.EcrRepositoryPrefixes, e.ruleNotFound)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(prefixes, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	rules := make([]ruleOut, 0, len(page))
	for _, p := range page {
		rules = append(rules, e.ruleOut(e.st.Rules[p], true))
	}
	res := map[string]any{"pullThroughCacheRules": rules}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

func (e *ECR) deletePullThroughCacheRule(_ context.Context, body []byte) (any, error) {
	var in struct{ EcrRepositoryPrefix, RegistryId string }
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := e.checkOwnRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.st.Rules[in.EcrRepositoryPrefix]
	if !ok {
		return nil, e.ruleNotFound(in.EcrRepositoryPrefix)
	}
	delete(e.st.Rules, r.Prefix)
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	// DeletePullThroughCacheRuleResponse, unlike the rule itself, has no
	// upstreamRegistry member.
	out := e.ruleOut(r, false)
	out.UpstreamRegistry = ""
	return out, nil
}

func (e *ECR) validatePullThroughCacheRule(ctx context.Context, body []byte) (any, error) {
	var in struct{ EcrRepositoryPrefix, RegistryId string }
	if err := e.decode(body, &in, func() string { return in.RegistryId }); err != nil {
		return nil, err
	}
	if err := e.checkOwnRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	e.mu.Lock()
	r, ok := e.st.Rules[in.EcrRepositoryPrefix]
	var rule cacheRule
	if ok {
		rule = *r
	}
	e.mu.Unlock()
	if !ok {
		return nil, e.ruleNotFound(in.EcrRepositoryPrefix)
	}
	out := map[string]any{
		"ecrRepositoryPrefix": rule.Prefix,
		"registryId":          e.cfg.Account,
		"upstreamRegistryUrl": rule.UpstreamURL,
		"isValid":             true,
	}
	if rule.CredentialArn != "" {
		out["credentialArn"] = rule.CredentialArn
	}
	if err := e.checkUpstream(ctx, rule); err != nil {
		out["isValid"] = false
		out["failure"] = err.Error()
	}
	return out, nil
}

// --- repository creation templates

var appliedForValues = []string{appliedForReplica, createdByCache, createdByPush}

type templateIn struct {
	Prefix                             string
	Description                        string
	EncryptionConfiguration            *encryption
	ResourceTags                       []tag
	ImageTagMutability                 string
	ImageTagMutabilityExclusionFilters []exclusionFilter
	RepositoryPolicy                   string
	LifecyclePolicy                    string
	AppliedFor                         []string
	CustomRoleArn                      string
}

type templateOut struct {
	Prefix                             string            `json:"prefix"`
	Description                        string            `json:"description,omitempty"`
	EncryptionConfiguration            encryption        `json:"encryptionConfiguration"`
	ResourceTags                       []tag             `json:"resourceTags,omitempty"`
	ImageTagMutability                 string            `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []exclusionFilter `json:"imageTagMutabilityExclusionFilters,omitempty"`
	RepositoryPolicy                   string            `json:"repositoryPolicy,omitempty"`
	LifecyclePolicy                    string            `json:"lifecyclePolicy,omitempty"`
	AppliedFor                         []string          `json:"appliedFor"`
	CustomRoleArn                      string            `json:"customRoleArn,omitempty"`
	CreatedAt                          float64           `json:"createdAt"`
	UpdatedAt                          float64           `json:"updatedAt"`
}

func templateOutOf(t *creationTemplate) templateOut {
	return templateOut{
		Prefix:                             t.Prefix,
		Description:                        t.Description,
		EncryptionConfiguration:            t.Encryption,
		ResourceTags:                       t.ResourceTags,
		ImageTagMutability:                 t.Mutability,
		ImageTagMutabilityExclusionFilters: t.MutabilityFilters,
		RepositoryPolicy:                   t.RepositoryPolicy,
		LifecyclePolicy:                    t.LifecyclePolicy,
		AppliedFor:                         t.AppliedFor,
		CustomRoleArn:                      t.CustomRoleArn,
		CreatedAt:                          wire.Epoch(t.CreatedAt),
		UpdatedAt:                          wire.Epoch(t.UpdatedAt),
	}
}

func (e *ECR) templateNotFound(prefix string) error {
	return wire.Errorf(http.StatusBadRequest, "TemplateNotFoundException",
		"The repository creation template with prefix '%s' does not exist in the registry with id '%s'", prefix, e.cfg.Account)
}

func (e *ECR) createRepositoryCreationTemplate(_ context.Context, body []byte) (any, error) {
	var in templateIn
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	if in.Prefix == "" || len(in.Prefix) > 256 || !prefixRE.MatchString(in.Prefix) {
		return nil, invalidParameter("Invalid parameter at 'prefix': %q is not ROOT or a repository name prefix", in.Prefix)
	}
	if len(in.AppliedFor) == 0 {
		return nil, invalidParameter("appliedFor must list at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH")
	}
	for i, a := range in.AppliedFor {
		if !slices.Contains(appliedForValues, a) || slices.Contains(in.AppliedFor[:i], a) {
			return nil, invalidParameter("appliedFor[%d] %q is not one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH, or is repeated", i, a)
		}
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
		enc = *in.EncryptionConfiguration
	}
	if err := checkTags(in.ResourceTags); err != nil {
		return nil, err
	}
	if in.LifecyclePolicy != "" {
		if err := checkLifecyclePolicy(in.LifecyclePolicy); err != nil {
			return nil, err
		}
	}
	if in.RepositoryPolicy != "" && !json.Valid([]byte(in.RepositoryPolicy)) {
		return nil, invalidParameter("Invalid parameter at 'repositoryPolicy': the policy is not JSON")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.st.Templates[in.Prefix]; ok {
		return nil, wire.Errorf(http.StatusBadRequest, "TemplateAlreadyExistsException",
			"The repository creation template with prefix '%s' already exists in the registry with id '%s'", in.Prefix, e.cfg.Account)
	}
	now := e.now()
	t := &creationTemplate{
		Prefix:            in.Prefix,
		Description:       in.Description,
		Encryption:        enc,
		ResourceTags:      in.ResourceTags,
		Mutability:        in.ImageTagMutability,
		MutabilityFilters: in.ImageTagMutabilityExclusionFilters,
		RepositoryPolicy:  in.RepositoryPolicy,
		LifecyclePolicy:   in.LifecyclePolicy,
		AppliedFor:        in.AppliedFor,
		CustomRoleArn:     in.CustomRoleArn,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	e.st.Templates[t.Prefix] = t
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": e.cfg.Account, "repositoryCreationTemplate": templateOutOf(t)}, nil
}

func (e *ECR) describeRepositoryCreationTemplates(_ context.Context, body []byte) (any, error) {
	var in struct {
		Prefixes   []string
		NextToken  string
		MaxResults *int32
	}
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	prefixes, err := requested(e.st.Templates, in.Prefixes, e.templateNotFound)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(prefixes, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := make([]templateOut, 0, len(page))
	for _, p := range page {
		out = append(out, templateOutOf(e.st.Templates[p]))
	}
	res := map[string]any{"registryId": e.cfg.Account, "repositoryCreationTemplates": out}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

func (e *ECR) deleteRepositoryCreationTemplate(_ context.Context, body []byte) (any, error) {
	var in struct{ Prefix string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.st.Templates[in.Prefix]
	if !ok {
		return nil, e.templateNotFound(in.Prefix)
	}
	delete(e.st.Templates, in.Prefix)
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": e.cfg.Account, "repositoryCreationTemplate": templateOutOf(t)}, nil
}

// requested returns the keys a Describe* request names, each of which must
// be in m (notFound makes the error for one that is not), or all of m's
// keys in order when it names none.
func requested[V any](m map[string]V, names []string, notFound func(string) error) ([]string, error) {
	if len(names) == 0 {
		return slices.Sorted(maps.Keys(m)), nil
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return nil, notFound(n)
		}
	}
	return names, nil
}
