package taskdef

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Diff describes how after differs from before, one change per line, for a
// reviewer: image changes first, then containers added, removed or
// reordered, then any other field (by path, values as compact JSON), then
// tags. Containers are matched by name. It is "" when the two are the same
// task definition (key order aside), and the same inputs always give the
// same text.
func Diff(before, after *Document) string {
	if before == nil {
		before = &Document{}
	}
	if after == nil {
		after = &Document{}
	}
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	bc, ac := containersByName(before), containersByName(after)
	for _, c := range ac.order {
		if b, ok := bc.byName[c]; ok {
			if bi, ai := b.get("image"), ac.byName[c].get("image"); !bi.equal(ai) {
				add("container %q image: %s -> %s", c, bi.str(), ai.str())
			}
		}
	}
	for _, c := range ac.order {
		if _, ok := bc.byName[c]; !ok {
			add("container %q added: %s", c, compact(ac.byName[c]))
		}
	}
	for _, c := range bc.order {
		if _, ok := ac.byName[c]; !ok {
			add("container %q removed: %s", c, compact(bc.byName[c]))
		}
	}
	if common := commonOrder(bc, ac); common != "" {
		add("container order: %s", common)
	}

	var fields []string
	diffObject(&fields, "", &before.root, &after.root, func(key string) bool {
		return key == "tags" || key == "containerDefinitions"
	})
	if cb, ca := before.root.get("containerDefinitions"), after.root.get("containerDefinitions"); cb == nil || ca == nil {
		diffValue(&fields, "containerDefinitions", cb, ca)
	}
	for _, c := range bc.order {
		if a, ok := ac.byName[c]; ok {
			diffObject(&fields, "containerDefinitions["+strconv.Quote(c)+"]", bc.byName[c], a, func(key string) bool { return key == "image" })
		}
	}
	lines = append(lines, fields...)

	bt, at := before.Tags(), after.Tags()
	bv := make(map[string]string, len(bt))
	for _, t := range bt {
		bv[t.Key] = t.Value
	}
	av := make(map[string]bool, len(at))
	for _, t := range at {
		av[t.Key] = true
		old, ok := bv[t.Key]
		switch {
		case !ok:
			add("tag added: %s = %q", t.Key, t.Value)
		case old != t.Value:
			add("tag changed: %s = %q -> %q", t.Key, old, t.Value)
		}
	}
	for _, t := range bt {
		if !av[t.Key] {
			add("tag removed: %s = %q", t.Key, t.Value)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

type containerSet struct {
	order  []string
	byName map[string]*value
}

func containersByName(d *Document) containerSet {
	s := containerSet{byName: map[string]*value{}}
	cds := d.root.get("containerDefinitions")
	if cds == nil {
		return s
	}
	for i := range cds.kids {
		c := &cds.kids[i].val
		if n := c.get("name"); n != nil && c.kind == kindObject {
			s.order = append(s.order, n.str())
			s.byName[n.str()] = c
		}
	}
	return s
}

// commonOrder describes a reordering of the containers both documents have,
// or returns "" when their relative order is the same.
func commonOrder(b, a containerSet) string {
	var bo, ao []string
	for _, n := range b.order {
		if _, ok := a.byName[n]; ok {
			bo = append(bo, n)
		}
	}
	for _, n := range a.order {
		if _, ok := b.byName[n]; ok {
			ao = append(ao, n)
		}
	}
	if strings.Join(bo, "\x00") == strings.Join(ao, "\x00") {
		return ""
	}
	return strings.Join(bo, ", ") + " -> " + strings.Join(ao, ", ")
}

func diffObject(out *[]string, path string, b, a *value, skip func(string) bool) {
	findA, findB := a.finder(), b.finder()
	for i := range b.kids {
		k := b.kids[i].key
		if skip(k) {
			continue
		}
		diffValue(out, join(path, k), &b.kids[i].val, findA(k))
	}
	for i := range a.kids {
		k := a.kids[i].key
		if skip(k) || findB(k) != nil {
			continue
		}
		diffValue(out, join(path, k), nil, &a.kids[i].val)
	}
}

func diffValue(out *[]string, path string, b, a *value) {
	switch {
	case b == nil && a == nil:
	case b == nil:
		*out = append(*out, fmt.Sprintf("field added: %s = %s", path, compact(a)))
	case a == nil:
		*out = append(*out, fmt.Sprintf("field removed: %s = %s", path, compact(b)))
	case b.equal(a):
	case b.kind == kindObject && a.kind == kindObject:
		diffObject(out, path, b, a, func(string) bool { return false })
	case b.kind == kindArray && a.kind == kindArray && len(b.kids) == len(a.kids):
		for i := range b.kids {
			diffValue(out, fmt.Sprintf("%s[%d]", path, i), &b.kids[i].val, &a.kids[i].val)
		}
	default:
		*out = append(*out, fmt.Sprintf("field changed: %s = %s -> %s", path, compact(b), compact(a)))
	}
}

// join extends a path with a member name, quoting names that are not plain
// words (docker labels and log options often hold dots).
func join(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

func compact(v *value) string { return string(appendCompact(nil, v)) }
