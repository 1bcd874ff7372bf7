// Package policy is the policy file with which a platform team tells pullheal
// what it may do: the ECR registry to heal into, the pull-through cache rules
// to use, which images may be mirrored and how their repositories are set up,
// which images are denied, which names are protected from typosquats, and
// which clusters, services and task-definition families are in scope.
//
// A policy is YAML (see schema.json and examples/). Load and Parse check the
// whole file and report every problem at once, each as FILE:LINE:COL, so a
// platform team fixes a policy in one pass. Decide answers, for one image,
// what the policy says; InScope answers whether pullheal may touch a
// workload at all. The route an image takes (pull-through, mirror, deny,
// none) is decided by package plan from these answers.
//
// Defaults, when the file says nothing: the registry and the pull-through
// rules are discovered from the account; nothing is mirrored unless an images
// rule allowlists it; pull-through is allowed unless a deny rule, a typosquat
// or an images rule says otherwise; typosquat protection is on with the
// built-in list of protected names; every workload is in scope; only the
// containers whose pull failed are rewritten; services are updated.
package policy

import (
	"github.com/Masterminds/semver/v3"
)

// Version is the only policy format version this package reads.
const Version = 1

// Policy is a loaded, validated policy file. The zero value is not useful;
// use Load or Parse. A Policy is read-only after loading and safe for
// concurrent use.
type Policy struct {
	// File is the path the policy was read from, for messages.
	File string
	// Version is the format version (1).
	Version int
	// Registry is the ECR registry host images are healed into. "" means
	// discover it from the caller's account and region (registry: discover).
	Registry string
	// PullThrough says where pull-through cache rules come from.
	PullThrough PullThrough
	// Mirror holds the defaults for images pullheal copies into ECR itself.
	Mirror Mirror
	// Images are the per-image rules, in file order; the first match wins.
	Images []ImageRule
	// Deny are the deny rules, checked before anything else.
	Deny []DenyRule
	// Typosquat is the typosquat protection.
	Typosquat Typosquat
	// Scope limits the workloads pullheal touches.
	Scope Scope
	// Heal says what a heal changes.
	Heal Heal
	// RateLimited are registry hosts, besides Docker Hub, whose pulls a
	// rate limit counts (canonical hosts): scan reports images from them
	// as exposed, as it does Docker Hub's.
	RateLimited []string
}

// PullThroughSource says where the pull-through cache rules come from.
type PullThroughSource string

// Pull-through rule sources.
const (
	// PullThroughDiscover reads the rules from ECR with
	// DescribePullThroughCacheRules. The default when no rules are declared.
	PullThroughDiscover PullThroughSource = "discover"
	// PullThroughDeclared uses the rules listed in the policy only; an empty
	// list means no pull-through at all.
	PullThroughDeclared PullThroughSource = "declared"
)

// PullThrough is the pull-through section of a policy.
type PullThrough struct {
	Source PullThroughSource
	// Rules are the declared rules; empty unless Source is declared.
	Rules []PullThroughRule
}

// PullThroughRule maps an upstream registry to the ECR repository prefix of
// its pull-through cache rule.
type PullThroughRule struct {
	// Upstream is the canonical upstream host (imageref.CanonicalHost):
	// docker.io, quay.io, ghcr.io, registry.k8s.io, public.ecr.aws, ...
	Upstream string
	// Prefix is the ECR repository prefix (ecrRepositoryPrefix), e.g. docker-hub.
	Prefix string
}

// Mirror is the mirror section of a policy.
type Mirror struct {
	// Prefix is the ECR repository prefix mirrored images go under; "" lets
	// the caller choose (package plan uses "mirror").
	Prefix string
	// Repository holds the settings of repositories pullheal creates for
	// mirrored images; images rules may override them field by field.
	Repository RepositorySettings
}

// RepositorySettings are the settings of an ECR repository pullheal creates.
// Loaded settings always have TagMutability and Encryption.Type filled in
// (ECR's own defaults, MUTABLE and AES256, when the file says nothing).
type RepositorySettings struct {
	ScanOnPush    bool
	TagMutability string // MUTABLE or IMMUTABLE
	Encryption    Encryption
	// Tags are the resource tags of the repository. Shared; do not modify.
	Tags map[string]string
	// LifecyclePolicy is the ECR lifecycle policy JSON text, read from the
	// file named by lifecyclePolicyFile when that was used; "" for none.
	LifecyclePolicy string
}

// Encryption is the encryption configuration of a repository.
type Encryption struct {
	Type   string // AES256, KMS or KMS_DSSE
	KMSKey string // KMS key ARN, id or alias; "" means the AWS managed key
}

// Action is what the policy says about an image.
type Action string

// Actions.
const (
	// ActionPullThrough: pull the image through an ECR pull-through cache rule.
	ActionPullThrough Action = "pull-through"
	// ActionMirror: copy the image into ECR (allowlisted for mirroring).
	ActionMirror Action = "mirror"
	// ActionDeny: leave the image alone and say why.
	ActionDeny Action = "deny"
	// ActionDefault: no rule matched. Pull-through is allowed, mirroring is not.
	ActionDefault Action = ""
)

