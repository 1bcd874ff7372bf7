package eventsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidPattern is wrapped by every error ParsePattern returns.
var ErrInvalidPattern = errors.New("event pattern is not valid")

// maxAlternatives bounds how many alternatives $or may expand a pattern
// into, so that a hostile pattern cannot make matching explode.
const maxAlternatives = 1024

// Pattern is a compiled EventBridge event pattern.
//
// Matching follows EventBridge (its event-ruler engine): a pattern names
// fields by path (nested objects, or dotted keys, which are the same path);
// every field in the pattern must match (AND) and a field matches if any of
// its listed conditions does (OR). Values are matched against the event's
// leaf values: an array in the event matches if any element does, arrays of
// objects are searched element by element, and the values chosen for
// different fields must come from the same element of any array they share
// ("array consistency"). Conditions are literal strings, numbers, booleans
// and null, and the operators prefix and suffix (each also with
// equals-ignore-case), equals-ignore-case, wildcard, anything-but (a value,
// a list, or prefix/suffix/equals-ignore-case/wildcard), numeric ranges,
// exists, and cidr; $or combines alternative sets of fields at any level.
//
// Where event-ruler's behaviour is less documented, Pattern decides so:
// exists:false matches when the path has no leaf value anywhere in the event
// (an object or empty array at the path counts as absent, as documented);
// anything-but needs the field to be present; an empty object anywhere in a
// pattern is refused.
type Pattern struct {
	source string
	alts   []alternative
}

// alternative is one conjunction of field conditions; a pattern matches if
// any of its alternatives does.
type alternative []fieldCond

// fieldCond holds the conditions on one path; any may match.
type fieldCond struct {
	path     string
	absentOK bool // exists:false is among the conditions
	conds    []condition
}

// condition tests one leaf value of the event.
type condition interface {
	matches(v value) bool
}

// ParsePattern compiles an event pattern, refusing it as EventBridge's
// PutRule does with a reason naming the offending part.
func ParsePattern(pattern string) (*Pattern, error) {
	dec := json.NewDecoder(strings.NewReader(pattern))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, invalidPattern("Filter is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalidPattern("Filter is not valid JSON: data after the top-level object")
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, invalidPattern("Filter is not an object")
	}
	alts, err := compileObject(obj, "", []alternative{{}})
	if err != nil {
		return nil, err
	}
	for _, a := range alts {
		sort.SliceStable(a, func(i, j int) bool { return a[i].path < a[j].path })
	}
	return &Pattern{source: pattern, alts: alts}, nil
}

func invalidPattern(format string, args ...any) error {
	return fmt.Errorf("%w. Reason: %s", ErrInvalidPattern, fmt.Sprintf(format, args...))
}

// String returns the pattern as it was given.
func (p *Pattern) String() string { return p.source }

