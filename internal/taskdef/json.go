package taskdef

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The task definition is held as a tree of JSON values that remember their
// literal text, rather than as Go structs or map[string]any, because the CLI
// path must give back every field exactly as written: fields no SDK release
// knows yet, the order of keys, numbers beyond float64 precision and string
// escapes.

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	default:
		return "object"
	}
}

// value is one JSON value. Values are never modified once built, so documents
// derived from one another share them freely.
type value struct {
	kind kind
	// pos is 1 + the byte offset of the value in the decoded input, 0 for a
	// value built in code.
	pos int32
	// lit is the literal text of a scalar; a string keeps its quotes and its
	// escapes as written.
	lit string
	// kids holds array elements (key unused) or object members, in order.
	kids []member
}

type member struct {
	key    string // decoded
	keyLit string // as written, quotes included
	val    value
}

func stringValue(s string) value {
	return value{kind: kindString, lit: string(appendQuoted(nil, s))}
}

func newMember(key string, v value) member {
	return member{key: key, keyLit: string(appendQuoted(nil, key)), val: v}
}

// str returns the decoded text of a string value.
func (v *value) str() string { return unquote(v.lit) }

// index returns the position of the member named key in an object, or -1.
func (v *value) index(key string) int {
	for i := range v.kids {
		if v.kids[i].key == key {
			return i
		}
	}
	return -1
}

// get returns the member named key of an object, or nil.
func (v *value) get(key string) *value {
	if i := v.index(key); i >= 0 {
		return &v.kids[i].val
	}
	return nil
}

// finder returns a lookup for the members of the object v: a scan for a
// small object, a map for a large one, so that comparing two large objects
// stays linear.
func (v *value) finder() func(string) *value {
	const linear = 32
	if len(v.kids) <= linear {
		return v.get
	}
	m := make(map[string]*value, len(v.kids))
	for i := range v.kids {
		if _, dup := m[v.kids[i].key]; !dup {
			m[v.kids[i].key] = &v.kids[i].val
		}
	}
	return func(key string) *value { return m[key] }
}

// with returns a copy of the object v in which the member key has the value
// nv, appended when v had no such member.
func (v value) with(key string, nv value) value {
	kids := slices.Clone(v.kids)
	if i := v.index(key); i >= 0 {
		kids[i].val = nv
	} else {
		kids = append(kids, newMember(key, nv))
	}
	v.kids = kids
	return v
}

// equal reports whether two values are the same JSON: object members are
// compared by key regardless of order, scalars by literal text after
// decoding strings, numbers by their literal.
func (v *value) equal(w *value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case kindString:
		return v.lit == w.lit || v.str() == w.str()
	case kindArray:
		if len(v.kids) != len(w.kids) {
			return false
		}
		for i := range v.kids {
			if !v.kids[i].val.equal(&w.kids[i].val) {
				return false
			}
		}
		return true
	case kindObject:
		if len(v.kids) != len(w.kids) {
			return false
		}
		find := w.finder()
		for i := range v.kids {
			o := find(v.kids[i].key)
			if o == nil || !v.kids[i].val.equal(o) {
				return false
			}
		}
		return true
	default:
		return v.lit == w.lit
	}
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack; real
// task definitions nest fewer than ten levels.
const maxDepth = 512

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// position turns a byte offset into a 1-based line and column (in
// characters) for error messages.
func position(src string, off int) (line, col int) {
	off = min(off, len(src))
	prefix := src[:off]
	line = 1 + strings.Count(prefix, "\n")
	lineStart := strings.LastIndexByte(prefix, '\n') + 1
	return line, 1 + utf8.RuneCountInString(prefix[lineStart:])
}

type parser struct {
	src   string
	i     int
	depth int
	// scratch collects the children of the arrays and objects being parsed;
	// each gets an exactly sized copy when it closes, which saves the
	// regrowth of appending to every kids slice.
	scratch []member
	// slab holds those copies, sub-slices of it, while it has room: one
	// allocation instead of one per container for any task definition.
	// It never grows (that would move what earlier copies point into);
	// once full, a container gets a copy of its own.
	slab []member
}

// memberBound is the slab's capacity: an upper bound of the members and
// elements of all the objects and arrays of src (a container of n
// children has n-1 commas, so children are at most commas plus
// containers), capped so that text which only looks like many members (a
// long string of commas) costs no large allocation.
func memberBound(src string) int {
	const maxSlab = 1 << 13 // far above a task definition's few hundred members
	return min(maxSlab, strings.Count(src, ",")+strings.Count(src, "{")+strings.Count(src, "["))
}

