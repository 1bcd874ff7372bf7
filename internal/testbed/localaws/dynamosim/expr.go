package dynamosim

import (
	"fmt"
	"strings"
	"unicode"
)

// The expression language subset pullheal's coordination needs, plus what a
// careful user of conditional writes reaches for: comparisons, AND/OR/NOT,
// parentheses, BETWEEN, IN, attribute_exists, attribute_not_exists,
// begins_with, and in updates SET (with + and - on numbers and
// if_not_exists) and REMOVE. Paths are top-level attribute names.

type token struct {
	kind string // "ident", "name" (#x), "value" (:x), "op", "(", ")", ","
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, token{kind: string(c), text: string(c), pos: i})
			i++
		case c == '=' || c == '+' || c == '-':
			toks = append(toks, token{kind: "op", text: string(c), pos: i})
			i++
		case c == '<' || c == '>':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '<' && s[j] == '>')) {
				j++
			}
			toks = append(toks, token{kind: "op", text: s[i:j], pos: i})
			i = j
		case c == '#' || c == ':' || c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			kind := "ident"
			if c == '#' {
				kind = "name"
			} else if c == ':' {
				kind = "value"
			}
			if j == i+1 && kind != "ident" {
				return nil, fmt.Errorf("invalid token at position %d", i)
			}
			toks = append(toks, token{kind: kind, text: s[i:j], pos: i})
			i = j
		default:
			return nil, fmt.Errorf("invalid character %q at position %d", c, i)
		}
	}
	return toks, nil
}

// env resolves #names and :values of one request.
type env struct {
	names  map[string]string
	values map[string]attr
	used   map[string]bool
}