// compileObject adds the fields of obj (at path prefix) to every
// alternative in alts, expanding $or.
func compileObject(obj map[string]any, prefix string, alts []alternative) ([]alternative, error) {
	if len(obj) == 0 {
		if prefix == "" {
			return nil, invalidPattern("Filter is empty")
		}
		return nil, invalidPattern("%q must not be an empty object", prefix)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		val := obj[key]
		if key == "$or" {
			branches, ok := val.([]any)
			if !ok || len(branches) < 2 {
				return nil, invalidPattern("$or must be an array of at least two objects")
			}
			var next []alternative
			for _, b := range branches {
				bo, ok := b.(map[string]any)
				if !ok {
					return nil, invalidPattern("$or must be an array of at least two objects")
				}
				expanded, err := compileObject(bo, prefix, cloneAlternatives(alts))
				if err != nil {
					return nil, err
				}
				next = append(next, expanded...)
				if len(next) > maxAlternatives {
					return nil, invalidPattern("Rule is too complex: $or expands to more than %d alternatives", maxAlternatives)
				}
			}
			alts = next
			continue
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		switch v := val.(type) {
		case map[string]any:
			var err error
			if alts, err = compileObject(v, path, alts); err != nil {
				return nil, err
			}
		case []any:
			fc, err := compileField(path, v)
			if err != nil {
				return nil, err
			}
			for i := range alts {
				alts[i] = append(alts[i], fc)
			}
		default:
			return nil, invalidPattern("%q must be an object or an array", path)
		}
	}
	return alts, nil
}

func cloneAlternatives(alts []alternative) []alternative {
	out := make([]alternative, len(alts))
	for i, a := range alts {
		out[i] = append(alternative(nil), a...)
	}
	return out
}

func compileField(path string, list []any) (fieldCond, error) {
	if len(list) == 0 {
		return fieldCond{}, invalidPattern("Empty arrays are not allowed (at %q)", path)
	}
	fc := fieldCond{path: path}
	for _, item := range list {
		switch v := item.(type) {
		case nil:
			fc.conds = append(fc.conds, exactCond{value{kind: kindNull}})
		case bool:
			fc.conds = append(fc.conds, exactCond{value{kind: kindBool, b: v}})
		case string:
			fc.conds = append(fc.conds, exactCond{value{kind: kindString, s: v}})
		case json.Number:
			n, err := parseNumber(v)
			if err != nil {
				return fieldCond{}, invalidPattern("%v (at %q)", err, path)
			}
			fc.conds = append(fc.conds, exactCond{value{kind: kindNumber, n: n}})
		case map[string]any:
			if exists, ok := v["exists"]; ok && len(v) == 1 {
				b, ok := exists.(bool)
				if !ok {
					return fieldCond{}, invalidPattern("exists match pattern must be either true or false (at %q)", path)
				}
				if b {
					fc.conds = append(fc.conds, existsCond{})
				} else {
					fc.absentOK = true
				}
				continue
			}
			c, err := compileOperator(v)
			if err != nil {
				return fieldCond{}, fmt.Errorf("%w (at %q)", err, path)
			}
			fc.conds = append(fc.conds, c)
		default:
			return fieldCond{}, invalidPattern("Match value must be String, number, true, false, or null (at %q)", path)
		}
	}
	return fc, nil
}

func compileOperator(op map[string]any) (condition, error) {
	if len(op) != 1 {
		return nil, invalidPattern("Only one key allowed in match expression")
	}
	var name string
	var arg any
	for name, arg = range op {
	}
	switch name {
	case "prefix", "suffix":
		return compileAffix(name, arg)
	case "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return nil, invalidPattern("equals-ignore-case match pattern must be a string")
		}
		return foldCond{[]string{s}}, nil
	case "wildcard":
		s, ok := arg.(string)
		if !ok {
			return nil, invalidPattern("wildcard match pattern must be a string")
		}
		return compileWildcard(s)
	case "anything-but":
		return compileAnythingBut(arg)
	case "numeric":
		return compileNumeric(arg)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return nil, invalidPattern("cidr match pattern must be a string")
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, invalidPattern("Malformed CIDR %q", s)
		}
		return cidrCond{p.Masked()}, nil
	case "exists":
		return nil, invalidPattern("exists match pattern must be either true or false")
	}
	return nil, invalidPattern("Unrecognized match type %s", name)
}

func compileAffix(name string, arg any) (condition, error) {
	suffix := name == "suffix"
	switch v := arg.(type) {
	case string:
		return affixCond{s: v, suffix: suffix}, nil
	case map[string]any:
		if s, ok := v["equals-ignore-case"].(string); ok && len(v) == 1 {
			return affixCond{s: strings.ToLower(s), suffix: suffix, fold: true}, nil
		}
	}
	return nil, invalidPattern("%s match pattern must be a string or {\"equals-ignore-case\": string}", name)
}

