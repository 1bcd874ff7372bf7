package plan

import (
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/policy"
)

// Step is the plan for one image.
type Step struct {
	// Image is the reference as the task definition has it.
	Image string
	// Ref is Image parsed; zero when it does not parse.
	Ref   imageref.Ref
	Route Route
	// Target is the rewritten reference, "" unless Route is PullThrough or
	// Mirror. A digest of the source reference is always kept; a mirror's
	// digest is appended by the mirror engine once resolved when the
	// source has none.
	Target string
	// Reason explains the route in a sentence.
	Reason string
	// Rule names what decided: a policy rule ("images[2] (docker.io/bitnami/*)",
	// "deny[0] (...)", "typosquat", "default", "scope"), or without a
	// policy the pull-through rule as UPSTREAM=PREFIX ("docker.io=docker-hub").
	Rule string
	// Decision is the policy's; zero without a policy.
	Decision policy.Decision
}

// Reasons that do not depend on the image.
const (
	reasonInECR         = "already in ECR"
	reasonDigestWarm    = "; a pull-through cache cannot fill a first pull by digest: the preflight must warm the cache by tag first"
	reasonDigestOnly    = "; the reference has only a digest, which a pull-through cache cannot fill on a first pull: it works only if the cache already holds that digest"
	reasonMirrorDigest  = "the reference has only a digest, which a pull-through cache cannot fill on a first pull; "
	reasonNoRuleMirror  = "no pull-through rule for "
	reasonNotAllowlist  = " and the policy does not allowlist mirroring it ("
	reasonTooLong       = "the ECR repository name would be longer than 256 characters: "
	reasonUnparseable   = "not an image reference: "
	reasonOutOfScope    = "out of scope: "
	reasonPullThroughBy = "pull-through cache rule "
)

// For plans the route of image for the workload subj. With a policy, the
// checks run in this order, the first that applies deciding:
//
//   - an image that does not parse, or is already in ECR (the configured
//     registry or any private ECR host): None;
//   - a workload outside the policy's scope: None;
//   - the policy denies it (deny rule, typosquat, images rule): Deny;
//   - the policy says mirror: Mirror;
//   - otherwise (pull-through, or no rule): Mirror when the reference has
//     only a digest and mirroring is allowed (a cache cannot fill a first
//     pull by digest); PullThrough when a rule serves the image's
//     registry; Mirror when mirroring is allowed (fallback: mirror); None.
//
// Without a policy, the route is PullThrough where a rule serves the
// image's registry and None otherwise. For does not check cfg: call
// Validate once.
func For(cfg Config, image string, subj policy.Subject) Step {
	return route(cfg, image, subj, true)
}

// route is For; Decide passes scoped false because it checked the scope
// once for the whole event.
func route(cfg Config, image string, subj policy.Subject, scoped bool) Step {
	st := Step{Image: image, Route: None}
	ref, err := imageref.Parse(image)
	if err != nil {
		st.Reason = reasonUnparseable + err.Error()
		return st
	}
	st.Ref = ref
	registry := cfg.registry()
	if ref.Kind == imageref.ECRPrivate || ref.Registry == registry {
		st.Reason = reasonInECR
		return st
	}
	rule, hasRule := cfg.rule(ref.Registry)
	if cfg.Policy == nil {
		if !hasRule {
			st.Reason = reasonNoRuleMirror + ref.Registry
			return st
		}
		st = pullThrough(st, registry, rule)
		if st.Route == PullThrough {
			// The rule as a --pull-through flag writes it, taken from the
			// reason to save an allocation.
			st.Rule = st.Reason[len(reasonPullThroughBy) : len(reasonPullThroughBy)+len(rule.Upstream)+1+len(rule.Prefix)]
		}
		return st
	}
	if why, out := outOfScope(cfg, subj); scoped && out {
		st.Rule = "scope"
		st.Reason = reasonOutOfScope + why
		return st
	}
	d := cfg.Policy.Decide(ref, subj)
	st.Decision, st.Rule = d, d.Rule
	switch {
	case d.Action == policy.ActionDeny:
		st.Route, st.Reason = Deny, d.Reason
		return st
	case d.Action == policy.ActionMirror:
		return mirror(st, registry, cfg.mirrorPrefix(), d.Reason)
	case ref.Tag == "" && d.MirrorAllowed:
		return mirror(st, registry, cfg.mirrorPrefix(), reasonMirrorDigest+d.Reason)
	case hasRule:
		return pullThrough(st, registry, rule)
	case d.MirrorAllowed:
		return mirror(st, registry, cfg.mirrorPrefix(), reasonNoRuleMirror+ref.Registry+"; "+d.Reason)
	}
	st.Reason = reasonNoRuleMirror + ref.Registry + reasonNotAllowlist + d.Rule + ")"
	return st
}

// pullThrough routes st through rule: REGISTRY/PREFIX/REPOSITORY[:TAG][@DIGEST].
// Docker Hub official images keep library/, as ECR's cache names them.
func pullThrough(st Step, registry string, rule PullThroughRule) Step {
	repo := rule.Prefix + "/" + st.Ref.Repository
	if len(repo) > maxRepositoryName {
		st.Reason = reasonTooLong + repo
		return st
	}
	st.Route = PullThrough
	st.Target = retarget(st.Ref, registry, repo)
	st.Reason = reasonPullThroughBy + rule.Upstream + "=" + rule.Prefix
	switch {
	case st.Ref.Tag == "":
		st.Reason += reasonDigestOnly
	case st.Ref.Digest != "":
		st.Reason += reasonDigestWarm
	}
	return st
}

// mirror routes st to REGISTRY/PREFIX/PATH[:TAG][@DIGEST]. PATH is the
// repository for Docker Hub images (library/nginx, bitnami/redis) and
// HOST/REPOSITORY for the others (quay.io/prometheus/node-exporter, a port
// written HOST-PORT), so that two registries' images of the same path never
// share a repository.
func mirror(st Step, registry, prefix, reason string) Step {
	host := ""
	if st.Ref.Kind != imageref.DockerHub {
		host = strings.ReplaceAll(st.Ref.Registry, ":", "-") + "/"
	}
	repo := prefix + "/" + host + st.Ref.Repository
	if len(repo) > maxRepositoryName {
		st.Reason = reasonTooLong + repo
		return st
	}
	st.Route = Mirror
	st.Target = retarget(st.Ref, registry, repo)
	st.Reason = reason
	return st
}

// retarget returns ref moved to registry/repository, tag and digest kept.
func retarget(ref imageref.Ref, registry, repository string) string {
	ref.Registry, ref.Repository = registry, repository
	return ref.String()
}
