package taskdef

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalid marks input that is not a task definition pullheal can rewrite:
// bad JSON, a missing family or container definitions, a container without a
// name or image, a malformed tags list.
var ErrInvalid = errors.New("invalid task definition")

// ErrNoContainer is returned by WithImages for a container name the task
// definition does not have.
var ErrNoContainer = errors.New("no such container")

// readOnly lists the members DescribeTaskDefinition returns that
// RegisterTaskDefinition rejects. deleteRequestedAt belongs with them: it is
// set on revisions being deleted and is not a register parameter.
var readOnly = [...]string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes",
	"compatibilities", "registeredAt", "registeredBy", "deregisteredAt",
	"deleteRequestedAt",
}

func isReadOnly(key string) bool {
	for _, k := range readOnly {
		if k == key {
			return true
		}
	}
	return false
}

// Document is a task definition in the shape RegisterTaskDefinition takes
// (the AWS CLI's --cli-input-json shape), tags included. Its methods never
// modify it: WithImages and WithTags return new documents that share the
// unchanged parts.
type Document struct {
	root      value // an object
	sourceArn string
	sizeHint  int    // length of the JSON it came from, to size Encode's buffer
	src       string // the JSON Decode read, to place errors; "" otherwise
}

// Container names one container definition and its image.
type Container struct {
	Name  string
	Image string
}

// Tag is one resource tag.
type Tag struct {
	Key   string
	Value string
}

// IsAWSTag reports whether key is in the aws: namespace, which only AWS may
// write (in any letter case); such tags are never copied to a new revision.
func IsAWSTag(key string) bool {
	return len(key) >= 4 && strings.EqualFold(key[:4], "aws:")
}

// Decode reads a task definition in any of three shapes: DescribeTaskDefinition
// output ({"taskDefinition": {...}, "tags": [...]}; other members of that
// envelope are not part of the task definition and are ignored), the
// taskDefinition member alone, or a RegisterTaskDefinition input (which may
// hold tags). The result drops the read-only members and aws: tags and keeps
// everything else as written. When the envelope carries tags they replace
// any tags member inside taskDefinition.
//
// Errors wrap ErrInvalid and fit on one line; syntax errors give the line
// and column, other errors name the member at fault.
func Decode(data []byte) (*Document, error) {
	src := string(data)
	root, err := parseJSON(src)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			line, col := position(src, se.off)
			return nil, fmt.Errorf("%w: line %d, column %d: %s", ErrInvalid, line, col, se.msg)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if root.kind != kindObject {
		return nil, invalidf(src, &root, "top level is %s, want an object", describeKind(root.kind))
	}
	td, tags := &root, (*value)(nil)
	if env := root.get("taskDefinition"); env != nil {
		if env.kind != kindObject {
			return nil, invalidf(src, env, "taskDefinition is %s, want an object", describeKind(env.kind))
		}
		td, tags = env, root.get("tags")
	} else if root.get("family") == nil && root.get("containerDefinitions") == nil {
		return nil, invalidf(src, &root, "no taskDefinition, family or containerDefinitions at the top level")
	}
	d, err := newDocument(src, td, tags)
	if err != nil {
		return nil, err
	}
	d.sizeHint, d.src = len(src), src
	return d, nil
}

// newDocument builds a Document from the members of a task definition
// object; tags, when not nil, replaces its tags member.
func newDocument(src string, td, tags *value) (*Document, error) {
	d := &Document{root: value{kind: kindObject, pos: td.pos, kids: make([]member, 0, len(td.kids)+1)}}
	if nested := td.get("taskDefinition"); nested != nil {
		// Kept, it would make the output read as a describe envelope.
		return nil, invalidf(src, nested, "taskDefinition inside the task definition")
	}
	for _, m := range td.kids {
		if m.key == "taskDefinitionArn" && m.val.kind == kindString {
			d.sourceArn = m.val.str()
		}
		if isReadOnly(m.key) || (m.key == "tags" && tags != nil) {
			continue
		}
		d.root.kids = append(d.root.kids, m)
	}
	if tags != nil {
		d.root.kids = append(d.root.kids, member{key: "tags", keyLit: `"tags"`, val: *tags})
	}
	if i := d.root.index("tags"); i >= 0 {
		kept, err := checkTags(src, &d.root.kids[i].val)
		if err != nil {
			return nil, err
		}
		d.root.kids[i].val = kept
	}
	if err := d.check(src); err != nil {
		return nil, err
	}
	return d, nil
}

