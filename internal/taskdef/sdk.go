package taskdef

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ErrUnknownField is returned by RegisterInput for a member the ECS SDK in
// this build does not model: registering through the SDK would drop it, so
// the conversion refuses instead.
var ErrUnknownField = errors.New("field not known to the ECS SDK")

// FromSDK converts DescribeTaskDefinition output (call it with
// Include: TAGS, or the tags are lost) into a Document. It uses the SDK's own
// serialiser, so member names and values are what the ECS API uses, and a
// member the SDK leaves out of a request (a nil pointer, an empty enum, a
// zero container cpu) is left out here too. Read-only members and aws: tags
// are dropped; map keys are sorted so the output is deterministic.
func FromSDK(td *ecstypes.TaskDefinition, tags []ecstypes.Tag) (*Document, error) {
	if td == nil {
		return nil, fmt.Errorf("%w: no task definition", ErrInvalid)
	}
	w := &treeWriter{}
	td.Serialize(w)
	if w.err != nil {
		return nil, fmt.Errorf("convert task definition: %w", w.err)
	}
	root := w.root
	var tagList *value
	if tags != nil {
		tw := &treeWriter{}
		tw.WriteList(nil)
		for i := range tags {
			tags[i].Serialize(tw)
		}
		tw.CloseList()
		tagList = &tw.root
	}
	return newDocument("", &root, tagList)
}

// RegisterInput converts the document into the SDK's RegisterTaskDefinition
// input through the SDK's own deserialiser. It fails, naming the member, when
// a member has the wrong JSON type (wrapping ErrInvalid) or is not modelled
// by the SDK (wrapping ErrUnknownField), rather than register a revision that
// silently lacks it.
func (d *Document) RegisterInput() (*ecs.RegisterTaskDefinitionInput, error) {
	if d == nil || d.root.kind != kindObject {
		return nil, fmt.Errorf("register input: %w: empty document", ErrInvalid)
	}
	if err := d.CheckSize(); err != nil {
		return nil, err
	}
	in, err := d.sdkInput()
	if err != nil {
		return nil, fmt.Errorf("register input for %s: %w", d.Family(), err)
	}
	return in, nil
}

// sdkInput is RegisterInput without the size check; its errors name the
// member at fault and nothing else.
func (d *Document) sdkInput() (*ecs.RegisterTaskDefinitionInput, error) {
	body := d.root
	body.kids = make([]member, 0, len(d.root.kids))
	var tags *value
	for i, m := range d.root.kids {
		if m.key == "tags" {
			tags = &d.root.kids[i].val
			continue
		}
		body.kids = append(body.kids, m)
	}
	var td ecstypes.TaskDefinition
	if err := td.Deserialize(newTreeReader(&body)); err != nil {
		return nil, err
	}
	in := &ecs.RegisterTaskDefinitionInput{}
	copySameNamedFields(in, &td)
	if tags != nil {
		in.Tags = make([]ecstypes.Tag, len(tags.kids))
		for i := range tags.kids {
			if err := in.Tags[i].Deserialize(newTreeReaderAt(&tags.kids[i].val, fmt.Sprintf("tags[%d]", i))); err != nil {
				return nil, err
			}
		}
	}
	return in, nil
}

// CheckTypes reports the first member modelled by the ECS SDK whose JSON
// type or range RegisterTaskDefinition does not accept: "essential": "yes",
// a task-level "cpu": 256 (a string in the API), a container memory of 1.5
// or beyond 32 bits. The AWS CLI and ECS refuse such a document, so the CLI
// refuses it first and says where. Members the SDK does not model are not
// checked (the CLI path keeps them as written), nor are null members (the
// API reads them as absent). The error wraps ErrInvalid and, for a
// document Decode read, gives the line and column of the value at fault.
func (d *Document) CheckTypes() error {
	if d == nil || d.root.kind != kindObject {
		return fmt.Errorf("%w: empty document", ErrInvalid)
	}
	body := d.root
	body.kids = make([]member, 0, len(d.root.kids))
	for _, m := range d.root.kids {
		if m.key != "tags" { // checked by Decode
			body.kids = append(body.kids, m)
		}
	}
	r := newTreeReader(&body)
	r.lenient = true
	var td ecstypes.TaskDefinition
	err := td.Deserialize(r)
	var re *readError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re) && re.at != nil && re.at.pos > 0 && d.src != "":
		line, col := position(d.src, int(re.at.pos)-1)
		return fmt.Errorf("%w: line %d, column %d: %s: %s", re.kind, line, col, re.path, re.msg)
	case errors.Is(err, ErrInvalid):
		return err
	default:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
}

// copySameNamedFields sets each field of *dst from the field of *src with
// the same name and type. Every RegisterTaskDefinitionInput parameter except
// Tags is also a TaskDefinition member; matching by name keeps that true for
// parameters added in later SDK releases without a change here.
func copySameNamedFields(dst, src any) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	dt := dv.Type()
	for i := 0; i < dt.NumField(); i++ {
		f := dt.Field(i)
		if !f.IsExported() {
			continue
		}
		s := sv.FieldByName(f.Name)
		if s.IsValid() && s.Type() == f.Type {
			dv.Field(i).Set(s)
		}
	}
}