// parseJSON parses one JSON text. Duplicate object keys are an error: which
// of two values ECS would take is a guess, and a rewrite must not guess.
func parseJSON(src string) (value, error) {
	p := parser{src: src, scratch: make([]member, 0, 64), slab: make([]member, 0, memberBound(src))}
	if strings.HasPrefix(src, "\uFEFF") {
		p.i = len("\uFEFF")
	}
	p.skipSpace()
	if p.i == len(p.src) {
		return value{}, &syntaxError{off: p.i, msg: "no JSON value"}
	}
	v, err := p.value()
	if err != nil {
		return value{}, err
	}
	p.skipSpace()
	if p.i < len(p.src) {
		return value{}, p.errorf("unexpected %s after the top-level value", p.describe())
	}
	return v, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &syntaxError{off: p.i, msg: fmt.Sprintf(format, args...)}
}

// describe names the character at the cursor for an error message.
func (p *parser) describe() string {
	if p.i >= len(p.src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.i:])
	return strconv.QuoteRune(r)
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (value, error) {
	if p.i >= len(p.src) {
		return value{}, p.errorf("unexpected end of input, expected a value")
	}
	start := p.i
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		lit, _, err := p.string()
		return value{kind: kindString, pos: int32(start + 1), lit: lit}, err
	case c == '-' || (c >= '0' && c <= '9'):
		lit, err := p.number()
		return value{kind: kindNumber, pos: int32(start + 1), lit: lit}, err
	case c == 't':
		return p.literal("true", kindBool)
	case c == 'f':
		return p.literal("false", kindBool)
	case c == 'n':
		return p.literal("null", kindNull)
	default:
		return value{}, p.errorf("unexpected %s, expected a value", p.describe())
	}
}

func (p *parser) literal(word string, k kind) (value, error) {
	if !strings.HasPrefix(p.src[p.i:], word) {
		return value{}, p.errorf("unexpected %s, expected a value", p.describe())
	}
	v := value{kind: k, pos: int32(p.i + 1), lit: word}
	p.i += len(word)
	return v, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) object() (value, error) {
	var seen map[string]struct{}
	return p.container(kindObject, '}', func(first int) error {
		if p.i >= len(p.src) || p.src[p.i] != '"' {
			return p.errorf("unexpected %s, expected a string key", p.describe())
		}
		keyAt := p.i
		keyLit, escaped, err := p.string()
		if err != nil {
			return err
		}
		key := keyLit[1 : len(keyLit)-1]
		if escaped {
			key = unquote(keyLit)
		}
		if hasKey(p.scratch[first:], &seen, key) {
			p.i = keyAt
			return p.errorf("duplicate key %q", key)
		}
		p.skipSpace()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return p.errorf("unexpected %s after key %q, expected ':'", p.describe(), key)
		}
		p.i++
		p.skipSpace()
		val, err := p.value()
		if err != nil {
			return err
		}
		p.scratch = append(p.scratch, member{key: key, keyLit: keyLit, val: val})
		return nil
	})
}

func (p *parser) array() (value, error) {
	return p.container(kindArray, ']', func(int) error {
		val, err := p.value()
		if err != nil {
			return err
		}
		p.scratch = append(p.scratch, member{val: val})
		return nil
	})
}

// container parses an object or an array from its opening bracket to
// closing. elem reads one member or element at the cursor and appends it to
// p.scratch, where this container's children begin at index first.
func (p *parser) container(k kind, closing byte, elem func(first int) error) (value, error) {
	v := value{kind: k, pos: int32(p.i + 1)}
	if err := p.enter(); err != nil {
		return value{}, err
	}
	defer func() { p.depth-- }()
	p.i++ // { or [
	p.skipSpace()
	if p.i < len(p.src) && p.src[p.i] == closing {
		p.i++
		return v, nil
	}
	first := len(p.scratch)
	defer func() { p.scratch = p.scratch[:first] }()
	for {
		p.skipSpace()
		if err := elem(first); err != nil {
			return value{}, err
		}
		p.skipSpace()
		if p.i >= len(p.src) {
			return value{}, p.errorf("unexpected end of input in an %s, expected ',' or '%c'", k, closing)
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case closing:
			p.i++
			kids := p.scratch[first:]
			if start := len(p.slab); start+len(kids) <= cap(p.slab) {
				p.slab = append(p.slab, kids...)
				v.kids = p.slab[start:len(p.slab):len(p.slab)]
			} else {
				v.kids = slices.Clone(kids)
			}
			return v, nil
		default:
			return value{}, p.errorf("unexpected %s in an %s, expected ',' or '%c'", p.describe(), k, closing)
		}
	}
}

