// Package iampolicy parses IAM policy documents and evaluates them for one
// request, with IAM's documented logic for a single account: an explicit
// Deny in any applicable policy wins, then an Allow, else an implicit deny.
// Actions match case-insensitively with * and ? wildcards, resources and
// principals case-sensitively.
//
// It serves two sides: the agent reads ECR registry and repository policies
// (resource-based) to tell whether a healed task's role may pull, and the
// test bed's IAM evaluates identity policies with the same rules. What it
// cannot know it does not guess: a statement with a Condition is reported
// (Evaluate's conditional result), never assumed to apply or not.
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Decision is an IAM evaluation result, with the names
// SimulatePrincipalPolicy uses (PolicyEvaluationDecisionType).
type Decision string

// Evaluation results.
const (
	Allowed      Decision = "allowed"
	ExplicitDeny Decision = "explicitDeny"
	ImplicitDeny Decision = "implicitDeny"
)

// Policy is a parsed IAM policy document: identity-based (no Principal) or
// resource-based (ECR registry and repository policies).
type Policy struct {
	Statements []Statement
}

// Statement is one statement of a policy. A statement with a Condition
// never applies in Evaluate (no request context is known), and Evaluate
// says that one would have applied but for its condition.
type Statement struct {
	Sid          string
	Effect       string // Allow or Deny
	Actions      []string
	NotActions   []string
	Resources    []string
	NotResources []string
	// Principals are the AWS principals of a resource-based statement
	// ("*" for everyone, or ARNs / account IDs).
	Principals   []string
	HasPrincipal bool
	HasCondition bool
	// ConditionKeys are the context keys the Condition tests
	// ("aws:PrincipalTag/team"), sorted.
	ConditionKeys []string
}

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed policy document")

// ParsePolicy parses a policy document. Statement, Action, Resource and
// Principal may each be one value or a list, as IAM accepts.
func ParsePolicy(doc string) (*Policy, error) {
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw.Statement) == 0 {
		return nil, fmt.Errorf("%w: missing Statement", ErrMalformed)
	}
	var stmts []json.RawMessage
	if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
		stmts = []json.RawMessage{raw.Statement}
	}
	if len(stmts) == 0 {
		return nil, fmt.Errorf("%w: Statement is empty", ErrMalformed)
	}
	p := &Policy{}
	for i, s := range stmts {
		var st struct {
			Sid          string          `json:"Sid"`
			Effect       string          `json:"Effect"`
			Action       json.RawMessage `json:"Action"`
			NotAction    json.RawMessage `json:"NotAction"`
			Resource     json.RawMessage `json:"Resource"`
			NotResource  json.RawMessage `json:"NotResource"`
			Principal    json.RawMessage `json:"Principal"`
			NotPrincipal json.RawMessage `json:"NotPrincipal"`
			Condition    json.RawMessage `json:"Condition"`
		}
		if err := json.Unmarshal(s, &st); err != nil {
			return nil, fmt.Errorf("%w: statement %d: %v", ErrMalformed, i, err)
		}
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("%w: statement %d: Effect must be Allow or Deny", ErrMalformed, i)
		}
		if len(st.NotPrincipal) > 0 {
			return nil, fmt.Errorf("%w: statement %d: NotPrincipal is not supported by this test bed", ErrMalformed, i)
		}
		out := Statement{Sid: st.Sid, Effect: st.Effect, HasCondition: len(st.Condition) > 0 && string(st.Condition) != "null"}
		if out.HasCondition {
			var ops map[string]map[string]json.RawMessage
			if err := json.Unmarshal(st.Condition, &ops); err != nil {
				return nil, fmt.Errorf("%w: statement %d: Condition: want {operator: {key: value}}", ErrMalformed, i)
			}
			for _, kv := range ops {
				for k := range kv {
					out.ConditionKeys = append(out.ConditionKeys, k)
				}
			}
			sort.Strings(out.ConditionKeys)
		}
		var err error
		if out.Actions, err = stringOrList(st.Action); err != nil {
			return nil, fmt.Errorf("%w: statement %d: Action: %v", ErrMalformed, i, err)
		}
		if out.NotActions, err = stringOrList(st.NotAction); err != nil {
			return nil, fmt.Errorf("%w: statement %d: NotAction: %v", ErrMalformed, i, err)
		}
		if len(out.Actions) == 0 && len(out.NotActions) == 0 {
			return nil, fmt.Errorf("%w: statement %d: needs Action or NotAction", ErrMalformed, i)
		}
		if out.Resources, err = stringOrList(st.Resource); err != nil {
			return nil, fmt.Errorf("%w: statement %d: Resource: %v", ErrMalformed, i, err)
		}
		if out.NotResources, err = stringOrList(st.NotResource); err != nil {
			return nil, fmt.Errorf("%w: statement %d: NotResource: %v", ErrMalformed, i, err)
		}
		if len(st.Principal) > 0 {
			out.HasPrincipal = true
			if out.Principals, err = principals(st.Principal); err != nil {
				return nil, fmt.Errorf("%w: statement %d: Principal: %v", ErrMalformed, i, err)
			}
		}
		p.Statements = append(p.Statements, out)
	}
	return p, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return list, nil
}

