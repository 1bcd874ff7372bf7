package eventsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var (
	busNamePattern    = wire.NewPattern(`^[/\.\-_A-Za-z0-9]{1,256}$`)
	ruleNamePattern   = wire.NewPattern(`^[\.\-_A-Za-z0-9]{1,64}$`)
	targetIDPattern   = wire.NewPattern(`^[\.\-_A-Za-z0-9]{1,64}$`)
	maxTargetsPerRule = 5
)

func (e *EventBridge) createEventBus(_ context.Context, body []byte) (any, error) {
	var in struct {
		Name            string
		Description     string
		EventSourceName string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if !busNamePattern.MatchString(in.Name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+", in.Name)
	}
	if in.EventSourceName != "" || strings.HasPrefix(in.Name, "aws.") {
		return nil, validationError("Partner event buses are not supported by the local test bed.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.buses[in.Name] != nil {
		return nil, wire.Errorf(400, "ResourceAlreadyExistsException", "Event bus %s already exists.", in.Name)
	}
	now := e.clock.Now()
	e.buses[in.Name] = &bus{name: in.Name, description: in.Description, created: now, modified: now, rules: map[string]*rule{}}
	out := map[string]any{"EventBusArn": e.busArn(in.Name)}
	if in.Description != "" {
		out["Description"] = in.Description
	}
	return out, nil
}

type busOutput struct {
	Name             string
	Arn              string
	Description      string `json:",omitempty"`
	CreationTime     float64
	LastModifiedTime float64
}

func (e *EventBridge) busOutput(b *bus) busOutput {
	return busOutput{Name: b.name, Arn: e.busArn(b.name), Description: b.description, CreationTime: wire.Epoch(b.created), LastModifiedTime: wire.Epoch(b.modified)}
}

func (e *EventBridge) describeEventBus(_ context.Context, body []byte) (any, error) {
	var in struct{ Name string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, err := e.lookupBus(in.Name)
	if err != nil {
		return nil, err
	}
	return e.busOutput(b), nil
}

func (e *EventBridge) listEventBuses(_ context.Context, body []byte) (any, error) {
	var in struct {
		NamePrefix string
		NextToken  string
		Limit      *int
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	page, next, err := paginate(keysWithPrefix(e.buses, in.NamePrefix), in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		EventBuses []busOutput
		NextToken  string `json:",omitempty"`
	}{EventBuses: []busOutput{}, NextToken: next}
	for _, name := range page {
		out.EventBuses = append(out.EventBuses, e.busOutput(e.buses[name]))
	}
	return out, nil
}

// keysWithPrefix returns the names in m that start with prefix, for the
// NamePrefix of ListEventBuses and ListRules.
func keysWithPrefix[V any](m map[string]V, prefix string) []string {
	var names []string
	for name := range m {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names
}

// paginate sorts names and returns the page after token (the last name of
// the previous page, base64) of at most limit (1 to 100) names.
func paginate(names []string, token string, limit *int) ([]string, string, error) {
	sort.Strings(names)
	if token != "" {
		after, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			return nil, "", validationError("The NextToken %q is not valid.", token)
		}
		i := sort.SearchStrings(names, string(after))
		if i < len(names) && names[i] == string(after) {
			i++
		}
		names = names[i:]
	}
	if limit == nil {
		return names, "", nil
	}
	if *limit < 1 || *limit > 100 {
		return nil, "", validationError("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100", *limit)
	}
	if len(names) <= *limit {
		return names, "", nil
	}
	names = names[:*limit]
	return names, base64.StdEncoding.EncodeToString([]byte(names[len(names)-1])), nil
}

func (e *EventBridge) deleteEventBus(_ context.Context, body []byte) (any, error) {
	var in struct{ Name string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == DefaultBus {
		return nil, validationError("Cannot delete event bus default.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Deleting a bus that does not exist succeeds, as on AWS; its rules go
	// with it.
	delete(e.buses, in.Name)
	return nil, nil
}

func (e *EventBridge) putRule(_ context.Context, body []byte) (any, error) {
	var in struct {
		Name               string
		EventPattern       *string
		ScheduleExpression string
		State              string
		Description        string
		RoleArn            string
		EventBusName       string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if !ruleNamePattern.MatchString(in.Name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Name)
	}
	if in.EventPattern == nil && in.ScheduleExpression == "" {
		return nil, validationError("Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	state := in.State
	switch state {
	case "":
		state = "ENABLED"
	case "ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]", in.State)
	}
	r := &rule{name: in.Name, schedule: in.ScheduleExpression, state: state, description: in.Description, roleArn: in.RoleArn}
	if in.EventPattern != nil {
		p, err := ParsePattern(*in.EventPattern)
		if err != nil {
			return nil, patternError(err)
		}
		r.pattern = p
	}
	if in.ScheduleExpression != "" && !validSchedule(in.ScheduleExpression) {
		return nil, validationError("Parameter ScheduleExpression is not valid.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := e.lookupBus(in.EventBusName)
	if err != nil {
		return nil, err
	}
	if in.ScheduleExpression != "" && b.name != DefaultBus {
		return nil, validationError("ScheduleExpression is supported only on the default event bus.")
	}
	r.bus = b.name
	// PutRule replaces the rule (omitted members are not kept) but keeps its
	// targets.
	r.targets = map[string]*target{}
	if old := b.rules[in.Name]; old != nil {
		r.targets = old.targets
	}
	b.rules[in.Name] = r
	return map[string]string{"RuleArn": e.ruleArn(b.name, r.name)}, nil
}

func validSchedule(s string) bool {
	return (strings.HasPrefix(s, "rate(") || strings.HasPrefix(s, "cron(")) && strings.HasSuffix(s, ")")
}

// patternError puts a ParsePattern error in EventBridge's wire form.
func patternError(err error) error {
	if !errors.Is(err, ErrInvalidPattern) {
		return err
	}
	msg := err.Error()
	return wire.Errorf(400, "InvalidEventPatternException", "%s", strings.ToUpper(msg[:1])+msg[1:])
}

type ruleOutput struct {
	Name               string
	Arn                string
	EventPattern       string `json:",omitempty"`
	ScheduleExpression string `json:",omitempty"`
	State              string
	Description        string `json:",omitempty"`
	RoleArn            string `json:",omitempty"`
	EventBusName       string
	CreatedBy          string `json:",omitempty"`
}

func (e *EventBridge) ruleOutput(r *rule) ruleOutput {
	out := ruleOutput{Name: r.name, Arn: e.ruleArn(r.bus, r.name), ScheduleExpression: r.schedule, State: r.state, Description: r.description, RoleArn: r.roleArn, EventBusName: r.bus, CreatedBy: e.account}
	if r.pattern != nil {
		out.EventPattern = r.pattern.String()
	}
	return out
}

func (e *EventBridge) describeRule(_ context.Context, body []byte) (any, error) {
	var in struct{ Name, EventBusName string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	r, err := e.lookupRule(in.Name, in.EventBusName)
	if err != nil {
		return nil, err
	}
	return e.ruleOutput(r), nil
}

func (e *EventBridge) listRules(_ context.Context, body []byte) (any, error) {
	var in struct {
		NamePrefix   string
		EventBusName string
		NextToken    string
		Limit        *int
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, err := e.lookupBus(in.EventBusName)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(keysWithPrefix(b.rules, in.NamePrefix), in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Rules     []ruleOutput
		NextToken string `json:",omitempty"`
	}{Rules: []ruleOutput{}, NextToken: next}
	for _, name := range page {
		r := e.ruleOutput(b.rules[name])
		// ListRules's Rule has no CreatedBy; only DescribeRule answers it.
		r.CreatedBy = ""
		out.Rules = append(out.Rules, r)
	}
	return out, nil
}

func (e *EventBridge) deleteRule(_ context.Context, body []byte) (any, error) {
	var in struct {
		Name, EventBusName string
		Force              bool
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := e.lookupBus(in.EventBusName)
	if err != nil {
		return nil, err
	}
	r := b.rules[in.Name]
	if r == nil {
		return nil, nil // deleting a missing rule succeeds, as on AWS
	}
	if len(r.targets) > 0 {
		return nil, validationError("Rule can't be deleted since it has targets.")
	}
	delete(b.rules, in.Name)
	return nil, nil
}

func (e *EventBridge) enableRule(_ context.Context, body []byte) (any, error) {
	return nil, e.setRuleState(body, "ENABLED")
}

func (e *EventBridge) disableRule(_ context.Context, body []byte) (any, error) {
	return nil, e.setRuleState(body, "DISABLED")
}

func (e *EventBridge) setRuleState(body []byte, state string) error {
	var in struct{ Name, EventBusName string }
	if err := wire.Decode(body, &in); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.lookupRule(in.Name, in.EventBusName)
	if err != nil {
		return err
	}
	r.state = state
	return nil
}

// target is a rule target. raw is the target as given, echoed by
// ListTargetsByRule so every member survives.
type target struct {
	id        string
	arn       string
	input     *string
	inputPath *jsonPath
	raw       json.RawMessage
}

func parseTarget(raw json.RawMessage) (*target, error) {
	var in struct {
		Id               string
		Arn              string
		Input            *string
		InputPath        *string
		InputTransformer json.RawMessage
	}
	if err := wire.Decode(raw, &in); err != nil {
		return nil, err
	}
	if !targetIDPattern.MatchString(in.Id) {
		return nil, validationError("1 validation error detected: Value '%s' at 'targets.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Id)
	}
	if !strings.HasPrefix(in.Arn, "arn:") {
		return nil, validationError("Parameter %s is not valid. Reason: Provided Arn is not in correct format.", in.Arn)
	}
	set := 0
	for _, present := range []bool{in.Input != nil, in.InputPath != nil, len(in.InputTransformer) > 0 && string(in.InputTransformer) != "null"} {
		if present {
			set++
		}
	}
	if set > 1 {
		return nil, validationError("Only one of Input, InputPath, or InputTransformer must be provided for target %s.", in.Id)
	}
	if len(in.InputTransformer) > 0 && string(in.InputTransformer) != "null" {
		return nil, validationError("InputTransformer (target %s) is not supported by the local test bed; use Input or InputPath.", in.Id)
	}
	t := &target{id: in.Id, arn: in.Arn, input: in.Input, raw: compactJSON(raw)}
	if in.Input != nil && !json.Valid([]byte(*in.Input)) {
		return nil, validationError("Input for target %s is not valid JSON.", in.Id)
	}
	if in.InputPath != nil {
		p, err := parseJSONPath(*in.InputPath)
		if err != nil {
			return nil, validationError("InputPath for target %s is not valid: %v", in.Id, err)
		}
		t.inputPath = p
	}
	return t, nil
}

func compactJSON(raw []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

func (e *EventBridge) putTargets(_ context.Context, body []byte) (any, error) {
	var in struct {
		Rule         string
		EventBusName string
		Targets      []json.RawMessage
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Targets) == 0 || len(in.Targets) > 10 {
		return nil, validationError("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	var targets []*target
	for _, raw := range in.Targets {
		t, err := parseTarget(raw)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.lookupRule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	count := len(r.targets)
	for _, t := range targets {
		if r.targets[t.id] == nil {
			count++
		}
	}
	if count > maxTargetsPerRule {
		return nil, wire.Errorf(400, "LimitExceededException", "The requested resource exceeds the maximum number allowed: a rule has at most %d targets.", maxTargetsPerRule)
	}
	for _, t := range targets {
		r.targets[t.id] = t
	}
	return map[string]any{"FailedEntryCount": 0, "FailedEntries": []any{}}, nil
}

func (e *EventBridge) listTargetsByRule(_ context.Context, body []byte) (any, error) {
	var in struct {
		Rule, EventBusName, NextToken string
		Limit                         *int
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	r, err := e.lookupRule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(slices.Collect(maps.Keys(r.targets)), in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Targets   []json.RawMessage
		NextToken string `json:",omitempty"`
	}{Targets: []json.RawMessage{}, NextToken: next}
	for _, id := range page {
		out.Targets = append(out.Targets, r.targets[id].raw)
	}
	return out, nil
}

func (e *EventBridge) removeTargets(_ context.Context, body []byte) (any, error) {
	var in struct {
		Rule, EventBusName string
		Ids                []string
		Force              bool
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.lookupRule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	for _, id := range in.Ids {
		delete(r.targets, id) // a missing ID is not an error, as on AWS
	}
	return map[string]any{"FailedEntryCount": 0, "FailedEntries": []any{}}, nil
}
