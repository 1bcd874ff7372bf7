package dynamosim

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// attr is one DynamoDB attribute value. Scalars are decoded so conditions
// can compare them; other types (lists, maps, sets, binary) are kept as
// their raw JSON and compare only for equality.
type attr struct {
	typ string // "S", "N", "BOOL", "NULL", or another type name; "" = missing
	s   string // S, and N as its text
	b   bool
	raw json.RawMessage
}

func (a *attr) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("attribute value: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("supplied AttributeValue has %d types, exactly one is required", len(m))
	}
	for typ, v := range m {
		*a = attr{typ: typ, raw: append(json.RawMessage(nil), data...)}
		switch typ {
		case "S":
			return json.Unmarshal(v, &a.s)
		case "N":
			if err := json.Unmarshal(v, &a.s); err != nil {
				return err
			}
			if _, ok := new(big.Float).SetString(a.s); !ok {
				return fmt.Errorf("the parameter cannot be converted to a numeric value: %s", a.s)
			}
		case "BOOL":
			return json.Unmarshal(v, &a.b)
		case "NULL", "B", "SS", "NS", "BS", "L", "M":
		default:
			return fmt.Errorf("supplied AttributeValue has an unknown type %s", typ)
		}
	}
	return nil
}

func (a attr) MarshalJSON() ([]byte, error) {
	return a.raw, nil
}

func numberAttr(f *big.Float) attr {
	s := f.Text('f', -1)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	raw, _ := json.Marshal(map[string]string{"N": s})
	return attr{typ: "N", s: s, raw: raw}
}

// compare orders two values of the same scalar type; ok is false when they
// cannot be compared (a missing attribute, different types).
func compare(a, b attr) (c int, ok bool) {
	if a.typ == "" || b.typ == "" || a.typ != b.typ {
		return 0, false
	}
	switch a.typ {
	case "S":
		return strings.Compare(a.s, b.s), true
	case "N":
		x, _ := new(big.Float).SetString(a.s)
		y, _ := new(big.Float).SetString(b.s)
		return x.Cmp(y), true
	case "BOOL":
		if a.b == b.b {
			return 0, true
		}
		return 1, true
	default:
		if string(a.raw) == string(b.raw) {
			return 0, true
		}
		return 1, true
	}
}

func arith(a, b attr, op string) (attr, error) {
	if a.typ != "N" || b.typ != "N" {
		return attr{}, fmt.Errorf("incorrect operand type for operator or function; operator: %s", op)
	}
	x, _ := new(big.Float).SetString(a.s)
	y, _ := new(big.Float).SetString(b.s)
	if op == "+" {
		return numberAttr(new(big.Float).Add(x, y)), nil
	}
	return numberAttr(new(big.Float).Sub(x, y)), nil
}