func compileAnythingBut(arg any) (condition, error) {
	switch v := arg.(type) {
	case string:
		return notCond{exactCond{value{kind: kindString, s: v}}}, nil
	case json.Number:
		n, err := parseNumber(v)
		if err != nil {
			return nil, invalidPattern("%v", err)
		}
		return notCond{exactCond{value{kind: kindNumber, n: n}}}, nil
	case []any:
		if len(v) == 0 {
			return nil, invalidPattern("Empty arrays are not allowed in anything-but")
		}
		var alts anyCond
		var strs, nums int
		for _, item := range v {
			switch x := item.(type) {
			case string:
				strs++
				alts = append(alts, exactCond{value{kind: kindString, s: x}})
			case json.Number:
				nums++
				n, err := parseNumber(x)
				if err != nil {
					return nil, invalidPattern("%v", err)
				}
				alts = append(alts, exactCond{value{kind: kindNumber, n: n}})
			default:
				return nil, invalidPattern("Inside anything-but list, only strings or only numbers are allowed")
			}
		}
		if strs > 0 && nums > 0 {
			return nil, invalidPattern("Inside anything-but list, only strings or only numbers are allowed")
		}
		return notCond{alts}, nil
	case map[string]any:
		if len(v) != 1 {
			return nil, invalidPattern("Only one key allowed in anything-but match expression")
		}
		var name string
		var inner any
		for name, inner = range v {
		}
		switch name {
		case "prefix", "suffix":
			s, ok := inner.(string)
			if !ok {
				return nil, invalidPattern("anything-but %s must be a string", name)
			}
			return notCond{affixCond{s: s, suffix: name == "suffix"}}, nil
		case "equals-ignore-case":
			strs, ok := stringOrStrings(inner)
			if !ok {
				return nil, invalidPattern("anything-but %s must be a string or an array of strings", name)
			}
			return notCond{foldCond{strs}}, nil
		case "wildcard":
			strs, ok := stringOrStrings(inner)
			if !ok {
				return nil, invalidPattern("anything-but %s must be a string or an array of strings", name)
			}
			var alts anyCond
			for _, s := range strs {
				w, err := compileWildcard(s)
				if err != nil {
					return nil, err
				}
				alts = append(alts, w)
			}
			return notCond{alts}, nil
		}
		return nil, invalidPattern("Unsupported anything-but pattern: %s", name)
	}
	return nil, invalidPattern("Value of anything-but must be an array or single string/number value")
}

func stringOrStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		if len(x) == 0 {
			return nil, false
		}
		out := make([]string, len(x))
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// compileNumeric reads ["op", n] or [">"/">=", n, "<"/"<=", m].
func compileNumeric(arg any) (condition, error) {
	list, ok := arg.([]any)
	if !ok {
		return nil, invalidPattern("Value of numeric must be an array")
	}
	if len(list) != 2 && len(list) != 4 {
		return nil, invalidPattern("numeric takes [operator, number] or [lower operator, number, upper operator, number]")
	}
	c := numericCond{lower: math.Inf(-1), upper: math.Inf(1), lowerOpen: true, upperOpen: true}
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		if !ok {
			return nil, invalidPattern("Invalid member in numeric match: %v", list[i])
		}
		num, ok := list[i+1].(json.Number)
		if !ok {
			return nil, invalidPattern("Value of %s must be numeric", op)
		}
		n, err := parseNumber(num)
		if err != nil {
			return nil, invalidPattern("%v", err)
		}
		if i == 2 && op != "<" && op != "<=" {
			return nil, invalidPattern("Bad numeric range operator: %s", op)
		}
		if len(list) == 4 && i == 0 && op != ">" && op != ">=" {
			return nil, invalidPattern("Bad numeric range operator: %s", op)
		}
		switch op {
		case "=":
			c.lower, c.upper, c.lowerOpen, c.upperOpen = n, n, false, false
		case ">":
			c.lower, c.lowerOpen = n, true
		case ">=":
			c.lower, c.lowerOpen = n, false
		case "<":
			c.upper, c.upperOpen = n, true
		case "<=":
			c.upper, c.upperOpen = n, false
		default:
			return nil, invalidPattern("Unrecognized numeric range operator: %s", op)
		}
	}
	if len(list) == 4 && c.upper <= c.lower {
		return nil, invalidPattern("Bottom must be less than top")
	}
	return c, nil
}

