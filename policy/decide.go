package policy

import (
	"github.com/pullheal/pullheal/internal/imageref"
)

// reasonDefault is the reason of a decision no rule made.
const reasonDefault = "no rule matches: pull-through is allowed, mirroring is not allowlisted"

// reasonDigestOnlyDeny ends the reason of a tag-restricted deny that a
// digest-only reference falls under.
const reasonDigestOnlyDeny = " (a digest-only reference cannot be proven outside the rule's tags)"

// Decide says what the policy makes of ref for a workload. The checks run
// in a fixed order and the first that applies decides:
//
//  1. deny rules, in file order;
//  2. typosquat protection (a near-miss of a protected name is denied);
//  3. images rules, in file order (one with action deny reads its tags
//     as a deny rule does: a digest-only reference is inside them, a
//     variant tag such as 1.19-alpine is read as its release too);
//  4. the default: pull-through allowed, mirroring not.
//
// A rule with a scope applies only to the subjects its scope lets through.
// The policy's top-level scope is not checked here: see InScope. Decide
// does not allocate for the common cases; its slices and maps are shared
// with the policy.
func (p *Policy) Decide(ref imageref.Ref, subj Subject) Decision {
	ref = policyRef(ref)
	verify := false
	for i := range p.Deny {
		r := &p.Deny[i]
		pat, ok := matchName(r.patterns, &r.Scope, ref, subj)
		if !ok {
			continue
		}
		if d, denied, check := denies(&r.Tags, pat, ref); denied {
			return d
		} else if check {
			verify = true
		}
	}
	if protected, dist, ok := p.Typosquat.check(ref); ok {
		return Decision{Action: ActionDeny, Rule: "typosquat", Reason: typosquatReason(protected, dist)}
	}
	for i := range p.Images {
		r := &p.Images[i]
		pat, ok := matchName(r.patterns, &r.Scope, ref, subj)
		if !ok {
			continue
		}
		if r.Action == ActionDeny {
			// An images rule that denies reads tags as a deny rule does.
			if d, denied, check := denies(&r.Tags, pat, ref); denied {
				return d
			} else if check {
				verify = true
			}
			continue
		}
		if !r.Tags.selectsRef(ref) {
			continue
		}
		d := Decision{Action: r.Action, Rule: pat.rule, Reason: pat.reason,
			VerifyTag: verify || ref.Tag != "" && ref.Digest != "" && !r.Tags.isEmpty()}
		if r.Action == ActionMirror || r.Action == ActionPullThrough && r.MirrorFallback {
			d.MirrorAllowed = true
			d.Platforms = r.Platforms
			d.PinDigest = r.PinDigest
			d.Customize = r.Customize
			d.Repository = r.Repository
		}
		return d
	}
	return Decision{Action: ActionDefault, Rule: "default", Reason: reasonDefault, VerifyTag: verify}
}

// denies applies a denying rule whose name pattern pat matched ref: what
// it cannot prove outside its tags is inside them. It returns the deny
// decision, or, for a tag outside them pinned by a digest, check: the
// tag is outside the rule only if the digest really is the tag's.
func denies(tags *TagSelector, pat *namePattern, ref imageref.Ref) (d Decision, denied, check bool) {
	switch {
	case tags.deniesTag(ref.Tag):
		return Decision{Action: ActionDeny, Rule: pat.rule, Reason: pat.reason}, true, false
	case ref.Tag == "":
		return Decision{Action: ActionDeny, Rule: pat.rule, Reason: pat.reason + reasonDigestOnlyDeny}, true, false
	}
	return Decision{}, false, ref.Digest != ""
}

// DeniesEveryTag reports the decision that denies every reference of
// ref's name for subj, whatever its tag or digest: a deny rule without
// tags, or typosquat protection. A deny rule restricted to tags denies
// only some, and is not one; Decide says which. ref's tag and digest are
// not looked at. Sync uses it to skip a name before listing its tags.
func (p *Policy) DeniesEveryTag(ref imageref.Ref, subj Subject) (Decision, bool) {
	ref = policyRef(ref)
	for i := range p.Deny {
		r := &p.Deny[i]
		if !r.Tags.isEmpty() {
			continue
		}
		if pat, ok := matchName(r.patterns, &r.Scope, ref, subj); ok {
			return Decision{Action: ActionDeny, Rule: pat.rule, Reason: pat.reason}, true
		}
	}
	if protected, dist, ok := p.Typosquat.check(ref); ok {
		return Decision{Action: ActionDeny, Rule: "typosquat", Reason: typosquatReason(protected, dist)}, true
	}
	return Decision{}, false
}

func matchName(patterns []namePattern, scope *Scope, ref imageref.Ref, subj Subject) (*namePattern, bool) {
	pat, ok := matchAny(patterns, ref)
	if !ok || !scope.admits(subj) {
		return nil, false
	}
	return pat, true
}

// selectsRef is Selects for an images rule: a digest-only reference is
// selected by a tag-restricted rule only when the rule allows digests.
func (t *TagSelector) selectsRef(ref imageref.Ref) bool {
	if ref.Tag == "" && !t.isEmpty() {
		return t.Digests
	}
	return t.Selects(ref.Tag)
}

// admits reports whether every filter of the scope lets subj through.
func (s *Scope) admits(subj Subject) bool {
	return s.Clusters.refuses(subj.Cluster) == "" &&
		s.Services.refuses(subj.Service) == "" &&
		s.Families.refuses(subj.Family) == ""
}

// InScope reports whether pullheal may touch the workload at all; when not,
// the reason names the filter that keeps it out, e.g. `cluster "legacy" is
// excluded by scope.clusters.exclude`. A subject field that is empty (a
// task no service started has no service) passes a filter only when the
// filter has no include list, or an include glob that matches "" ("*").
func (p *Policy) InScope(subj Subject) (bool, string) {
	return p.Scope.allows(subj)
}