// checkTags validates a tags member and returns it without aws: tags. A tag
// is {"key": ..., "value": ...} with value optional; anything else in it
// would be lost on registration, so it is an error, and so are more than
// MaxTags tags, which ECS refuses.
func checkTags(src string, tags *value) (value, error) {
	if tags.kind == kindNull {
		return value{kind: kindArray, pos: tags.pos}, nil
	}
	if tags.kind != kindArray {
		return value{}, invalidf(src, tags, "tags is %s, want an array", describeKind(tags.kind))
	}
	dropped := false
	for i := range tags.kids {
		t := &tags.kids[i].val
		if t.kind != kindObject {
			return value{}, invalidf(src, t, "tags[%d] is %s, want an object", i, describeKind(t.kind))
		}
		for _, m := range t.kids {
			if m.key != "key" && m.key != "value" {
				return value{}, invalidf(src, t, "tags[%d] has member %q, want only key and value", i, m.key)
			}
			if m.val.kind != kindString {
				return value{}, invalidf(src, &m.val, "tags[%d].%s is %s, want a string", i, m.key, describeKind(m.val.kind))
			}
		}
		k := t.get("key")
		if k == nil {
			return value{}, invalidf(src, t, "tags[%d] has no key", i)
		}
		dropped = dropped || IsAWSTag(k.str())
	}
	kept := *tags
	if dropped {
		kept = value{kind: kindArray, pos: tags.pos}
		for _, m := range tags.kids {
			if !IsAWSTag(m.val.get("key").str()) {
				kept.kids = append(kept.kids, m)
			}
		}
	}
	if n := len(kept.kids); n > MaxTags {
		// RegisterTaskDefinition refuses the lot; keeping them all, or
		// choosing which to drop, would print a revision nobody can register.
		aws := ""
		if dropped {
			aws = " besides the aws: tags, which are dropped"
		}
		return value{}, invalidf(src, tags, "%d tags%s; ECS allows at most %d", n, aws, MaxTags)
	}
	return kept, nil
}

// check enforces what RegisterTaskDefinition requires and what rewriting
// relies on: a family, and containers with unique names and an image each.
func (d *Document) check(src string) error {
	root := &d.root
	family := root.get("family")
	switch {
	case family == nil:
		return invalidf(src, root, "no family")
	case family.kind != kindString:
		return invalidf(src, family, "family is %s, want a string", describeKind(family.kind))
	case family.str() == "":
		return invalidf(src, family, "family is empty")
	}
	cds := root.get("containerDefinitions")
	switch {
	case cds == nil:
		return invalidf(src, root, "no containerDefinitions")
	case cds.kind != kindArray:
		return invalidf(src, cds, "containerDefinitions is %s, want an array", describeKind(cds.kind))
	case len(cds.kids) == 0:
		return invalidf(src, cds, "containerDefinitions is empty")
	}
	names := make(map[string]int, len(cds.kids))
	for i := range cds.kids {
		c := &cds.kids[i].val
		if c.kind != kindObject {
			return invalidf(src, c, "containerDefinitions[%d] is %s, want an object", i, describeKind(c.kind))
		}
		name := c.get("name")
		switch {
		case name == nil:
			return invalidf(src, c, "containerDefinitions[%d] has no name", i)
		case name.kind != kindString:
			return invalidf(src, name, "containerDefinitions[%d].name is %s, want a string", i, describeKind(name.kind))
		case name.str() == "":
			return invalidf(src, name, "containerDefinitions[%d].name is empty", i)
		}
		n := name.str()
		if j, dup := names[n]; dup {
			return invalidf(src, name, "containerDefinitions[%d] and [%d] are both named %q", j, i, n)
		}
		names[n] = i
		image := c.get("image")
		switch {
		case image == nil:
			return invalidf(src, c, "container %q (containerDefinitions[%d]) has no image", n, i)
		case image.kind != kindString:
			return invalidf(src, image, "container %q image is %s, want a string", n, describeKind(image.kind))
		case image.str() == "":
			return invalidf(src, image, "container %q image is empty", n)
		}
	}
	return nil
}

