package eventsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// envelope is an event as EventBridge delivers it; the field order is
// EventBridge's.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// encode renders the event without HTML escaping, so that the detail keeps
// its text.
func (v envelope) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// delivery is one message for one SQS target.
type delivery struct {
	queueArn string
	ruleArn  string
	body     string
}

// route matches an encoded event against the rules of a bus and prepares
// the deliveries. Callers hold e.mu (for reading).
func (e *EventBridge) route(b *bus, event []byte) []delivery {
	names := make([]string, 0, len(b.rules))
	paths := pathSet{}
	for name, r := range b.rules {
		names = append(names, name)
		if r.pattern != nil {
			r.pattern.addPaths(paths)
		}
	}
	sort.Strings(names)
	flat, err := decodeEvent(event, paths)
	if err != nil {
		return nil
	}
	var out []delivery
	for _, name := range names {
		r := b.rules[name]
		if r.state == "DISABLED" || r.pattern == nil || !r.pattern.matchEvent(flat) {
			continue
		}
		ids := make([]string, 0, len(r.targets))
		for id := range r.targets {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			t := r.targets[id]
			if !strings.HasPrefix(t.arn, "arn:aws:sqs:") {
				continue // other target types are stored but not delivered
			}
			body, ok := t.body(event)
			if !ok {
				if e.log != nil {
					e.log.Warn("event delivery skipped: InputPath selects nothing", "target", t.arn)
				}
				continue
			}
			out = append(out, delivery{queueArn: t.arn, ruleArn: e.ruleArn(b.name, r.name), body: body})
		}
	}
	return out
}

// body is what the target receives for an event.
func (t *target) body(event []byte) (string, bool) {
	switch {
	case t.input != nil:
		return *t.input, true
	case t.inputPath != nil:
		v, ok := t.inputPath.selectFrom(event)
		if !ok {
			return "", false
		}
		return string(compactJSON(v)), true
	}
	return string(event), true
}

type putEntry struct {
	Time         *float64
	Source       *string
	DetailType   *string
	Detail       *string
	Resources    []string
	EventBusName string
	TraceHeader  string
}

type putResult struct {
	EventId      string `json:",omitempty"`
	ErrorCode    string `json:",omitempty"`
	ErrorMessage string `json:",omitempty"`
}

func (e *EventBridge) putEvents(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Entries    []putEntry
		EndpointId string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, validationError("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	out := struct {
		FailedEntryCount int
		Entries          []putResult
	}{Entries: []putResult{}}
	var deliveries []delivery
	e.mu.RLock()
	for _, entry := range in.Entries {
		res, ds := e.putEntry(entry)
		if res.ErrorCode != "" {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, res)
		deliveries = append(deliveries, ds...)
	}
	e.mu.RUnlock()
	e.deliverAll(ctx, deliveries)
	return out, nil
}

// putEntry validates one PutEvents entry and routes it. Callers hold e.mu.
func (e *EventBridge) putEntry(in putEntry) (putResult, []delivery) {
	fail := func(code, format string, args ...any) (putResult, []delivery) {
		return putResult{ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...)}, nil
	}
	switch {
	case in.Source == nil || *in.Source == "":
		return fail("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument.")
	case in.DetailType == nil || *in.DetailType == "":
		return fail("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument.")
	case in.Detail == nil || *in.Detail == "":
		return fail("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.")
	}
	detail, err := objectJSON(*in.Detail)
	if err != nil {
		return fail("MalformedDetail", "Detail is malformed.")
	}
	if strings.HasPrefix(*in.Source, "aws.") {
		return fail("NotAuthorizedForSourceException", "Not authorized for the source.")
	}
	name, err := e.busName(in.EventBusName)
	if err != nil {
		return fail("InvalidArgument", "Parameter EventBusName is not valid.")
	}
	t := e.clock.Now()
	if in.Time != nil {
		if math.IsNaN(*in.Time) || math.IsInf(*in.Time, 0) {
			return fail("InvalidArgument", "Parameter Time is not valid.")
		}
		sec, frac := math.Modf(*in.Time)
		t = time.Unix(int64(sec), int64(frac*1e9))
	}
	ev := envelope{
		Version: "0", ID: newEventID(), DetailType: *in.DetailType, Source: *in.Source,
		Account: e.account, Time: formatTime(t), Region: e.region, Resources: nonNil(in.Resources), Detail: detail,
	}
	b := e.buses[name]
	if b == nil {
		// AWS accepts events for a bus that does not exist and drops them.
		return putResult{EventId: ev.ID}, nil
	}
	text, err := ev.encode()
	if err != nil {
		return fail("InternalException", "encode event: %v", err)
	}
	return putResult{EventId: ev.ID}, e.route(b, text)
}