// ImageRule is one entry of the images list.
type ImageRule struct {
	// Match are the normalised name patterns (docker.io/library/nginx,
	// docker.io/bitnami/*, quay.io/**).
	Match []string
	// Tags selects the tags the rule applies to; empty selects every tag.
	Tags   TagSelector
	Action Action
	// MirrorFallback allows mirroring a pull-through image when no
	// pull-through rule serves its registry (fallback: mirror).
	MirrorFallback bool
	// Platforms limits a mirror to these platforms (os/arch[/variant]);
	// empty means all platforms.
	Platforms []string
	// PinDigest rewrites mirrored references to their digest.
	PinDigest bool
	// Customize are the customisation lines (see ParseCustomization).
	Customize []string
	// Repository are the effective settings for repositories this rule
	// mirrors into: the mirror section's, overridden by the rule's own.
	Repository RepositorySettings
	// Reason explains the rule; it is the Decision's reason.
	Reason string
	// Scope limits the workloads the rule applies to.
	Scope Scope

	patterns []namePattern
}

// DenyRule is one entry of the deny list.
type DenyRule struct {
	Match  []string
	Tags   TagSelector
	Reason string
	Scope  Scope

	patterns []namePattern
}

// TagSelector selects tags by exact value, glob or semantic-version range. A
// tag is selected when any of them selects it. A selector with nothing set
// selects every reference, digest-only ones included. A selector with
// anything set cannot tell what a digest-only reference is: an images rule
// selects one only when Digests is set, and a deny rule always denies one
// (what cannot be proven outside a deny rule is inside it).
type TagSelector struct {
	Exact  []string
	Glob   []string // path.Match syntax: *, ?, [a-z]
	Semver string   // Masterminds/semver constraint, e.g. ">=1.25, <2"
	// Digests lets an images rule select digest-only references too
	// (tags: {digests: true}); it has no effect on deny rules.
	Digests bool

	constraint *semver.Constraints
}

// Typosquat is the typosquat protection. A repository whose name is within
// MaxDistance edits of a protected name, without being equal to it, is
// denied.
type Typosquat struct {
	Enabled bool
	// Defaults includes DefaultProtected and DefaultProtectedNamespaces.
	Defaults bool
	// MaxDistance is the largest Levenshtein distance that counts as a
	// likely typosquat (default 2).
	MaxDistance int
	// Protected are normalised repository names (docker.io/library/nginx).
	Protected []string
	// ProtectedNamespaces are normalised namespaces (docker.io/bitnami):
	// every repository under them is trusted, near-misses are not.
	ProtectedNamespaces []string
	// Allow are normalised names never reported as typosquats.
	Allow []string

	protected  []protectedName      // compared against
	namespaces []protectedName      // compared against, first path component
	exempt     map[nameKey]struct{} // never reported: protected, allowed, official
	trusted    map[nameKey]struct{} // protected namespaces: host and namespace
}

// Scope limits the workloads pullheal touches. Every filter must let the
// subject through.
type Scope struct {
	Clusters Filter
	Services Filter
	Families Filter
}

// Filter is an include/exclude pair of globs (path.Match syntax). A value
// passes when Include is empty or one of its globs matches, and no Exclude
// glob matches.
type Filter struct {
	Include []string
	Exclude []string
}

// Heal says what a heal changes.
type Heal struct {
	Containers    ContainerSelection
	ServiceUpdate UpdateMode
}

// ContainerSelection says which containers of a task definition a heal
// rewrites.
type ContainerSelection string

// Container selections.
const (
	// ContainersFailed rewrites only the containers whose pull failed (default).
	ContainersFailed ContainerSelection = "failed"
	// ContainersAllDockerHub rewrites every container whose image is on
	// Docker Hub, so the next pull of a sibling does not fail too.
	ContainersAllDockerHub ContainerSelection = "all-docker-hub"
)

// UpdateMode says what happens to a service once its corrected revision is
// registered.
type UpdateMode string

// Update modes.
const (
	// UpdateService rolls the service onto the new revision (default).
	UpdateService UpdateMode = "update"
	// ProposeOnly registers the revision and publishes the review event, and
	// leaves the service as it is.
	ProposeOnly UpdateMode = "propose"
)

// Subject is the workload an image belongs to: names, not ARNs. Service is
// "" for tasks that no service started.
type Subject struct {
	Cluster, Service, Family string
}

// Decision is what the policy says about one image.
type Decision struct {
	Action Action
	// Rule names the rule that decided: "deny[0] (docker.io/library/ubuntu)",
	// "typosquat", "images[2] (docker.io/bitnami/*)" or "default".
	Rule string
	// Reason explains the decision in a sentence for the review event.
	Reason string
	// MirrorAllowed reports whether the image may be mirrored: always for
	// ActionMirror, for ActionPullThrough only with fallback: mirror.
	MirrorAllowed bool
	// Platforms, PinDigest, Customize and Repository apply when the image is
	// mirrored. The slices and maps are shared with the policy: do not modify.
	Platforms  []string
	PinDigest  bool
	Customize  []string
	Repository RepositorySettings
	// VerifyTag is set when the reference carries both a tag and a digest
	// and the decision rests on the tag (a tag-restricted rule selected it,
	// or a tag-restricted deny rule let it pass because of its tag). The
	// digest is what gets pulled, and nothing offline proves that it is the
	// tag's: whoever acts on the decision must first check that the
	// upstream tag resolves to the digest (a HEAD, no counted pull), and
	// treat the image as denied when it does not or cannot tell.
	VerifyTag bool
}
