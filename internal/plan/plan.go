// Package plan is pullheal's decision. Decide (decide.go) says what happens
// to one ECS event: heal, ignore, skip or refuse, why, which containers the
// heal covers, and which checks it could not make because an input was not
// read. For (route.go) chooses the route of one image, the way docs/policy.md's
// route table says: through an ECR pull-through cache rule,
// mirrored into ECR by pullheal, denied, or left alone; and the reference it
// is rewritten to.
//
// It does no I/O. The agent reads the inputs from AWS and executes the plan;
// pullheal explain and rewrite print it. docs/decision.md tells the whole
// story.
package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/policy"
)

// Route is how an image reaches ECR.
type Route string

// Routes.
const (
	// PullThrough rewrites the image to its ECR pull-through cache path.
	PullThrough Route = "pull-through"
	// Mirror rewrites the image to a repository pullheal copies it into.
	Mirror Route = "mirror"
	// Deny leaves the image as it is because the policy forbids moving it.
	Deny Route = "deny"
	// None leaves the image as it is: already in ECR, out of scope, no way
	// to move it, or not an image reference.
	None Route = "none"
)

// DefaultMirrorPrefix is the mirror prefix when neither the Config nor the
// policy sets one.
const DefaultMirrorPrefix = "mirror"

// maxRepositoryName is ECR's limit on a repository name.
const maxRepositoryName = 256

// PullThroughRule maps an upstream registry (canonical host, as
// imageref.CanonicalHost gives it: docker.io, quay.io, ghcr.io,
// registry.k8s.io, public.ecr.aws, ...) to the ECR repository prefix of its
// pull-through cache rule. It is the policy's type, so that declared and
// discovered rules are one list.
type PullThroughRule = policy.PullThroughRule

// ParsePullThrough parses a --pull-through flag, UPSTREAM=PREFIX. UPSTREAM
// is a host (docker.io, registry-1.docker.io, quay.io, ...) or an ECR
// upstreamRegistry name (docker-hub, quay, github-container-registry, k8s,
// ecr-public, gitlab-container-registry, chainguard); see
// policy.ParseUpstream. A trailing '/' on PREFIX is dropped, as ECR does.
func ParsePullThrough(s string) (PullThroughRule, error) {
	up, prefix, ok := strings.Cut(s, "=")
	if !ok {
		return PullThroughRule{}, fmt.Errorf("pull-through rule %q: want UPSTREAM=PREFIX, e.g. docker.io=docker-hub", s)
	}
	host, err := policy.ParseUpstream(strings.TrimSpace(up))
	if err != nil {
		return PullThroughRule{}, fmt.Errorf("pull-through rule %q: %w", s, err)
	}
	prefix = strings.TrimSuffix(strings.TrimSpace(prefix), "/")
	if err := policy.CheckPrefix(prefix); err != nil {
		return PullThroughRule{}, fmt.Errorf("pull-through rule %q: %w", s, err)
	}
	return PullThroughRule{Upstream: host, Prefix: prefix}, nil
}

// UpstreamHostForURL maps the upstreamRegistryUrl of a rule
// DescribePullThroughCacheRules returns (registry-1.docker.io,
// public.ecr.aws, quay.io, ...) to the canonical host images name, so that
// docker.io/library/nginx finds the rule for registry-1.docker.io. A scheme
// or path, should one appear, is dropped. It returns "" for "".
func UpstreamHostForURL(upstreamRegistryURL string) string {
	u := strings.TrimSpace(upstreamRegistryURL)
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	if u == "" {
		return ""
	}
	return imageref.CanonicalHost(u)
}

// Config is what a route depends on.
type Config struct {
	// Registry is the ECR registry images are healed into, e.g.
	// 123456789012.dkr.ecr.us-east-1.amazonaws.com (127.0.0.1:5000 in the
	// local test bed). "" takes the policy's.
	Registry string
	// PullThrough are the rules from flags or from
	// DescribePullThroughCacheRules. A policy's declared rules are added
	// after them; for one upstream, the first rule wins.
	PullThrough []PullThroughRule
	// Policy is the loaded policy; nil means none: pull-through where a
	// rule serves the image's registry, nothing else.
	Policy *policy.Policy
	// MirrorPrefix is the prefix of mirrored repositories. "" takes the
	// policy's, and DefaultMirrorPrefix when the policy has none.
	MirrorPrefix string
}

// registry returns the registry For uses, lower-case as image references
// have it.
func (c *Config) registry() string {
	r := c.Registry
	if r == "" && c.Policy != nil {
		r = c.Policy.Registry
	}
	if r == "" {
		return ""
	}
	return imageref.CanonicalHost(r)
}

// mirrorPrefix returns the mirror prefix For uses.
func (c *Config) mirrorPrefix() string {
	switch {
	case c.MirrorPrefix != "":
		return c.MirrorPrefix
	case c.Policy != nil && c.Policy.Mirror.Prefix != "":
		return c.Policy.Mirror.Prefix
	}
	return DefaultMirrorPrefix
}

// rule returns the pull-through rule for host.
func (c *Config) rule(host string) (PullThroughRule, bool) {
	for _, r := range c.PullThrough {
		if r.Upstream == host {
			return r, true
		}
	}
	if c.Policy != nil && c.Policy.PullThrough.Source == policy.PullThroughDeclared {
		for _, r := range c.Policy.PullThrough.Rules {
			if r.Upstream == host {
				return r, true
			}
		}
	}
	return PullThroughRule{}, false
}

// Validate reports every problem of the Config, one a line.
func (c Config) Validate() error {
	var errs []error
	reg := c.registry()
	switch {
	case reg == "" && c.Policy != nil:
		errs = append(errs, errors.New("registry: none given, and the policy says discover: resolve the account's registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com) and set it"))
	case reg == "":
		errs = append(errs, errors.New("registry: none given (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"))
	default:
		if err := policy.CheckRegistry(reg); err != nil {
			errs = append(errs, fmt.Errorf("registry: %w", err))
		}
	}
	seen := map[string]bool{}
	for i, r := range c.PullThrough {
		switch {
		case r.Upstream == "" || r.Upstream != imageref.CanonicalHost(r.Upstream):
			errs = append(errs, fmt.Errorf("pull-through rule %d: upstream %q is not a canonical host (use ParsePullThrough or UpstreamHostForURL)", i, r.Upstream))
		case seen[r.Upstream]:
			errs = append(errs, fmt.Errorf("pull-through rule %d: a second rule for %s", i, r.Upstream))
		}
		seen[r.Upstream] = true
		if err := policy.CheckPrefix(r.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("pull-through rule %d (%s): %w", i, r.Upstream, err))
		}
	}
	mp := c.mirrorPrefix()
	if err := policy.CheckMirrorPrefix(mp); err != nil {
		errs = append(errs, fmt.Errorf("mirror prefix: %w", err))
	}
	rules := c.PullThrough
	if c.Policy != nil && c.Policy.PullThrough.Source == policy.PullThroughDeclared {
		rules = append(rules[:len(rules):len(rules)], c.Policy.PullThrough.Rules...)
	}
	for _, r := range rules {
		if policy.PrefixesOverlap(mp, r.Prefix) {
			errs = append(errs, fmt.Errorf("mirror prefix %q overlaps the pull-through prefix %q of %s; mirrored images need their own prefix", mp, r.Prefix, r.Upstream))
		}
	}
	return errors.Join(errs...)
}
