package policy

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// sections lists the keys each mapping of the file accepts, by section
// name. It is the one list the decoder checks keys against, and
// schema_internal_test.go checks that schema.json has the same properties
// (the root's for "policy", $defs/NAME's for the others).
func sections() map[string][]string {
	return map[string][]string{
		"policy":          {"version", "registry", "pullThrough", "mirror", "images", "deny", "typosquat", "scope", "heal", "rateLimited"},
		"pullThrough":     {"source", "rules"},
		"pullThroughRule": {"upstream", "prefix"},
		"mirror":          {"prefix", "repository"},
		"repository":      {"scanOnPush", "tagMutability", "encryption", "tags", "lifecyclePolicy", "lifecyclePolicyFile"},
		"encryption":      {"type", "kmsKey"},
		"imageRule":       {"match", "tags", "action", "fallback", "platforms", "pinDigest", "customize", "repository", "reason", "scope"},
		"tagSelector":     {"exact", "glob", "semver", "digests"},
		"denyRule":        {"match", "tags", "reason", "scope"},
		"typosquat":       {"enabled", "defaults", "maxDistance", "protected", "protectedNamespaces", "allow"},
		"scope":           {"clusters", "services", "families"},
		"filter":          {"include", "exclude"},
		"heal":            {"containers", "serviceUpdate"},
	}
}

// fields are the values of one mapping by key. A key set to null is absent.
type fields map[string]*yaml.Node

// field joins a parent path and a key: "images[2]" + "tags" = "images[2].tags".
func field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// prefix formats path for the start of a message.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch t := n.ShortTag(); t {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		case "!!str":
			return "a string"
		default:
			return "a " + t + " value"
		}
	}
	return "an empty document"
}

// plain rejects what the policy format leaves out of YAML: aliases (which
// would let a small file expand without bound) and application tags.
func (d *decoder) plain(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, "%sYAML aliases (*%s) are not supported; write the value out", prefix(path), n.Value)
		return false
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") && n.Tag != "!" {
		d.errorf(n, "%sYAML tag %s is not supported", prefix(path), n.Tag)
		return false
	}
	return true
}

// mapping returns the values of mapping n by key, checking that every key is
// one the section accepts and appears once. It returns nil when n is absent,
// null or not a mapping (the last reported).
func (d *decoder) mapping(n *yaml.Node, path, section string) fields {
	if isNull(n) || !d.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%smust be a mapping, got %s", prefix(path), describe(n))
		return nil
	}
	known := d.keys[section]
	f := make(fields, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%skeys must be plain names, got %s", prefix(path), describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errorf(k, "%sYAML merge keys (<<) are not supported; write the keys out", prefix(path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, "%sduplicate key %q (first set at line %d)", prefix(path), k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		if !slices.Contains(known, k.Value) {
			d.errorf(k, "%sunknown key %q%s", prefix(path), k.Value, suggest(k.Value, known))
			continue
		}
		if !isNull(v) {
			f[k.Value] = v
		}
	}
	return f
}

// suggest names the closest known key, or lists them all.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(key), strings.ToLower(k), 2); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return " (did you mean " + strconv.Quote(best) + "?)"
	}
	s := append([]string(nil), known...)
	sort.Strings(s)
	return " (known keys: " + strings.Join(s, ", ") + ")"
}

// scalar returns n's text if it is a scalar of an accepted kind.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if !d.plain(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%smust be a string, got %s", prefix(path), describe(n))
		return "", false
	}
	return n.Value, true
}

// str returns a string value. Numbers are taken as written (a tag 1.20 stays
// "1.20"); booleans are refused, because "yes" meaning true surprises
// people.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
		return s, true
	}
	d.errorf(n, "%smust be a string, got %s; quote it", prefix(path), describe(n))
	return "", false
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	return typedScalar[bool](d, n, path, "!!bool", "true or false")
}

func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	return typedScalar[int](d, n, path, "!!int", "an integer")
}

// typedScalar decodes a scalar whose resolved YAML tag is tag; anything else
// is reported as not being want. A quoted "true" or "8" is a string, not a
// boolean or a number.
func typedScalar[T any](d *decoder, n *yaml.Node, path, tag, want string) (T, bool) {
	var zero T
	if !d.plain(n, path) {
		return zero, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == tag {
		var v T
		if err := n.Decode(&v); err == nil {
			return v, true
		}
	}
	d.errorf(n, "%smust be %s, got %s", prefix(path), want, describe(n))
	return zero, false
}

// list returns the items of a sequence.
func (d *decoder) list(n *yaml.Node, path string) []*yaml.Node {
	if !d.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%smust be a list, got %s", prefix(path), describe(n))
		return nil
	}
	return n.Content
}

// text is a string value with the node it came from, for positions.
type text struct {
	s string
	n *yaml.Node
}

// stringList returns a list of strings; with one set, a single string stands
// for a list of one.
func (d *decoder) stringList(n *yaml.Node, path string, one bool) []text {
	if one && n.Kind == yaml.ScalarNode {
		if s, ok := d.str(n, path); ok {
			return []text{{s, n}}
		}
		return nil
	}
	var out []text
	for i, item := range d.list(n, path) {
		if isNull(item) {
			d.errorf(item, "%s: must be a string, got null", index(path, i))
			continue
		}
		if s, ok := d.str(item, index(path, i)); ok {
			out = append(out, text{s, item})
		}
	}
	return out
}

// enum returns a string value that must be one of allowed.
func (d *decoder) enum(n *yaml.Node, path string, allowed ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if slices.Contains(allowed, s) {
		return s, true
	}
	d.errorf(n, "%sunknown value %q (want %s)", prefix(path), s, orList(allowed))
	return "", false
}

// orList formats a, b or c.
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
