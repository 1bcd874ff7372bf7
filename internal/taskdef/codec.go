package taskdef

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/document"
	"github.com/aws/smithy-go/encoding"
	smithytime "github.com/aws/smithy-go/time"
	"github.com/aws/smithy-go/traits"
)

// treeWriter is a smithy.ShapeSerializer that builds a value tree. The SDK's
// generated Serialize methods drive it, so the tree has exactly the members
// and member names the SDK would put on the wire (awsJson1_1 uses member
// names as keys).
type treeWriter struct {
	stack []wframe
	root  value
	err   error
}

type wframe struct {
	v          value
	key        string // the key v goes under in its parent
	pendingKey string // set by WriteKey or WriteUnion for the next value
	hasPending bool
	isMap      bool
}

var _ smithy.ShapeSerializer = (*treeWriter)(nil)

// keyFor consumes the key the next value written into the top frame goes
// under.
func (w *treeWriter) keyFor(schema *smithy.Schema) string {
	if len(w.stack) == 0 {
		return ""
	}
	top := &w.stack[len(w.stack)-1]
	if top.hasPending {
		top.hasPending = false
		return top.pendingKey
	}
	if schema == nil {
		return ""
	}
	return schema.MemberName()
}

func (w *treeWriter) attach(key string, v value) {
	if len(w.stack) == 0 {
		w.root = v
		return
	}
	top := &w.stack[len(w.stack)-1]
	if top.v.kind == kindArray {
		top.v.kids = append(top.v.kids, member{val: v})
		return
	}
	top.v.kids = append(top.v.kids, newMember(key, v))
}

func (w *treeWriter) scalar(schema *smithy.Schema, k kind, lit string) {
	w.attach(w.keyFor(schema), value{kind: k, lit: lit})
}

func (w *treeWriter) open(schema *smithy.Schema, k kind, isMap bool) {
	key := w.keyFor(schema)
	w.stack = append(w.stack, wframe{v: value{kind: k}, key: key, isMap: isMap})
}

func (w *treeWriter) close() {
	if len(w.stack) == 0 {
		w.fail(fmt.Errorf("close without open"))
		return
	}
	f := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	if f.isMap {
		// Go maps have no order; sorting makes FromSDK deterministic.
		slices.SortFunc(f.v.kids, func(a, b member) int { return strings.Compare(a.key, b.key) })
	}
	w.attach(f.key, f.v)
}

func (w *treeWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *treeWriter) Bytes() []byte { return appendCompact(nil, &w.root) }

func (w *treeWriter) WriteInt8(s *smithy.Schema, v int8)   { w.WriteInt64(s, int64(v)) }
func (w *treeWriter) WriteInt16(s *smithy.Schema, v int16) { w.WriteInt64(s, int64(v)) }
func (w *treeWriter) WriteInt32(s *smithy.Schema, v int32) { w.WriteInt64(s, int64(v)) }
func (w *treeWriter) WriteInt64(s *smithy.Schema, v int64) {
	w.scalar(s, kindNumber, strconv.FormatInt(v, 10))
}
func (w *treeWriter) WriteFloat32(s *smithy.Schema, v float32) { w.writeFloat(s, float64(v), 32) }
func (w *treeWriter) WriteFloat64(s *smithy.Schema, v float64) { w.writeFloat(s, v, 64) }

// writeFloat follows the AWS JSON protocols: non-finite values are strings.
func (w *treeWriter) writeFloat(s *smithy.Schema, v float64, bits int) {
	switch {
	case math.IsNaN(v):
		w.WriteString(s, "NaN")
	case math.IsInf(v, 1):
		w.WriteString(s, "Infinity")
	case math.IsInf(v, -1):
		w.WriteString(s, "-Infinity")
	default:
		w.scalar(s, kindNumber, string(encoding.EncodeFloat(nil, v, bits)))
	}
}

func (w *treeWriter) WriteBool(s *smithy.Schema, v bool) {
	w.scalar(s, kindBool, strconv.FormatBool(v))
}

