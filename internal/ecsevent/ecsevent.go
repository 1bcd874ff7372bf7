// Package ecsevent reads the EventBridge events pullheal receives from SQS,
// models the ECS task-state-change detail (the Task object of
// DescribeTasks), and classifies why each container of a stopped task failed:
// a public registry's pull rate limit that pullheal can route around, some
// other pull failure, or no pull failure at all.
//
// Parsing is tolerant the way ECS needs it to be: unknown fields are ignored,
// null is the zero value, numbers that ECS sends as strings are accepted, and a
// missing or malformed time is the zero time. What cannot be read is an error
// wrapping ErrMalformed that names the field or the line and column.
//
// Classification reads structure, not sample strings: a reason is
// lower-cased and its whitespace folded, then searched for rate-limit
// signals (a standalone 429, "too many requests", the registry error code
// toomanyrequests, Docker Hub's "pull rate limit" and HAP429 wordings), for
// the markers of an image pull (CannotPull*, containerd's retry and
// httpRead(er)Seeker wrappers, registry URLs), and for the visible causes of
// other pull failures. Whether a rate limit counts is decided by the image's
// registry, never by the text alone: ECR and ECR Public throttling share
// Docker Hub's error code. ClassifyReason documents the rules; Classify
// documents how task-level reasons are attributed to containers.
package ecsevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// ErrMalformed is wrapped by every error Parse and ParseTask return: the
// input can never be handled, however often it is delivered.
var ErrMalformed = errors.New("malformed event")

// Event kinds pullheal acts on.
const (
	SourceECS             = "aws.ecs"
	DetailTaskStateChange = "ECS Task State Change"
)

// Event is an EventBridge event envelope.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Time       time.Time       `json:"time"` // zero when missing or unreadable
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`

	// Task is the decoded detail of an ECS Task State Change event
	// (Source "aws.ecs", DetailType "ECS Task State Change"), nil for every
	// other kind of event.
	Task *Task `json:"-"`
}

// envelope is Event as it is decoded: the time is read leniently, because an
// unreadable timestamp must not cost a task its heal.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Time       lenientTime     `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// IsTaskStateChange reports whether e is an ECS task state change, the only
// kind of event pullheal acts on.
func (e *Event) IsTaskStateChange() bool {
	return e.Source == SourceECS && e.DetailType == DetailTaskStateChange
}

// Parse decodes an EventBridge event. An event of another kind is returned
// with a nil Task and no error: it is not malformed, just not ours. An ECS
// task state change whose detail is missing or not a task is malformed.
func Parse(data []byte) (*Event, error) {
	// Windows editors and PowerShell save UTF-8 with a byte order mark,
	// which JSON does not allow but the file's author cannot see.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if bytes.Equal(trimmed, []byte("null")) {
		// encoding/json leaves the envelope empty: an event of no kind.
		return nil, fmt.Errorf("%w: got null, want object", ErrMalformed)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, decodeError(data, 0, "", err)
	}
	e := &Event{
		Version:    env.Version,
		ID:         env.ID,
		DetailType: env.DetailType,
		Source:     env.Source,
		Account:    env.Account,
		Region:     env.Region,
		Time:       time.Time(env.Time),
		Resources:  env.Resources,
		Detail:     env.Detail,
	}
	if !e.IsTaskStateChange() {
		return e, nil
	}
	d := bytes.TrimSpace(env.Detail)
	if len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return nil, fmt.Errorf("%w: %s event has no detail", ErrMalformed, DetailTaskStateChange)
	}
	// The raw detail is a verbatim copy of the input, so its first occurrence
	// locates it for line and column numbers.
	base := max(bytes.Index(data, d), 0)
	t, err := decodeTask(data, base, d, "detail.")
	if err != nil {
		return nil, err
	}
	e.Task = t
	return e, nil
}

// ParseTask decodes a bare Task object, as DescribeTasks returns it (wire
// JSON with epoch-second timestamps) or as an SDK types.Task marshals
// (field names in any case), so that the agent can re-read a task whose
// event reason was truncated.
func ParseTask(detail []byte) (*Task, error) {
	d := bytes.TrimSpace(detail)
	if len(d) == 0 {
		return nil, fmt.Errorf("%w: empty task", ErrMalformed)
	}
	return decodeTask(detail, max(bytes.Index(detail, d), 0), d, "")
}

func decodeTask(whole []byte, base int, d []byte, field string) (*Task, error) {
	if d[0] != '{' {
		if err := json.Unmarshal(d, new(json.RawMessage)); err != nil {
			return nil, decodeError(whole, base, field, err)
		}
		return nil, fmt.Errorf("%w: %s: got %s, want a task object", ErrMalformed, fieldName(field), jsonKind(d[0]))
	}
	var w wireTask
	if err := json.Unmarshal(d, &w); err != nil {
		return nil, decodeError(whole, base, field, err)
	}
	t := w.task()
	return &t, nil
}

// decodeError turns an encoding/json error into a one-line message naming
// the field, or the line and column, at fault. base is the offset of the
// decoded bytes within whole; prefix names where they sit ("detail.").
func decodeError(whole []byte, base int, prefix string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(whole, base+int(syn.Offset)-1)
		return fmt.Errorf("%w: %s at line %d, column %d", ErrMalformed, syn.Error(), line, col)
	case errors.As(err, &typ):
		f := typ.Field
		if f == "" && prefix == "" {
			return fmt.Errorf("%w: got %s, want %s", ErrMalformed, typ.Value, want(typ.Type))
		}
		msg := fmt.Sprintf("%s: got %s, want %s", fieldName(prefix+f), typ.Value, want(typ.Type))
		if typ.Offset > 0 {
			line, col := position(whole, base+int(typ.Offset)-1)
			msg += fmt.Sprintf(" (line %d, column %d)", line, col)
		}
		return fmt.Errorf("%w: %s", ErrMalformed, msg)
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func fieldName(f string) string {
	if f == "" {
		return "detail"
	}
	if f[len(f)-1] == '.' {
		return f[:len(f)-1]
	}
	return f
}

// position converts a byte offset into a 1-based line and column (in bytes).
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	return line, off - bytes.LastIndexByte(data[:off], '\n')
}

func want(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// lenientTime reads RFC 3339 strings (events) and epoch seconds (DescribeTasks
// wire JSON; milliseconds too); anything else is the zero time rather than an
// error. Epoch times are rounded to the millisecond ECS records.
type lenientTime time.Time

func (t *lenientTime) UnmarshalJSON(b []byte) error {
	var zero time.Time
	*t = lenientTime(zero)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
			*t = lenientTime(v)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || f < 0 || f > 1e14 {
			return nil
		}
		if f > 1e11 {
			// Milliseconds: no ECS timestamp in seconds is that far out.
			f /= 1000
		}
		sec := int64(f)
		*t = lenientTime(time.Unix(sec, int64((f-float64(sec))*1e9)).Round(time.Millisecond).UTC())
	}
	return nil
}

// lenientInt accepts a JSON number or a string holding one, as ECS sends
// both for numeric fields depending on the API and agent version.
type lenientInt int64

func (n *lenientInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return &json.UnmarshalTypeError{Value: describeValue(b), Type: reflect.TypeFor[int64]()}
		}
		v = int64(f)
	}
	*n = lenientInt(v)
	return nil
}

func describeValue(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	if b[0] == '"' {
		return "string " + string(b)
	}
	if b[0] == '{' {
		return "object"
	}
	if k := jsonKind(b[0]); k != "number" {
		return k
	}
	return "number " + string(b)
}