func parseNumber(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("number %s is out of range", n)
	}
	return f, nil
}

// compileWildcard splits a wildcard pattern into literal segments around
// unescaped '*'. "\*" is a literal star, "\\" a literal backslash; any other
// escape and consecutive stars are refused, as by EventBridge.
func compileWildcard(p string) (wildcardCond, error) {
	var w wildcardCond
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if prevStar {
				return wildcardCond{}, invalidPattern("Consecutive wildcard characters at pos %d", i)
			}
			w.segments = append(w.segments, cur.String())
			cur.Reset()
			prevStar = true
			continue
		case '\\':
			if i+1 >= len(p) || (p[i+1] != '*' && p[i+1] != '\\') {
				return wildcardCond{}, invalidPattern("Invalid escape character at pos %d", i)
			}
			i++
			cur.WriteByte(p[i])
		default:
			cur.WriteByte(c)
		}
		prevStar = false
	}
	w.segments = append(w.segments, cur.String())
	return w, nil
}

// Match reports whether an event (JSON text) matches the pattern. It fails
// only if the event is not a JSON object.
func (p *Pattern) Match(event []byte) (bool, error) {
	paths := pathSet{}
	p.addPaths(paths)
	ev, err := decodeEvent(event, paths)
	if err != nil {
		return false, err
	}
	return p.matchEvent(ev), nil
}

// pathSet holds the paths patterns test and every prefix of them, so that
// flattening an event skips what no pattern looks at.
type pathSet map[string]bool

func (p *Pattern) addPaths(set pathSet) {
	for _, a := range p.alts {
		for _, fc := range a {
			for i := 0; i < len(fc.path); i++ {
				if fc.path[i] == '.' {
					set[fc.path[:i]] = true
				}
			}
			set[fc.path] = true
		}
	}
}

func decodeEvent(event []byte, paths pathSet) (flatEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("decode event: not a JSON object")
	}
	return flatten(obj, paths), nil
}

func (p *Pattern) matchEvent(ev flatEvent) bool {
	for _, a := range p.alts {
		if a.matches(ev) {
			return true
		}
	}
	return false
}

// matches finds, for every field, a leaf satisfying it, such that the chosen
// leaves are array-consistent; fields satisfied by absence take no leaf.
func (a alternative) matches(ev flatEvent) bool {
	var candidates [][]*leaf
	for _, fc := range a {
		leaves := ev[fc.path]
		if len(leaves) == 0 {
			if fc.absentOK {
				continue
			}
			return false
		}
		var ok []*leaf
		for _, l := range leaves {
			for _, c := range fc.conds {
				if c.matches(l.v) {
					ok = append(ok, l)
					break
				}
			}
		}
		if len(ok) == 0 {
			return false
		}
		candidates = append(candidates, ok)
	}
	chosen := make([]*leaf, 0, len(candidates))
	var search func(i int) bool
	search = func(i int) bool {
		if i == len(candidates) {
			return true
		}
		for _, l := range candidates[i] {
			if consistentWith(l, chosen) {
				chosen = append(chosen, l)
				if search(i + 1) {
					return true
				}
				chosen = chosen[:len(chosen)-1]
			}
		}
		return false
	}
	return search(0)
}

func consistentWith(l *leaf, chosen []*leaf) bool {
	for _, c := range chosen {
		for _, x := range l.trail {
			for _, y := range c.trail {
				if x.array == y.array && x.index != y.index {
					return false
				}
			}
		}
	}
	return true
}

// Leaf values of an event.

type valueKind int

const (
	kindString valueKind = iota
	kindNumber
	kindBool
	kindNull
)

type value struct {
	kind valueKind
	s    string
	n    float64
	b    bool
}

// arrayPos places a leaf in one array of the event.
type arrayPos struct{ array, index int }