func (w *treeWriter) WriteString(s *smithy.Schema, v string) {
	w.scalar(s, kindString, string(appendQuoted(nil, v)))
}

func (w *treeWriter) WriteBigInt(s *smithy.Schema, v *big.Int) {
	if v == nil {
		w.WriteNil(s)
		return
	}
	w.scalar(s, kindNumber, v.String())
}

func (w *treeWriter) WriteBigFloat(s *smithy.Schema, v *big.Float) {
	if v == nil || v.IsInf() {
		w.WriteNil(s)
		return
	}
	w.scalar(s, kindNumber, v.Text('g', -1))
}

func (w *treeWriter) WriteBlob(s *smithy.Schema, v []byte) {
	if v == nil {
		w.WriteNil(s)
		return
	}
	w.WriteString(s, base64.StdEncoding.EncodeToString(v))
}

func (w *treeWriter) WriteTime(s *smithy.Schema, v time.Time) {
	format := "epoch-seconds"
	if t, ok := smithy.SchemaTrait[*traits.TimestampFormat](s); ok {
		format = t.Format
	}
	switch format {
	case "date-time":
		w.WriteString(s, smithytime.FormatDateTime(v))
	case "http-date":
		w.WriteString(s, smithytime.FormatHTTPDate(v))
	default:
		w.WriteFloat64(s, smithytime.FormatEpochSeconds(v))
	}
}

func (w *treeWriter) WriteNil(s *smithy.Schema) { w.scalar(s, kindNull, "null") }

func (w *treeWriter) WriteStruct(s *smithy.Schema) { w.open(s, kindObject, false) }
func (w *treeWriter) CloseStruct()                 { w.close() }
func (w *treeWriter) WriteList(s *smithy.Schema)   { w.open(s, kindArray, false) }
func (w *treeWriter) CloseList()                   { w.close() }
func (w *treeWriter) WriteMap(s *smithy.Schema)    { w.open(s, kindObject, true) }
func (w *treeWriter) CloseMap()                    { w.close() }

func (w *treeWriter) WriteKey(_ *smithy.Schema, key string) {
	if len(w.stack) == 0 {
		w.fail(fmt.Errorf("map key %q outside a map", key))
		return
	}
	top := &w.stack[len(w.stack)-1]
	top.pendingKey, top.hasPending = key, true
}

func (w *treeWriter) WriteUnion(s, variant *smithy.Schema) {
	w.open(s, kindObject, false)
	top := &w.stack[len(w.stack)-1]
	top.pendingKey, top.hasPending = variant.MemberName(), true
}

func (w *treeWriter) CloseUnion() { w.close() }

// WriteDocument handles the document values the SDK hands over: opaque Go
// values (marshalled with encoding/json) and the typed document kinds.
func (w *treeWriter) WriteDocument(s *smithy.Schema, v document.Value) {
	var raw []byte
	var err error
	switch dv := v.(type) {
	case nil, document.Null:
		w.WriteNil(s)
		return
	case document.Boolean:
		w.WriteBool(s, bool(dv))
		return
	case document.String:
		w.WriteString(s, string(dv))
		return
	case document.Number:
		raw = []byte(dv)
	case document.Blob:
		w.WriteBlob(s, dv)
		return
	case document.Timestamp:
		w.WriteTime(s, time.Time(dv))
		return
	case document.List:
		w.WriteList(s)
		for _, item := range dv {
			w.WriteDocument(nil, item)
		}
		w.CloseList()
		return
	case document.Map:
		w.WriteMap(s)
		for k, item := range dv {
			w.WriteKey(nil, k)
			w.WriteDocument(nil, item)
		}
		w.CloseMap()
		return
	case document.Structure:
		w.WriteMap(s)
		for k, item := range dv.Members {
			w.WriteKey(nil, k)
			w.WriteDocument(nil, item)
		}
		w.CloseMap()
		return
	case document.Opaque:
		raw, err = marshalOpaque(dv.Value)
	case *document.Opaque:
		raw, err = marshalOpaque(dv.Value)
	default:
		err = fmt.Errorf("document value of type %T", v)
	}
	if err == nil {
		var parsed value
		if parsed, err = parseJSON(string(raw)); err == nil {
			w.attach(w.keyFor(s), parsed)
			return
		}
	}
	w.fail(fmt.Errorf("write document: %w", err))
	w.WriteNil(s)
}