// principals reads "*" or {"AWS": ...}; other principal kinds (Service,
// Federated) name no IAM role and are kept as written.
func principals(raw json.RawMessage) ([]string, error) {
	var star string
	if err := json.Unmarshal(raw, &star); err == nil {
		if star != "*" {
			return nil, errors.New(`a string principal must be "*"`)
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New(`want "*" or an object such as {"AWS": [...]}`)
	}
	var out []string
	for kind, v := range m {
		list, err := stringOrList(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", kind, err)
		}
		if kind != "AWS" {
			for i := range list {
				list[i] = kind + ":" + list[i]
			}
		}
		out = append(out, list...)
	}
	return out, nil
}

// match reports whether s matches an IAM pattern with * and ? wildcards.
// Action names compare case-insensitively, resources and principals do not.
func match(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	if pattern == "*" {
		return true
	}
	// path.Match treats "/" specially; IAM's * crosses it, so compare with
	// the slashes replaced by a character neither side has a reason to hold.
	ok, err := path.Match(strings.ReplaceAll(escapeBrackets(pattern), "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func escapeBrackets(p string) string {
	return strings.NewReplacer(`[`, `\[`, `]`, `\]`, `\`, `\\`).Replace(p)
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if match(p, s, fold) {
			return true
		}
	}
	return false
}

// matches reports whether the statement covers action on resource for
// principal ("" for identity-based evaluation, where Principal is absent),
// its Condition aside.
func (st *Statement) matches(principal, action, resource string) bool {
	if len(st.Actions) > 0 && !anyMatch(st.Actions, action, true) {
		return false
	}
	if len(st.NotActions) > 0 && anyMatch(st.NotActions, action, true) {
		return false
	}
	if len(st.Resources) > 0 && !anyMatch(st.Resources, resource, false) {
		return false
	}
	if len(st.NotResources) > 0 && anyMatch(st.NotResources, resource, false) {
		return false
	}
	if st.HasPrincipal && !principalMatches(st.Principals, principal) {
		return false
	}
	return true
}

// principalMatches: "*" is everyone; an account ID or its root ARN is every
// principal of that account; otherwise the ARN itself (wildcards allowed,
// as in an ECR registry policy's "arn:aws:iam::ACCOUNT:role/*").
func principalMatches(patterns []string, principal string) bool {
	if principal == "" {
		return false
	}
	account := accountOf(principal)
	for _, p := range patterns {
		switch {
		case p == "*", p == account, p == "arn:aws:iam::"+account+":root":
			return true
		case match(p, principal, false):
			return true
		}
	}
	return false
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}

// Result is the outcome of Evaluate.
type Result struct {
	Decision Decision
	// Sids are the statements that decided (the deny, or every allow).
	Sids []string
	// Conditional is set when a statement with a Condition would have
	// applied but for it: the decision may then differ in a real request.
	Conditional bool
	// MissingContext are the condition keys of those statements, as
	// SimulatePrincipalPolicy reports them (MissingContextValues).
	MissingContext []string
}

// Evaluate applies IAM's rule to a set of policies for one request: an
// explicit Deny in any wins, then an Allow in any, else an implicit deny.
func Evaluate(policies []*Policy, principal, action, resource string) Result {
	var r Result
	for _, p := range policies {
		for i := range p.Statements {
			st := &p.Statements[i]
			if !st.matches(principal, action, resource) {
				continue
			}
			if st.HasCondition {
				r.Conditional = true
				r.MissingContext = append(r.MissingContext, st.ConditionKeys...)
				continue
			}
			if st.Effect == "Deny" {
				return Result{Decision: ExplicitDeny, Sids: []string{st.Sid}, Conditional: r.Conditional, MissingContext: r.MissingContext}
			}
			r.Sids = append(r.Sids, st.Sid)
		}
	}
	r.Decision = ImplicitDeny
	if len(r.Sids) > 0 {
		r.Decision = Allowed
	}
	return r
}