// hasKey reports whether key is among kids, switching to a set once an
// object is large enough for a linear scan to cost more.
func hasKey(kids []member, seen *map[string]struct{}, key string) bool {
	const linear = 64
	if len(kids) < linear {
		for i := range kids {
			if kids[i].key == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(kids))
		for i := range kids {
			(*seen)[kids[i].key] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// string scans a string literal and reports whether it holds escapes.
func (p *parser) string() (lit string, escaped bool, err error) {
	start := p.i
	p.i++ // opening quote
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == '"':
			p.i++
			return p.src[start:p.i], escaped, nil
		case c == '\\':
			escaped = true
			if p.i+1 >= len(p.src) {
				p.i++
				return "", false, p.errorf("unexpected end of input in a string")
			}
			switch p.src[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.src) || !isHex4(p.src[p.i+2:p.i+6]) {
					return "", false, p.errorf("invalid \\u escape in a string")
				}
				p.i += 6
			default:
				return "", false, p.errorf("invalid escape sequence in a string")
			}
		case c < 0x20:
			return "", false, p.errorf("control character %U in a string (write it as an escape)", rune(c))
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false, p.errorf("invalid UTF-8 in a string")
			}
			p.i += size
		}
	}
	return "", false, p.errorf("unexpected end of input in a string")
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *parser) number() (string, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.src) && p.src[p.i] >= '0' && p.src[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.src[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.src) && p.src[p.i] == '0':
		p.i++
	case digits() == 0:
		return "", p.errorf("unexpected %s in a number, expected a digit", p.describe())
	}
	if p.i < len(p.src) && p.src[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return "", p.errorf("unexpected %s after a decimal point, expected a digit", p.describe())
		}
	}
	if p.i < len(p.src) && (p.src[p.i] == 'e' || p.src[p.i] == 'E') {
		p.i++
		if p.i < len(p.src) && (p.src[p.i] == '+' || p.src[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return "", p.errorf("unexpected %s in an exponent, expected a digit", p.describe())
		}
	}
	return p.src[start:p.i], nil
}

// unquote decodes a string literal the parser accepted or appendQuoted wrote.
// Lone surrogates become U+FFFD, as encoding/json does.
func unquote(lit string) string {
	s := lit[1 : len(lit)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := hex4(s[i+2 : i+6]); utf16.DecodeRune(r, r2) != utf8.RuneError {
						b = utf8.AppendRune(b, utf16.DecodeRune(r, r2))
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, s[i+1])
		}
		i += 2
	}
	return string(b)
}

func hex4(s string) rune {
	n, _ := strconv.ParseUint(s, 16, 32)
	return rune(n)
}

// appendQuoted writes s as a JSON string. Unlike encoding/json it leaves <, >
// and & alone: the output is read by people and the AWS CLI, not browsers.
func appendQuoted(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendIndented writes v with two-space indentation, the layout of
// json.MarshalIndent and of the AWS CLI's JSON output.
func appendIndented(b []byte, v *value, depth int) []byte {
	return appendValue(b, v, true, depth)
}

// appendCompact writes v on one line, for diffs and for handing a value to
// encoding/json.
func appendCompact(b []byte, v *value) []byte {
	return appendValue(b, v, false, 0)
}

// appendValue writes v, indented at depth or on one line: one walk, so the
// two layouts cannot disagree on anything but whitespace.
func appendValue(b []byte, v *value, indent bool, depth int) []byte {
	switch v.kind {
	case kindArray, kindObject:
		open, closing := byte('['), byte(']')
		if v.kind == kindObject {
			open, closing = '{', '}'
		}
		b = append(b, open)
		if len(v.kids) == 0 {
			return append(b, closing)
		}
		for i := range v.kids {
			if i > 0 {
				b = append(b, ',')
			}
			if indent {
				b = appendNewline(b, depth+1)
			}
			if v.kind == kindObject {
				b = append(b, v.kids[i].keyLit...)
				b = append(b, ':')
				if indent {
					b = append(b, ' ')
				}
			}
			b = appendValue(b, &v.kids[i].val, indent, depth+1)
		}
		if indent {
			b = appendNewline(b, depth)
		}
		return append(b, closing)
	default:
		return append(b, v.lit...)
	}
}

func appendNewline(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, ' ', ' ')
	}
	return b
}