func marshalOpaque(v any) ([]byte, error) {
	if m, ok := v.(document.Marshaler); ok {
		return m.MarshalSmithyDocument()
	}
	return json.Marshal(v)
}

// treeReader is a smithy.ShapeDeserializer over a value tree; the SDK's
// generated Deserialize methods drive it. Unlike the wire deserialiser it
// does not skip members the schema lacks: it reports them, with their path,
// because on this path an unknown member would be lost.
type treeReader struct {
	cur   *value // the value the next Read call consumes
	stack []rframe
	base  string // path prefix of the root, for messages
	// lenient skips members the schema lacks instead of failing: the CLI
	// keeps them, and checks only the types of the members the SDK knows.
	lenient bool
}

// readError is a treeReader failure: the member's path, what is wrong with
// it, and the value at fault (nil when there is none), whose position in
// the input a caller can report.
type readError struct {
	path string
	kind error // ErrInvalid or ErrUnknownField
	msg  string
	at   *value
}

func (e *readError) Error() string {
	if e.msg == "" {
		return e.path + ": " + e.kind.Error()
	}
	return e.path + ": " + e.kind.Error() + ": " + e.msg
}

func (e *readError) Unwrap() error { return e.kind }

// fail makes the readError for the value being read.
func (r *treeReader) fail(at *value, kind error, format string, args ...any) error {
	return &readError{path: r.path(), kind: kind, msg: fmt.Sprintf(format, args...), at: at}
}

type rkind uint8

const (
	rStruct rkind = iota
	rList
	rMap
	rUnion
)

type rframe struct {
	kind   rkind
	v      *value
	next   int // index of the next child
	schema *smithy.Schema
	name   string // key of the current child, for messages
}

var _ smithy.ShapeDeserializer = (*treeReader)(nil)

func newTreeReader(root *value) *treeReader { return &treeReader{cur: root} }

func newTreeReaderAt(root *value, path string) *treeReader {
	return &treeReader{cur: root, base: path}
}

// path names the value being read, such as containerDefinitions[2].cpu.
func (r *treeReader) path() string {
	var b strings.Builder
	b.WriteString(r.base)
	for _, f := range r.stack {
		if f.next == 0 {
			break
		}
		if f.kind == rList {
			fmt.Fprintf(&b, "[%d]", f.next-1)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(f.name)
	}
	if b.Len() == 0 {
		return "top level"
	}
	return b.String()
}

// take consumes the current value, which must be of kind k.
func (r *treeReader) take(k kind, want string) (*value, error) {
	v := r.cur
	if v == nil {
		return nil, r.fail(nil, ErrInvalid, "nothing left to read")
	}
	if v.kind != k {
		return nil, r.fail(v, ErrInvalid, "want %s, found %s", want, describeValue(v))
	}
	r.cur = nil
	return v, nil
}

func describeValue(v *value) string {
	switch v.kind {
	case kindArray, kindObject:
		return describeKind(v.kind)
	default:
		lit := v.lit
		if len(lit) > 40 {
			lit = lit[:37] + "..."
		}
		return v.kind.String() + " " + lit
	}
}

func (r *treeReader) ReadNil(*smithy.Schema) (bool, error) {
	if r.cur != nil && r.cur.kind == kindNull {
		r.cur = nil
		return true, nil
	}
	return false, nil
}

func (r *treeReader) readInt(minV, maxV int64) (int64, error) {
	v, err := r.take(kindNumber, "an integer")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v.lit, 10, 64)
	if err != nil || n < minV || n > maxV {
		return 0, r.fail(v, ErrInvalid, "want an integer from %d to %d, found %s", minV, maxV, v.lit)
	}
	return n, nil
}

func (r *treeReader) ReadInt8(_ *smithy.Schema, p *int8) error {
	n, err := r.readInt(math.MinInt8, math.MaxInt8)
	*p = int8(n)
	return err
}

