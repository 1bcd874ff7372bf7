package taskdef_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

func TestDiff(t *testing.T) {
	const base = `{"family":"web","cpu":"256","containerDefinitions":[` +
		`{"name":"web","image":"nginx:1.27","memory":512,"environment":[{"name":"A","value":"1"}]},` +
		`{"name":"side","image":"busybox"}],"tags":[{"key":"team","value":"a"},{"key":"old","value":"x"}]}`
	tests := []struct {
		name, before, after, want string
	}{
		{"equal", base, base, ""},
		{"key order only",
			`{"family":"f","cpu":"1","containerDefinitions":[{"name":"a","image":"b","memory":1}]}`,
			`{"containerDefinitions":[{"memory":1,"image":"b","name":"a"}],"cpu":"1","family":"f"}`, ""},
		{"everything",
			base,
			`{"family":"web","cpu":"512","pidMode":"task","containerDefinitions":[` +
				`{"name":"new","image":"alpine"},` +
				`{"name":"web","image":"ecr/nginx:1.27","memory":1024,"environment":[{"name":"A","value":"2"}]}],` +
				`"tags":[{"key":"team","value":"b"},{"key":"pullheal:generation","value":"1"}]}`,
			`container "web" image: nginx:1.27 -> ecr/nginx:1.27
container "new" added: {"name":"new","image":"alpine"}
container "side" removed: {"name":"side","image":"busybox"}
field changed: cpu = "256" -> "512"
field added: pidMode = "task"
field changed: containerDefinitions["web"].memory = 512 -> 1024
field changed: containerDefinitions["web"].environment[0].value = "1" -> "2"
tag changed: team = "a" -> "b"
tag added: pullheal:generation = "1"
tag removed: old = "x"
`},
		{"reordered containers and changed list length",
			`{"family":"f","containerDefinitions":[{"name":"a","image":"x","command":["1"]},{"name":"b","image":"y"}]}`,
			`{"family":"f","containerDefinitions":[{"name":"b","image":"y"},{"name":"a","image":"x","command":["1","2"]}]}`,
			`container order: a, b -> b, a
field changed: containerDefinitions["a"].command = ["1"] -> ["1","2"]
`},
		{"number literal",
			`{"family":"f","containerDefinitions":[{"name":"a","image":"x","x":1.0}]}`,
			`{"family":"f","containerDefinitions":[{"name":"a","image":"x","x":1}]}`,
			`field changed: containerDefinitions["a"].x = 1.0 -> 1
`},
		{"string escapes are not changes",
			`{"family":"f","containerDefinitions":[{"name":"a","image":"x\u002fy"}]}`,
			`{"family":"f","containerDefinitions":[{"name":"a","image":"x/y"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := taskdef.Decode([]byte(tt.before))
			if err != nil {
				t.Fatal(err)
			}
			after, err := taskdef.Decode([]byte(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			got := taskdef.Diff(before, after)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			if again := taskdef.Diff(before, after); again != got {
				t.Error("Diff is not deterministic")
			}
		})
	}
}

// TestDiffLargeObjects covers objects large enough to be compared through
// an index rather than by scanning.
func TestDiffLargeObjects(t *testing.T) {
	labels := func(changed string) string {
		var b strings.Builder
		for i := range 5000 {
			if i > 0 {
				b.WriteByte(',')
			}
			v := "v"
			if i == 4321 {
				v = changed
			}
			fmt.Fprintf(&b, `"label-%d":%q`, i, v)
		}
		return `{"family":"f","containerDefinitions":[{"name":"a","image":"x","dockerLabels":{` + b.String() + `}}]}`
	}
	before, err := taskdef.Decode([]byte(labels("v")))
	if err != nil {
		t.Fatal(err)
	}
	after, err := taskdef.Decode([]byte(labels("w")))
	if err != nil {
		t.Fatal(err)
	}
	want := "field changed: containerDefinitions[\"a\"].dockerLabels.label-4321 = \"v\" -> \"w\"\n"
	if diff := cmp.Diff(want, taskdef.Diff(before, after)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if d := taskdef.Diff(before, before); d != "" {
		t.Errorf("Diff of a document with itself = %q", d)
	}
}

func TestDiffQuotesOddNames(t *testing.T) {
	before, err := taskdef.Decode([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"x","dockerLabels":{"com.example.team":"a"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := taskdef.Decode([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"x","dockerLabels":{"com.example.team":"b"}}],"a b":1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `field added: ["a b"] = 1
field changed: containerDefinitions["a"].dockerLabels["com.example.team"] = "a" -> "b"
`
	if diff := cmp.Diff(want, taskdef.Diff(before, after)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}