type leaf struct {
	v     value
	trail []arrayPos
}

// flatEvent maps dotted paths to the leaf values found there.
type flatEvent map[string][]*leaf

// flatten collects the leaves of obj at the paths in want.
func flatten(obj map[string]any, want pathSet) flatEvent {
	ev := flatEvent{}
	arrays := 0
	var walk func(v any, path string, trail []arrayPos)
	walk = func(v any, path string, trail []arrayPos) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if want[p] {
					walk(child, p, trail)
				}
			}
		case []any:
			id := arrays
			arrays++
			for i, child := range x {
				t := append(append([]arrayPos(nil), trail...), arrayPos{id, i})
				walk(child, path, t)
			}
		case string:
			ev[path] = append(ev[path], &leaf{v: value{kind: kindString, s: x}, trail: trail})
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return // beyond float64: matches nothing numeric
			}
			ev[path] = append(ev[path], &leaf{v: value{kind: kindNumber, n: f}, trail: trail})
		case bool:
			ev[path] = append(ev[path], &leaf{v: value{kind: kindBool, b: x}, trail: trail})
		case nil:
			ev[path] = append(ev[path], &leaf{v: value{kind: kindNull}, trail: trail})
		}
	}
	walk(obj, "", nil)
	return ev
}

// Conditions.

type exactCond struct{ want value }

func (c exactCond) matches(v value) bool {
	if v.kind != c.want.kind {
		return false
	}
	switch v.kind {
	case kindString:
		return v.s == c.want.s
	case kindNumber:
		return v.n == c.want.n
	case kindBool:
		return v.b == c.want.b
	}
	return true
}

type existsCond struct{}

func (existsCond) matches(value) bool { return true }

type affixCond struct {
	s      string
	suffix bool
	fold   bool // s is lower case; compare case-insensitively
}

func (c affixCond) matches(v value) bool {
	if v.kind != kindString {
		return false
	}
	s := v.s
	if c.fold {
		s = strings.ToLower(s)
	}
	if c.suffix {
		return strings.HasSuffix(s, c.s)
	}
	return strings.HasPrefix(s, c.s)
}

type foldCond struct{ any []string }

func (c foldCond) matches(v value) bool {
	if v.kind != kindString {
		return false
	}
	for _, s := range c.any {
		if strings.EqualFold(v.s, s) {
			return true
		}
	}
	return false
}

type wildcardCond struct{ segments []string }

// matches is glob matching where only '*' is special; segments are the
// literal runs between stars.
func (c wildcardCond) matches(v value) bool {
	if v.kind != kindString {
		return false
	}
	s, segs := v.s, c.segments
	if len(segs) == 1 {
		return s == segs[0]
	}
	if !strings.HasPrefix(s, segs[0]) {
		return false
	}
	s = s[len(segs[0]):]
	last := segs[len(segs)-1]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(s, seg)
		if i < 0 {
			return false
		}
		s = s[i+len(seg):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

type numericCond struct {
	lower, upper         float64
	lowerOpen, upperOpen bool
}

func (c numericCond) matches(v value) bool {
	if v.kind != kindNumber {
		return false
	}
	if v.n < c.lower || (c.lowerOpen && v.n == c.lower) {
		return false
	}
	if v.n > c.upper || (c.upperOpen && v.n == c.upper) {
		return false
	}
	return true
}

type cidrCond struct{ prefix netip.Prefix }

func (c cidrCond) matches(v value) bool {
	if v.kind != kindString {
		return false
	}
	addr, err := netip.ParseAddr(v.s)
	return err == nil && c.prefix.Contains(addr.Unmap())
}

type anyCond []condition

func (c anyCond) matches(v value) bool {
	for _, x := range c {
		if x.matches(v) {
			return true
		}
	}
	return false
}

// notCond is anything-but: a present value that the inner condition does not
// match.
type notCond struct{ inner condition }

func (c notCond) matches(v value) bool { return !c.inner.matches(v) }