func (r *treeReader) ReadInt16(_ *smithy.Schema, p *int16) error {
	n, err := r.readInt(math.MinInt16, math.MaxInt16)
	*p = int16(n)
	return err
}

func (r *treeReader) ReadInt32(_ *smithy.Schema, p *int32) error {
	n, err := r.readInt(math.MinInt32, math.MaxInt32)
	*p = int32(n)
	return err
}

func (r *treeReader) ReadInt64(_ *smithy.Schema, p *int64) error {
	n, err := r.readInt(math.MinInt64, math.MaxInt64)
	*p = n
	return err
}

func (r *treeReader) readFloat(bits int) (float64, error) {
	if r.cur != nil && r.cur.kind == kindString {
		v, _ := r.take(kindString, "")
		switch s := v.str(); {
		case strings.EqualFold(s, "NaN"):
			return math.NaN(), nil
		case strings.EqualFold(s, "Infinity"):
			return math.Inf(1), nil
		case strings.EqualFold(s, "-Infinity"):
			return math.Inf(-1), nil
		default:
			return 0, r.fail(v, ErrInvalid, "want a number, found string %s", v.lit)
		}
	}
	v, err := r.take(kindNumber, "a number")
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v.lit, bits)
	if err != nil {
		return 0, r.fail(v, ErrInvalid, "number %s out of range", v.lit)
	}
	return f, nil
}

func (r *treeReader) ReadFloat32(_ *smithy.Schema, p *float32) error {
	f, err := r.readFloat(32)
	*p = float32(f)
	return err
}

func (r *treeReader) ReadFloat64(_ *smithy.Schema, p *float64) error {
	f, err := r.readFloat(64)
	*p = f
	return err
}

func (r *treeReader) ReadBool(_ *smithy.Schema, p *bool) error {
	v, err := r.take(kindBool, "true or false")
	if err != nil {
		return err
	}
	*p = v.lit == "true"
	return nil
}

func (r *treeReader) ReadString(_ *smithy.Schema, p *string) error {
	v, err := r.take(kindString, "a string")
	if err != nil {
		return err
	}
	*p = v.str()
	return nil
}

func (r *treeReader) ReadBlob(_ *smithy.Schema, p *[]byte) error {
	v, err := r.take(kindString, "a base64 string")
	if err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(v.str())
	if err != nil {
		return r.fail(v, ErrInvalid, "not base64: %v", err)
	}
	*p = b
	return nil
}

// ReadTime accepts epoch seconds (the wire format) and date-time strings
// (what the AWS CLI prints), whatever the schema says, since input files
// come from either.
func (r *treeReader) ReadTime(_ *smithy.Schema, p *time.Time) error {
	if r.cur != nil && r.cur.kind == kindNumber {
		f, err := r.readFloat(64)
		*p = smithytime.ParseEpochSeconds(f)
		return err
	}
	v, err := r.take(kindString, "a timestamp")
	if err != nil {
		return err
	}
	t, err := smithytime.ParseDateTime(v.str())
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v.str()); err != nil {
			if t, err = smithytime.ParseHTTPDate(v.str()); err != nil {
				return r.fail(v, ErrInvalid, "not a timestamp: %s", v.lit)
			}
		}
	}
	*p = t
	return nil
}

func (r *treeReader) ReadBigInt(_ *smithy.Schema, p *big.Int) error {
	v, err := r.take(kindNumber, "an integer")
	if err != nil {
		return err
	}
	if _, ok := p.SetString(v.lit, 10); !ok {
		return r.fail(v, ErrInvalid, "want an integer, found %s", v.lit)
	}
	return nil
}

func (r *treeReader) ReadBigFloat(_ *smithy.Schema, p *big.Float) error {
	v, err := r.take(kindNumber, "a number")
	if err != nil {
		return err
	}
	if _, ok := p.SetString(v.lit); !ok {
		return r.fail(v, ErrInvalid, "want a number, found %s", v.lit)
	}
	return nil
}

