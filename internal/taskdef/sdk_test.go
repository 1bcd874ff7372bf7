package taskdef_test

import (
	"fmt"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// ignoreUnexported skips the SDK's unexported marker fields in every struct,
// including types added in later SDK releases.
var ignoreUnexported = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && !token.IsExported(sf.Name())
}, cmp.Ignore())

// filler sets every exported field of a value, recursively, to a non-zero
// value unique to its path, so a field lost anywhere shows up in a
// comparison.
type filler struct {
	t *testing.T
	n int
}

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 6, 2, 10, 0, f.n%60, 0, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if sf := v.Type().Field(i); sf.IsExported() {
				f.fill(v.Field(i), path+"."+sf.Name)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k, fmt.Sprintf("%s.key%d", path, i))
			f.fill(e, fmt.Sprintf("%s[key%d]", path, i))
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		// An enum offers its values; any string would do, a real one reads better.
		if m := v.Addr().MethodByName("Values"); m.IsValid() {
			if vals := m.Call(nil)[0]; vals.Len() > 0 {
				v.Set(vals.Index(f.n % vals.Len()))
				return
			}
		}
		v.SetString(fmt.Sprintf("v%d%s", f.n, strings.ReplaceAll(path, ".", "-")))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.n%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.n) + 0.5)
	case reflect.Interface:
		// Unions: one member type per union the task definition uses.
		member, ok := unionMembers[v.Type()]
		if !ok {
			f.t.Fatalf("%s: union %s has no member listed in unionMembers", path, v.Type())
		}
		m := reflect.New(member.Elem())
		f.fill(m.Elem(), path+"."+member.Elem().Name())
		v.Set(m)
	default:
		f.t.Fatalf("%s: no filler for %s (%s); teach the test, then check the codec handles it", path, v.Type(), v.Kind())
	}
}

var unionMembers = map[reflect.Type]reflect.Type{
	reflect.TypeFor[ecstypes.SharingStrategy](): reflect.TypeFor[*ecstypes.SharingStrategyMemberNvidiaMps](),
}

func filledTaskDefinition(t *testing.T) *ecstypes.TaskDefinition {
	t.Helper()
	var td ecstypes.TaskDefinition
	(&filler{t: t}).fill(reflect.ValueOf(&td).Elem(), "TaskDefinition")
	return &td
}

// TestFromSDKRegisterInputKeepsEveryField fills every field the SDK models,
// at every depth, and requires the round trip through the document to give
// back every RegisterTaskDefinition parameter unchanged. A field added by a
// later SDK release is filled too, so losing it fails here.
func TestFromSDKRegisterInputKeepsEveryField(t *testing.T) {
	td := filledTaskDefinition(t)
	tags := []ecstypes.Tag{
		{Key: ptr("team"), Value: ptr("payments")},
		{Key: ptr("aws:cloudformation:stack-name"), Value: ptr("prod")},
		{Key: ptr("AWS:mixed-case"), Value: ptr("x")},
		{Key: ptr("no-value")},
	}
	doc, err := taskdef.FromSDK(td, tags)
	if err != nil {
		t.Fatalf("FromSDK: %v", err)
	}
	got, err := doc.RegisterInput()
	if err != nil {
		t.Fatalf("RegisterInput: %v", err)
	}

	want := &ecs.RegisterTaskDefinitionInput{Tags: []ecstypes.Tag{tags[0], tags[3]}}
	wv, tv := reflect.ValueOf(want).Elem(), reflect.ValueOf(td).Elem()
	for i := 0; i < wv.NumField(); i++ {
		f := wv.Type().Field(i)
		if !f.IsExported() || f.Name == "Tags" {
			continue
		}
		src := tv.FieldByName(f.Name)
		if !src.IsValid() || src.Type() != f.Type {
			t.Errorf("RegisterTaskDefinitionInput.%s has no TaskDefinition field of the same type: decide where its value comes from", f.Name)
			continue
		}
		wv.Field(i).Set(src)
		if reflect.ValueOf(got).Elem().Field(i).IsZero() {
			t.Errorf("RegisterTaskDefinitionInput.%s is empty after the round trip", f.Name)
		}
	}
	if diff := cmp.Diff(want, got, ignoreUnexported); diff != "" {
		t.Errorf("round trip lost or changed fields (-want +got):\n%s", diff)
	}

	// Everything TaskDefinition has beyond the register parameters must be a
	// read-only member pullheal drops on purpose.
	readOnly := []string{"Compatibilities", "DeleteRequestedAt", "DeregisteredAt", "RegisteredAt", "RegisteredBy",
		"RequiresAttributes", "Revision", "Status", "TaskDefinitionArn"}
	var extra []string
	for i := 0; i < tv.NumField(); i++ {
		f := tv.Type().Field(i)
		if _, ok := wv.Type().FieldByName(f.Name); f.IsExported() && !ok {
			extra = append(extra, f.Name)
		}
	}
	if diff := cmp.Diff(readOnly, extra); diff != "" {
		t.Errorf("TaskDefinition fields that are not register parameters (-known read-only +found):\n%s\nA new one must be either dropped (readOnly in document.go) or carried.", diff)
	}
	if doc.SourceArn() != *td.TaskDefinitionArn {
		t.Errorf("SourceArn() = %q, want %q", doc.SourceArn(), *td.TaskDefinitionArn)
	}
}

// TestFromSDKOmitsWhatTheSDKOmits shows the SDK path writes what the SDK
// would send: unset pointers and a zero container cpu are absent, false and
// zero-valued pointers are present.
func TestFromSDKOmitsWhatTheSDKOmits(t *testing.T) {
	td := &ecstypes.TaskDefinition{
		Family: ptr("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: ptr("web"), Image: ptr("nginx:1.27"), Essential: ptr(false), Memory: ptr(int32(0)),
		}},
		Revision: 3,
		Status:   ecstypes.TaskDefinitionStatusActive,
	}
	doc, err := taskdef.FromSDK(td, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "containerDefinitions": [
    {
      "essential": false,
      "image": "nginx:1.27",
      "memory": 0,
      "name": "web"
    }
  ],
  "family": "web"
}
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("FromSDK encoding (-want +got):\n%s", diff)
	}
}

func TestFromSDKErrors(t *testing.T) {
	tests := []struct {
		name string
		td   *ecstypes.TaskDefinition
		want string
	}{
		{"nil", nil, "invalid task definition: no task definition"},
		{"no family", &ecstypes.TaskDefinition{ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: ptr("a"), Image: ptr("b")}}}, "invalid task definition: no family"},
		{"no containers", &ecstypes.TaskDefinition{Family: ptr("f")}, "invalid task definition: no containerDefinitions"},
		{"no image", &ecstypes.TaskDefinition{Family: ptr("f"), ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: ptr("a")}}}, `invalid task definition: container "a" (containerDefinitions[0]) has no image`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskdef.FromSDK(tt.td, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("FromSDK error = %v, want %q", err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