// invalidf makes an ErrInvalid error, located at v when v came from src.
func invalidf(src string, v *value, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if v != nil && v.pos > 0 && src != "" {
		line, col := position(src, int(v.pos)-1)
		return fmt.Errorf("%w: line %d, column %d: %s", ErrInvalid, line, col, msg)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// describeKind names a JSON type with its article, for messages.
func describeKind(k kind) string {
	switch k {
	case kindNull:
		return "null"
	case kindArray, kindObject:
		return "an " + k.String()
	default:
		return "a " + k.String()
	}
}

// SourceArn is the taskDefinitionArn of the revision the document was read
// from, or "" when the input was a register input without one.
func (d *Document) SourceArn() string { return d.sourceArn }

// Family is the task definition family.
func (d *Document) Family() string { return d.stringMember("family") }

// Containers lists the container definitions in order.
func (d *Document) Containers() []Container {
	cds := d.root.get("containerDefinitions")
	if cds == nil {
		return nil
	}
	out := make([]Container, len(cds.kids))
	for i := range cds.kids {
		c := &cds.kids[i].val
		out[i] = Container{Name: c.get("name").str(), Image: c.get("image").str()}
	}
	return out
}

// ExecutionRoleArn is the task execution role, or "" when there is none
// (the task then cannot pull from private ECR on Fargate).
func (d *Document) ExecutionRoleArn() string { return d.stringMember("executionRoleArn") }

// TaskRoleArn is the task role, or "".
func (d *Document) TaskRoleArn() string { return d.stringMember("taskRoleArn") }

// NetworkMode is the network mode as written, or "".
func (d *Document) NetworkMode() string { return d.stringMember("networkMode") }

func (d *Document) stringMember(key string) string {
	if v := d.root.get(key); v != nil && v.kind == kindString {
		return v.str()
	}
	return ""
}

// RequiresCompatibilities lists the launch types the task definition
// requires (EC2, FARGATE, EXTERNAL, ...), or nil.
func (d *Document) RequiresCompatibilities() []string {
	v := d.root.get("requiresCompatibilities")
	if v == nil || v.kind != kindArray {
		return nil
	}
	out := make([]string, 0, len(v.kids))
	for i := range v.kids {
		if v.kids[i].val.kind == kindString {
			out = append(out, v.kids[i].val.str())
		}
	}
	return out
}

// WithImages returns a copy in which each named container runs the given
// image, written exactly as given: a digest in it is kept, and nothing is
// normalised. The receiver is not changed. An unknown container name is an
// error wrapping ErrNoContainer; an empty image wraps ErrInvalid.
func (d *Document) WithImages(images map[string]string) (*Document, error) {
	ci := d.root.index("containerDefinitions")
	if ci < 0 {
		return nil, fmt.Errorf("set images: %w: no containerDefinitions", ErrInvalid)
	}
	cds := d.root.kids[ci].val
	cds.kids = slices.Clone(cds.kids)
	index := make(map[string]int, len(cds.kids))
	for i := range cds.kids {
		index[cds.kids[i].val.get("name").str()] = i
	}
	for _, name := range slices.Sorted(maps.Keys(images)) {
		image := images[name]
		if image == "" {
			return nil, fmt.Errorf("set image of container %q: %w: empty image reference", name, ErrInvalid)
		}
		if n := utf8.RuneCountInString(image); n > MaxImage {
			return nil, fmt.Errorf("set image of container %q: %w: %s is %d characters, ECS allows %d", name, ErrTooLarge, image, n, MaxImage)
		}
		i, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("set image of container %q: %w (the task definition has %s)", name, ErrNoContainer, strings.Join(d.containerNames(), ", "))
		}
		img := stringValue(image)
		img.pos = cds.kids[i].val.get("image").pos
		cds.kids[i].val = cds.kids[i].val.with("image", img)
	}
	return &Document{root: d.root.with("containerDefinitions", cds), sourceArn: d.sourceArn, sizeHint: d.sizeHint, src: d.src}, nil
}

func (d *Document) containerNames() []string {
	var names []string
	for _, c := range d.Containers() {
		names = append(names, c.Name)
	}
	return names
}

// Tags lists the document's tags in order.
func (d *Document) Tags() []Tag {
	v := d.root.get("tags")
	if v == nil {
		return nil
	}
	out := make([]Tag, len(v.kids))
	for i := range v.kids {
		t := &v.kids[i].val
		out[i].Key = t.get("key").str()
		if val := t.get("value"); val != nil {
			out[i].Value = val.str()
		}
	}
	return out
}

// ECS's limits on what a revision may hold (the RegisterTaskDefinition API
// reference): an image reference of at most 255 characters, and a task
// definition of at most 64 KiB of JSON.
const (
	MaxImage = 255
	MaxSize  = 64 << 10
)

// ErrTooLarge is wrapped by the errors for a document or an image
// reference over ECS's limits: a permanent condition, never retried.
var ErrTooLarge = errors.New("over an ECS limit")

// CheckSize refuses a document whose compact JSON (tags included, as
// RegisterTaskDefinition sends it) is over MaxSize.
func (d *Document) CheckSize() error {
	if n := len(appendCompact(nil, &d.root)); n > MaxSize {
		return fmt.Errorf("task definition %s: %w: %d bytes of JSON, ECS allows %d (RegisterTaskDefinition would answer \"Actual length: '%d'. Max allowed length is '%d' bytes.\")", d.Family(), ErrTooLarge, n, MaxSize, n, MaxSize)
	}
	return nil
}

// WithTags returns a copy with each tag set: an existing tag with the same
// key (case-sensitive, as ECS compares them) gets the new value in place,
// others are appended in the order given while the revision has fewer than
// MaxTags tags. Existing tags are never dropped, so a user's 50 tags
// survive a heal; tags that would pass the limit are left out (Provenance
// names them). Tags in the aws: namespace are ignored. The receiver is not
// changed.
func (d *Document) WithTags(tags ...Tag) *Document {
	out, _ := d.withTags(tags)
	return out
}

// WithProvenance sets p's tags with WithTags and returns the keys of those
// that found no room under MaxTags. When not all fit, the most important
// take the room (tagPriority); the tags keep Provenance.Tags' order.
func (d *Document) WithProvenance(p Provenance) (*Document, []string) {
	tags := p.Tags()
	have := make(map[string]bool)
	for _, t := range d.Tags() {
		have[t.Key] = true
	}
	room := MaxTags - len(d.Tags())
	fits := make(map[string]bool, len(tags))
	for _, key := range tagPriority {
		if have[key] || room > 0 {
			fits[key] = true
			if !have[key] {
				room--
			}
		}
	}
	var left []string
	tags = slices.DeleteFunc(tags, func(t Tag) bool {
		if !fits[t.Key] {
			left = append(left, t.Key)
		}
		return !fits[t.Key]
	})
	out, _ := d.withTags(tags)
	return out, left
}

func (d *Document) withTags(tags []Tag) (*Document, []string) {
	var list value
	if v := d.root.get("tags"); v != nil {
		list = *v
	} else {
		list = value{kind: kindArray}
	}
	list.kids = slices.Clone(list.kids)
	var left []string
	for _, t := range tags {
		if IsAWSTag(t.Key) {
			continue
		}
		found := false
		for i := range list.kids {
			if list.kids[i].val.get("key").str() == t.Key {
				list.kids[i].val = list.kids[i].val.with("value", stringValue(t.Value))
				found = true
			}
		}
		switch {
		case found:
		case len(list.kids) >= MaxTags:
			left = append(left, t.Key)
		default:
			list.kids = append(list.kids, member{val: value{kind: kindObject, kids: []member{
				{key: "key", keyLit: `"key"`, val: stringValue(t.Key)},
				{key: "value", keyLit: `"value"`, val: stringValue(t.Value)},
			}}})
		}
	}
	return &Document{root: d.root.with("tags", list), sourceArn: d.sourceArn, sizeHint: d.sizeHint, src: d.src}, left
}

// Encode writes the document as an indented RegisterTaskDefinition input in
// the --cli-input-json shape, ending in a newline.
func (d *Document) Encode() ([]byte, error) {
	if d == nil || d.root.kind != kindObject {
		return nil, fmt.Errorf("encode: %w: empty document", ErrInvalid)
	}
	b := make([]byte, 0, d.sizeHint+4096)
	b = appendIndented(b, &d.root, 0)
	return append(b, '\n'), nil
}