// open starts reading an aggregate. null reads as an empty one, as the wire
// deserialiser treats a null member as absent.
func (r *treeReader) open(k rkind, want kind, s *smithy.Schema) error {
	if r.cur != nil && r.cur.kind == kindNull {
		r.cur = nil
		r.stack = append(r.stack, rframe{kind: k, v: &value{kind: want}, schema: s})
		return nil
	}
	v, err := r.take(want, describeKind(want))
	if err != nil {
		return err
	}
	r.stack = append(r.stack, rframe{kind: k, v: v, schema: s})
	return nil
}

func (r *treeReader) top(k rkind) (*rframe, error) {
	if len(r.stack) == 0 || r.stack[len(r.stack)-1].kind != k {
		return nil, fmt.Errorf("%s: unbalanced read", r.path())
	}
	return &r.stack[len(r.stack)-1], nil
}

func (r *treeReader) ReadStruct(s *smithy.Schema) error { return r.open(rStruct, kindObject, s) }

func (r *treeReader) ReadStructMember() (*smithy.Schema, error) {
	f, err := r.top(rStruct)
	if err != nil {
		return nil, err
	}
	return r.nextMember(f)
}

// nextMember moves to the next non-null member of the struct or union in f
// and returns its schema, or nil at the end.
func (r *treeReader) nextMember(f *rframe) (*smithy.Schema, error) {
	if r.cur != nil && f.next > 0 {
		// The schema has the member but the generated code did not read it.
		return nil, r.fail(r.cur, ErrUnknownField, "not read by the SDK")
	}
	for f.next < len(f.v.kids) {
		m := &f.v.kids[f.next]
		f.next++
		f.name = m.key
		if m.val.kind == kindNull {
			continue
		}
		var ms *smithy.Schema
		if f.schema != nil {
			ms = f.schema.Member(m.key)
		}
		if ms == nil {
			if r.lenient {
				continue
			}
			return nil, r.fail(&m.val, ErrUnknownField, "")
		}
		r.cur = &m.val
		return ms, nil
	}
	r.stack = r.stack[:len(r.stack)-1]
	return nil, nil
}

func (r *treeReader) ReadUnion(s *smithy.Schema) (*smithy.Schema, error) {
	if len(r.stack) == 0 || r.stack[len(r.stack)-1].kind != rUnion || r.stack[len(r.stack)-1].schema != s || r.cur != nil {
		if err := r.open(rUnion, kindObject, s); err != nil {
			return nil, err
		}
	}
	return r.nextMember(&r.stack[len(r.stack)-1])
}

func (r *treeReader) ReadDocument(_ *smithy.Schema, p *document.Value) error {
	v := r.cur
	if v == nil {
		return r.fail(nil, ErrInvalid, "nothing left to read")
	}
	r.cur = nil
	var out any
	dec := json.NewDecoder(strings.NewReader(string(appendCompact(nil, v))))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return r.fail(v, ErrInvalid, "%v", err)
	}
	*p = document.Opaque{Value: out}
	return nil
}

func (r *treeReader) ReadList(s *smithy.Schema) error { return r.open(rList, kindArray, s) }

// ReadListItem reports an item as present even on error: smithy.ReadList
// discards the error of a call that returns false.
func (r *treeReader) ReadListItem(*smithy.Schema) (bool, error) {
	f, err := r.top(rList)
	if err != nil {
		return true, err
	}
	if f.next < len(f.v.kids) {
		r.cur = &f.v.kids[f.next].val
		f.next++
		return true, nil
	}
	r.stack = r.stack[:len(r.stack)-1]
	return false, nil
}

func (r *treeReader) ReadMap(s *smithy.Schema) error { return r.open(rMap, kindObject, s) }

func (r *treeReader) ReadMapKey(*smithy.Schema) (string, bool, error) {
	f, err := r.top(rMap)
	if err != nil {
		return "", true, err
	}
	if f.next < len(f.v.kids) {
		m := &f.v.kids[f.next]
		f.next++
		f.name = m.key
		r.cur = &m.val
		return m.key, true, nil
	}
	r.stack = r.stack[:len(r.stack)-1]
	return "", false, nil
}