func (e *env) name(t token) (string, error) {
	switch t.kind {
	case "name":
		n, ok := e.names[t.text]
		if !ok {
			return "", fmt.Errorf("an expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		e.used[t.text] = true
		return n, nil
	case "ident":
		if reserved[strings.ToUpper(t.text)] {
			return "", fmt.Errorf("attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		return t.text, nil
	}
	return "", fmt.Errorf("expected an attribute name at position %d, got %q", t.pos, t.text)
}

func (e *env) value(t token) (attr, error) {
	v, ok := e.values[t.text]
	if !ok {
		return attr{}, fmt.Errorf("an expression attribute value used in expression is not defined; attribute value: %s", t.text)
	}
	e.used[t.text] = true
	return v, nil
}

// reserved lists the DynamoDB reserved words that pullheal's own attribute
// names could collide with; the real list is far longer, and a request
// that uses one bare is refused the same way.
var reserved = map[string]bool{"STATUS": true, "NAME": true, "OWNER": true, "STATE": true, "TTL": true, "DATA": true, "KEY": true, "VALUE": true, "TIMESTAMP": true, "SIZE": true}

type parser struct {
	toks []token
	i    int
	env  *env
	item map[string]attr
}

func (p *parser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *parser) next() (token, error) {
	t, ok := p.peek()
	if !ok {
		return token{}, fmt.Errorf("unexpected end of expression")
	}
	p.i++
	return t, nil
}

func (p *parser) keyword(w string) bool {
	t, ok := p.peek()
	if ok && t.kind == "ident" && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(kind string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.kind != kind {
		return fmt.Errorf("expected %q at position %d, got %q", kind, t.pos, t.text)
	}
	return nil
}

// evalCondition evaluates a condition expression against item (nil when
// the item does not exist).
func evalCondition(expr string, e *env, item map[string]attr) (bool, error) {
	toks, err := lex(expr)
	if err != nil {
		return false, err
	}
	p := &parser{toks: toks, env: e, item: item}
	ok, err := p.or()
	if err != nil {
		return false, err
	}
	if t, more := p.peek(); more {
		return false, fmt.Errorf("unexpected %q at position %d", t.text, t.pos)
	}
	return ok, nil
}

func (p *parser) or() (bool, error) {
	v, err := p.and()
	if err != nil {
		return false, err
	}
	for p.keyword("OR") {
		w, err := p.and()
		if err != nil {
			return false, err
		}
		v = v || w
	}
	return v, nil
}

func (p *parser) and() (bool, error) {
	v, err := p.not()
	if err != nil {
		return false, err
	}
	for p.keyword("AND") {
		w, err := p.not()
		if err != nil {
			return false, err
		}
		v = v && w
	}
	return v, nil
}

func (p *parser) not() (bool, error) {
	if p.keyword("NOT") {
		v, err := p.not()
		return !v, err
	}
	return p.primary()
}

func (p *parser) primary() (bool, error) {
	t, ok := p.peek()
	if !ok {
		return false, fmt.Errorf("unexpected end of expression")
	}
	if t.kind == "(" {
		p.i++
		v, err := p.or()
		if err != nil {
			return false, err
		}
		return v, p.expect(")")
	}
	if t.kind == "ident" {
		switch strings.ToLower(t.text) {
		case "attribute_exists", "attribute_not_exists":
			p.i++
			if err := p.expect("("); err != nil {
				return false, err
			}
			nt, err := p.next()
			if err != nil {
				return false, err
			}
			name, err := p.env.name(nt)
			if err != nil {
				return false, err
			}
			if err := p.expect(")"); err != nil {
				return false, err
			}
			_, exists := p.item[name]
			return exists == (strings.ToLower(t.text) == "attribute_exists"), nil
		case "begins_with":
			p.i++
			if err := p.expect("("); err != nil {
				return false, err
			}
			a, err := p.operand()
			if err != nil {
				return false, err
			}
			if err := p.expect(","); err != nil {
				return false, err
			}
			b, err := p.operand()
			if err != nil {
				return false, err
			}
			if err := p.expect(")"); err != nil {
				return false, err
			}
			return a.typ == "S" && b.typ == "S" && strings.HasPrefix(a.s, b.s), nil
		}
	}
	left, err := p.operand()
	if err != nil {
		return false, err
	}
	if p.keyword("BETWEEN") {
		lo, err := p.operand()
		if err != nil {
			return false, err
		}
		if !p.keyword("AND") {
			return false, fmt.Errorf("BETWEEN needs AND")
		}
		hi, err := p.operand()
		if err != nil {
			return false, err
		}
		c1, ok1 := compare(left, lo)
		c2, ok2 := compare(left, hi)
		return ok1 && ok2 && c1 >= 0 && c2 <= 0, nil
	}
	if p.keyword("IN") {
		if err := p.expect("("); err != nil {
			return false, err
		}
		found := false
		for {
			v, err := p.operand()
			if err != nil {
				return false, err
			}
			if c, ok := compare(left, v); ok && c == 0 {
				found = true
			}
			t, err := p.next()
			if err != nil {
				return false, err
			}
			if t.kind == ")" {
				return found, nil
			}
			if t.kind != "," {
				return false, fmt.Errorf("expected , or ) at position %d", t.pos)
			}
		}
	}
	op, err := p.next()
	if err != nil {
		return false, err
	}
	if op.kind != "op" {
		return false, fmt.Errorf("expected a comparator at position %d, got %q", op.pos, op.text)
	}
	right, err := p.operand()
	if err != nil {
		return false, err
	}
	c, comparable := compare(left, right)
	switch op.text {
	case "=":
		return comparable && c == 0, nil
	case "<>":
		return !comparable || c != 0, nil
	case "<":
		return comparable && c < 0, nil
	case "<=":
		return comparable && c <= 0, nil
	case ">":
		return comparable && c > 0, nil
	case ">=":
		return comparable && c >= 0, nil
	}
	return false, fmt.Errorf("invalid comparator %q at position %d", op.text, op.pos)
}

// operand is a path (its value in the item, or a missing attr) or a :value.
func (p *parser) operand() (attr, error) {
	t, err := p.next()
	if err != nil {
		return attr{}, err
	}
	if t.kind == "value" {
		return p.env.value(t)
	}
	name, err := p.env.name(t)
	if err != nil {
		return attr{}, err
	}
	return p.item[name], nil
}

// applyUpdate applies an update expression to item in place.
func applyUpdate(expr string, e *env, item map[string]attr) error {
	toks, err := lex(expr)
	if err != nil {
		return err
	}
	p := &parser{toks: toks, env: e, item: item}
	// Values are computed against the item as it was, as DynamoDB does.
	before := make(map[string]attr, len(item))
	for k, v := range item {
		before[k] = v
	}
	p.item = before
	seen := false
	for {
		if _, more := p.peek(); !more {
			break
		}
		switch {
		case p.keyword("SET"):
			if err := p.setClause(item); err != nil {
				return err
			}
		case p.keyword("REMOVE"):
			if err := p.removeClause(item); err != nil {
				return err
			}
		default:
			t, _ := p.peek()
			return fmt.Errorf("invalid UpdateExpression: unexpected %q at position %d", t.text, t.pos)
		}
		seen = true
	}
	if !seen {
		return fmt.Errorf("invalid UpdateExpression: empty")
	}
	return nil
}

func (p *parser) setClause(item map[string]attr) error {
	for {
		nt, err := p.next()
		if err != nil {
			return err
		}
		name, err := p.env.name(nt)
		if err != nil {
			return err
		}
		if t, err := p.next(); err != nil || t.text != "=" {
			return fmt.Errorf("invalid UpdateExpression: expected = after %s", name)
		}
		v, err := p.setValue()
		if err != nil {
			return err
		}
		item[name] = v
		if t, ok := p.peek(); ok && t.kind == "," {
			p.i++
			continue
		}
		return nil
	}
}

func (p *parser) setValue() (attr, error) {
	v, err := p.setOperand()
	if err != nil {
		return attr{}, err
	}
	if t, ok := p.peek(); ok && t.kind == "op" && (t.text == "+" || t.text == "-") {
		p.i++
		w, err := p.setOperand()
		if err != nil {
			return attr{}, err
		}
		return arith(v, w, t.text)
	}
	return v, nil
}

func (p *parser) setOperand() (attr, error) {
	t, ok := p.peek()
	if ok && t.kind == "ident" && strings.EqualFold(t.text, "if_not_exists") {
		p.i++
		if err := p.expect("("); err != nil {
			return attr{}, err
		}
		nt, err := p.next()
		if err != nil {
			return attr{}, err
		}
		name, err := p.env.name(nt)
		if err != nil {
			return attr{}, err
		}
		if err := p.expect(","); err != nil {
			return attr{}, err
		}
		def, err := p.operand()
		if err != nil {
			return attr{}, err
		}
		if err := p.expect(")"); err != nil {
			return attr{}, err
		}
		if cur, exists := p.item[name]; exists {
			return cur, nil
		}
		return def, nil
	}
	v, err := p.operand()
	if err != nil {
		return attr{}, err
	}
	if v.typ == "" {
		return attr{}, fmt.Errorf("the provided expression refers to an attribute that does not exist in the item")
	}
	return v, nil
}

func (p *parser) removeClause(item map[string]attr) error {
	for {
		nt, err := p.next()
		if err != nil {
			return err
		}
		name, err := p.env.name(nt)
		if err != nil {
			return err
		}
		delete(item, name)
		if t, ok := p.peek(); ok && t.kind == "," {
			p.i++
			continue
		}
		return nil
	}
}