// PublishEvent puts an event on a bus as an AWS service does: any source,
// including the "aws." ones PutEvents refuses. Empty Account, Region and
// Time take the simulation's; an empty Detail is {}.
func (e *EventBridge) PublishEvent(ctx context.Context, ev wire.Event) error {
	if ev.Source == "" || ev.DetailType == "" {
		return errors.New("publish event: source and detail type are required")
	}
	detail := json.RawMessage("{}")
	if len(ev.Detail) > 0 {
		d, err := objectJSON(string(ev.Detail))
		if err != nil {
			return fmt.Errorf("publish event %s %q: detail: %w", ev.Source, ev.DetailType, err)
		}
		detail = d
	}
	env := envelope{
		Version: "0", ID: newEventID(), DetailType: ev.DetailType, Source: ev.Source,
		Account: ev.Account, Time: formatTime(ev.Time), Region: ev.Region, Resources: nonNil(ev.Resources), Detail: detail,
	}
	if env.Account == "" {
		env.Account = e.account
	}
	if env.Region == "" {
		env.Region = e.region
	}
	if ev.Time.IsZero() {
		env.Time = formatTime(e.clock.Now())
	}
	name := ev.Bus
	if name == "" {
		name = DefaultBus
	}
	text, err := env.encode()
	if err != nil {
		return fmt.Errorf("publish event: encode: %w", err)
	}
	e.mu.RLock()
	b := e.buses[name]
	var deliveries []delivery
	if b != nil {
		deliveries = e.route(b, text)
	}
	e.mu.RUnlock()
	if b == nil {
		return fmt.Errorf("publish event to %s: %w", name, ErrNoSuchBus)
	}
	e.deliverAll(ctx, deliveries)
	return nil
}

func (e *EventBridge) testEventPattern(_ context.Context, body []byte) (any, error) {
	var in struct{ EventPattern, Event string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	p, err := ParsePattern(in.EventPattern)
	if err != nil {
		return nil, patternError(err)
	}
	var event map[string]json.RawMessage
	if err := json.Unmarshal([]byte(in.Event), &event); err != nil {
		return nil, validationError("Parameter Event is not valid: %v", err)
	}
	for _, field := range []string{"id", "account", "source", "time", "region", "resources", "detail-type"} {
		if _, ok := event[field]; !ok {
			return nil, validationError("Parameter Event is not valid: the field %q is mandatory.", field)
		}
	}
	ok, err := p.Match([]byte(in.Event))
	if err != nil {
		return nil, validationError("Parameter Event is not valid: %v", err)
	}
	return map[string]bool{"Result": ok}, nil
}

// objectJSON checks that s is one JSON object and returns it compacted.
func objectJSON(s string) (json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	if len(v) == 0 || v[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	return compactJSON(v), nil
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// jsonPath is the subset of JSONPath InputPath takes: $ followed by .name,
// ['name'] and [index] steps.
type jsonPath struct {
	steps []pathStep
}

type pathStep struct {
	key   string
	index int // -1 for a key step
}

func parseJSONPath(s string) (*jsonPath, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("%q does not start with $", s)
	}
	p := &jsonPath{}
	rest := s[1:]
	for rest != "" {
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("%q has an empty name", s)
			}
			p.steps = append(p.steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%q has an unclosed [", s)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				p.steps = append(p.steps, pathStep{key: inner[1 : len(inner)-1], index: -1})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%q: [%s] is neither an index nor a quoted name", s, inner)
			}
			p.steps = append(p.steps, pathStep{index: n})
		default:
			return nil, fmt.Errorf("%q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

// selectFrom returns the JSON text the path selects in doc, preserving it.
func (p *jsonPath) selectFrom(doc []byte) (json.RawMessage, bool) {
	cur := json.RawMessage(doc)
	for _, st := range p.steps {
		if st.index < 0 {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(cur, &obj); err != nil {
				return nil, false
			}
			next, ok := obj[st.key]
			if !ok {
				return nil, false
			}
			cur = next
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(cur, &arr); err != nil || st.index >= len(arr) {
			return nil, false
		}
		cur = arr[st.index]
	}
	return cur, true
}
