package agent

import (
	"fmt"

	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/policy"
)

// PolicySource gives the policy in force. A heal takes one snapshot when it
// starts and decides with it throughout, however often the policy is
// swapped meanwhile. *policysource.Watcher satisfies it.
type PolicySource interface {
	Current() *policysource.Snapshot
}

// staticPolicy is a policy that never changes (tests, one-shot callers).
type staticPolicy struct{ s *policysource.Snapshot }

func (p staticPolicy) Current() *policysource.Snapshot { return p.s }

// policySource returns the source of o's policy: Policies when set, else
// Policy as a fixed snapshot, else nil (no policy).
func policySource(policies PolicySource, p *policy.Policy) PolicySource {
	switch {
	case policies != nil:
		return policies
	case p != nil:
		return staticPolicy{&policysource.Snapshot{Policy: p, Info: policysource.Info{Source: p.File}}}
	}
	return nil
}

// snapshot returns the policy in force and what names it in review
// events; nil and nil without a policy.
func snapshot(src PolicySource) (*policy.Policy, *policysource.Info) {
	if src == nil {
		return nil, nil
	}
	s := src.Current()
	if s == nil {
		return nil, nil
	}
	info := s.Info
	return s.Policy, &info
}

// ReloadCheck returns the check a policy watcher runs on a new policy
// before putting it in force: the settings the agent reads once, at
// startup (the registry when no --registry overrides it, whether
// pull-through rules are discovered or declared), must not change, or the
// policy reported in force would not be the one acted on.
func ReloadCheck(o Options) func(old, new *policy.Policy) error {
	return func(old, new *policy.Policy) error {
		if o.Registry == "" && old.Registry != new.Registry {
			return fmt.Errorf("registry changed from %q to %q; the agent reads it at startup: restart the agent to apply this policy", old.Registry, new.Registry)
		}
		if o.DiscoverRules && old.PullThrough.Source != new.PullThrough.Source {
			return fmt.Errorf("pullThrough.source changed from %s to %s; the agent decides at startup whether to discover rules: restart the agent to apply this policy", old.PullThrough.Source, new.PullThrough.Source)
		}
		return nil
	}
}
