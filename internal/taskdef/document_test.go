package taskdef_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	pullThroughNginx = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"
	mirroredRedis    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/bitnami/redis:7.4@sha256:3c8f1a0d2b6e4f5a7c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
)

type rewriteCase struct {
	name   string // testdata/NAME.json in, testdata/NAME.golden and NAME.diff.golden out
	images map[string]string
	reason string
}

var rewriteCases = []rewriteCase{
	{
		name:   "fargate-describe",
		images: map[string]string{"web": pullThroughNginx, "cache": mirroredRedis},
		reason: "Docker Hub rate limit (429 toomanyrequests) pulling nginx:1.27, bitnami/redis:7.4",
	},
	{
		name:   "fargate-taskdef",
		images: map[string]string{"web": pullThroughNginx, "cache": mirroredRedis},
		reason: "Docker Hub rate limit",
	},
	{
		name:   "fargate-register",
		images: map[string]string{"web": pullThroughNginx},
		reason: "Docker Hub rate limit",
	},
	{
		name: "ec2-describe",
		images: map[string]string{
			"worker":  "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/python:3.12-slim",
			"metrics": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/prom/statsd-exporter:latest",
		},
		reason: "CannotPullContainerError: 429 Too Many Requests",
	},
	{
		name:   "windows-register",
		images: map[string]string{},
		reason: "provenance only",
	},
}

// rewrite runs the pipeline the CLI runs: decode, substitute images, add
// provenance tags.
func rewrite(t testing.TB, input []byte, tc rewriteCase) (before, after *taskdef.Document, added []taskdef.Tag) {
	t.Helper()
	before, err := taskdef.Decode(input)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	withImages, err := before.WithImages(tc.images)
	if err != nil {
		t.Fatalf("WithImages: %v", err)
	}
	prov := taskdef.Provenance{
		SourceArn:  before.SourceArn(),
		Reason:     tc.reason,
		Generation: taskdef.GenerationOf(before.Tags()) + 1,
		RewriteID:  taskdef.RewriteID(before.SourceArn(), tc.images),
	}
	added = prov.Tags()
	return before, withImages.WithTags(added...), added
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestRewriteGolden(t *testing.T) {
	for _, tc := range rewriteCases {
		t.Run(tc.name, func(t *testing.T) {
			input := readFile(t, tc.name+".json")
			before, after, _ := rewrite(t, input, tc)
			out, err := after.Encode()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name+".golden", out)
			checkGolden(t, tc.name+".diff.golden", []byte(taskdef.Diff(before, after)))
		})
	}
}

// TestRewriteSemantics decodes input and output as plain JSON and requires
// them to be equal except for what a rewrite changes: read-only members
// dropped, images substituted, aws: tags dropped and provenance tags set.
// Numbers are compared as written (json.Number).
func TestRewriteSemantics(t *testing.T) {
	for _, tc := range rewriteCases {
		t.Run(tc.name, func(t *testing.T) {
			input := readFile(t, tc.name+".json")
			_, after, added := rewrite(t, input, tc)
			out, err := after.Encode()
			if err != nil {
				t.Fatal(err)
			}
			want := expectedRegisterInput(t, input, tc.images, added)
			if diff := cmp.Diff(want, decodeGeneric(t, out)); diff != "" {
				t.Errorf("output is not the input with only the rewrite applied (-want +got):\n%s", diff)
			}
		})
	}
}

func decodeGeneric(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// expectedRegisterInput applies, with plain maps, what FACTS.md says a
// re-registration must do to a described task definition.
func expectedRegisterInput(t testing.TB, input []byte, images map[string]string, added []taskdef.Tag) map[string]any {
	t.Helper()
	root := decodeGeneric(t, input)
	td, tags := root, root["tags"]
	if env, ok := root["taskDefinition"].(map[string]any); ok {
		td, tags = env, root["tags"]
	}
	for _, k := range []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
		"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt"} {
		delete(td, k)
	}
	var kept []any
	if list, ok := tags.([]any); ok {
		for _, tag := range list {
			if key := tag.(map[string]any)["key"].(string); !strings.HasPrefix(strings.ToLower(key), "aws:") {
				kept = append(kept, tag)
			}
		}
	}
	for _, a := range added {
		found := false
		for _, tag := range kept {
			if m := tag.(map[string]any); m["key"] == a.Key {
				m["value"], found = a.Value, true
			}
		}
		if !found {
			kept = append(kept, map[string]any{"key": a.Key, "value": a.Value})
		}
	}
	if tags != nil || len(added) > 0 {
		td["tags"] = kept
	}
	for _, c := range td["containerDefinitions"].([]any) {
		c := c.(map[string]any)
		if img, ok := images[c["name"].(string)]; ok {
			c["image"] = img
		}
	}
	return td
}

// TestRegisterInputRoundTripIsExact: a register input with nothing to change
// comes back byte for byte, so key order, number literals and escapes all
// survive.
func TestRegisterInputRoundTripIsExact(t *testing.T) {
	for _, name := range []string{"fargate-register.json", "windows-register.json"} {
		t.Run(name, func(t *testing.T) {
			input := readFile(t, name)
			doc, err := taskdef.Decode(input)
			if err != nil {
				t.Fatal(err)
			}
			same, err := doc.WithImages(nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := same.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(input), string(out)); diff != "" {
				t.Errorf("round trip changed the document (-in +out):\n%s", diff)
			}
			if d := taskdef.Diff(doc, same); d != "" {
				t.Errorf("Diff of unchanged documents = %q, want empty", d)
			}
		})
	}
}

// TestUnknownFieldsSurviveTheCLIPath checks the literal text of members no
// SDK knows, including numbers float64 cannot hold.
func TestUnknownFieldsSurviveTheCLIPath(t *testing.T) {
	_, after, _ := rewrite(t, readFile(t, "fargate-describe.json"), rewriteCases[0])
	out, err := after.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range []string{
		`"futureTaskSetting": {`,
		`"futureContainerSetting": {`,
		`"ratio": 1.50,`,
		`"budget": 12345678901234567890,`,
		`-0.0e+10`,
		`0.10,`,
		`"value": "caf\u00e9 \/ \"quoted\" <b>&amp;</b>"`,
	} {
		if !bytes.Contains(out, []byte(lit)) {
			t.Errorf("output lacks %s", lit)
		}
	}
	_, err = after.RegisterInput()
	if !errors.Is(err, taskdef.ErrUnknownField) || !strings.Contains(err.Error(), "containerDefinitions[0].futureContainerSetting") {
		t.Errorf("RegisterInput error = %v, want ErrUnknownField naming containerDefinitions[0].futureContainerSetting", err)
	}
}

func TestThreeShapesAgree(t *testing.T) {
	encode := func(name string) string {
		doc, err := taskdef.Decode(readFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := doc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	describe, register := encode("fargate-describe.json"), encode("fargate-register.json")
	if diff := cmp.Diff(register, describe); diff != "" {
		t.Errorf("describe output and register input decode differently (-register +describe):\n%s", diff)
	}
	bare, err := taskdef.Decode(readFile(t, "fargate-taskdef.json"))
	if err != nil {
		t.Fatal(err)
	}
	withTags := bare.WithTags(taskdef.Tag{Key: "team", Value: "payments"}, taskdef.Tag{Key: "environment", Value: "production"})
	b, _ := withTags.Encode()
	if diff := cmp.Diff(register, string(b)); diff != "" {
		t.Errorf("taskDefinition member alone decodes differently (-register +bare):\n%s", diff)
	}
}

func TestAccessors(t *testing.T) {
	doc, err := taskdef.Decode(readFile(t, "fargate-describe.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"family":                  doc.Family(),
		"sourceArn":               doc.SourceArn(),
		"executionRoleArn":        doc.ExecutionRoleArn(),
		"taskRoleArn":             doc.TaskRoleArn(),
		"networkMode":             doc.NetworkMode(),
		"requiresCompatibilities": doc.RequiresCompatibilities(),
		"containers":              doc.Containers(),
		"tags":                    doc.Tags(),
	}
	want := map[string]any{
		"family":                  "checkout",
		"sourceArn":               "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:42",
		"executionRoleArn":        "arn:aws:iam::123456789012:role/checkout-execution",
		"taskRoleArn":             "arn:aws:iam::123456789012:role/checkout-task",
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"FARGATE"},
		"containers": []taskdef.Container{
			{Name: "web", Image: "nginx:1.27"},
			{Name: "cache", Image: "bitnami/redis:7.4@sha256:3c8f1a0d2b6e4f5a7c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"},
			{Name: "log_router", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
			{Name: "migrate", Image: "ghcr.io/example/checkout-migrate:2.3.1"},
		},
		"tags": []taskdef.Tag{{Key: "team", Value: "payments"}, {Key: "environment", Value: "production"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accessors (-want +got):\n%s", diff)
	}
}

func TestWithImages(t *testing.T) {
	orig, err := taskdef.Decode(readFile(t, "fargate-register.json"))
	if err != nil {
		t.Fatal(err)
	}
	origBytes, _ := orig.Encode()
	tests := []struct {
		name    string
		images  map[string]string
		want    []taskdef.Container
		wantErr error
	}{
		{
			name:   "digest kept exactly",
			images: map[string]string{"cache": mirroredRedis, "web": "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
			want: []taskdef.Container{
				{Name: "web", Image: "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
				{Name: "cache", Image: mirroredRedis},
				{Name: "log_router", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
				{Name: "migrate", Image: "ghcr.io/example/checkout-migrate:2.3.1"},
			},
		},
		{
			name:   "written as given, no normalising",
			images: map[string]string{"migrate": "  Odd/Ref:with \"quotes\"\t"},
			want: []taskdef.Container{
				{Name: "web", Image: "nginx:1.27"},
				{Name: "cache", Image: "bitnami/redis:7.4@sha256:3c8f1a0d2b6e4f5a7c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"},
				{Name: "log_router", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
				{Name: "migrate", Image: "  Odd/Ref:with \"quotes\"\t"},
			},
		},
		{name: "unknown container", images: map[string]string{"web": "x", "nope": "y"}, wantErr: taskdef.ErrNoContainer},
		{name: "empty image", images: map[string]string{"web": ""}, wantErr: taskdef.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := orig.WithImages(tt.images)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("WithImages error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Containers()); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			// The image must also survive encoding and decoding.
			b, _ := got.Encode()
			again, err := taskdef.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, again.Containers()); diff != "" {
				t.Errorf("containers after re-decoding (-want +got):\n%s", diff)
			}
			if now, _ := orig.Encode(); !bytes.Equal(now, origBytes) {
				t.Error("WithImages changed the original document")
			}
		})
	}
	_, err = orig.WithImages(map[string]string{"nope": "x"})
	if want := `set image of container "nope": no such container (the task definition has web, cache, log_router, migrate)`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestWithTags(t *testing.T) {
	orig, err := taskdef.Decode(readFile(t, "windows-register.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := orig.WithTags(
		taskdef.Tag{Key: "pullheal:generation", Value: "2"},
		taskdef.Tag{Key: "aws:ecs:serviceName", Value: "ignored"},
		taskdef.Tag{Key: "new", Value: "v"},
		taskdef.Tag{Key: "Owner", Value: "case matters"},
		taskdef.Tag{Key: "new", Value: "last wins"},
	)
	want := []taskdef.Tag{
		{Key: "owner", Value: "portal-team@example.com"},
		{Key: "pullheal:generation", Value: "2"},
		{Key: "new", Value: "last wins"},
		{Key: "Owner", Value: "case matters"},
	}
	if diff := cmp.Diff(want, got.Tags()); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]taskdef.Tag{{Key: "owner", Value: "portal-team@example.com"}, {Key: "pullheal:generation", Value: "1"}}, orig.Tags()); diff != "" {
		t.Errorf("WithTags changed the original (-want +got):\n%s", diff)
	}

	// A document without tags gets a tags member at the end.
	bare, err := taskdef.Decode([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := bare.WithTags(taskdef.Tag{Key: "k", Value: "v"}).Encode()
	wantJSON := "{\n  \"family\": \"f\",\n  \"containerDefinitions\": [\n    {\n      \"name\": \"a\",\n      \"image\": \"b\"\n    }\n  ],\n  \"tags\": [\n    {\n      \"key\": \"k\",\n      \"value\": \"v\"\n    }\n  ]\n}\n"
	if diff := cmp.Diff(wantJSON, string(b)); diff != "" {
		t.Errorf("encoding (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "invalid task definition: line 1, column 1: no JSON value"},
		{"syntax", "{\n  \"family\": \"web\",\n  \"cpu\": 256,,\n}", `invalid task definition: line 3, column 14: unexpected ',', expected a string key`},
		{"truncated", `{"family": "web", "containerDefinitions": [`, "invalid task definition: line 1, column 44: unexpected end of input, expected a value"},
		{"trailing", `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]} x`, "invalid task definition: line 1, column 66: unexpected 'x' after the top-level value"},
		{"duplicate key", `{"family":"f","family":"g"}`, `invalid task definition: line 1, column 15: duplicate key "family"`},
		{"bad escape", `{"family":"\x"}`, `invalid task definition: line 1, column 12: invalid escape sequence in a string`},
		{"raw newline in string", "{\"family\":\"a\nb\"}", `invalid task definition: line 1, column 13: control character U+000A in a string (write it as an escape)`},
		{"invalid utf-8", "{\"family\":\"\xff\"}", `invalid task definition: line 1, column 12: invalid UTF-8 in a string`},
		{"bad number", `{"cpu": 01}`, `invalid task definition: line 1, column 10: unexpected '1' in an object, expected ',' or '}'`},
		{"column counts characters", `{"é": "ü", "x": -}`, `invalid task definition: line 1, column 18: unexpected '}' in a number, expected a digit`},
		{"array", `[]`, "invalid task definition: line 1, column 1: top level is an array, want an object"},
		{"not a task definition", `{"services": []}`, "invalid task definition: line 1, column 1: no taskDefinition, family or containerDefinitions at the top level"},
		{"taskDefinition not object", `{"taskDefinition": "x"}`, "invalid task definition: line 1, column 20: taskDefinition is a string, want an object"},
		{"no family", `{"containerDefinitions":[{"name":"a","image":"b"}]}`, "invalid task definition: line 1, column 1: no family"},
		{"family not string", `{"family": 1, "containerDefinitions":[{"name":"a","image":"b"}]}`, "invalid task definition: line 1, column 12: family is a number, want a string"},
		{"no containers", `{"taskDefinition": {"family":"web"}}`, "invalid task definition: line 1, column 20: no containerDefinitions"},
		{"empty containers", `{"family":"web","containerDefinitions":[]}`, "invalid task definition: line 1, column 40: containerDefinitions is empty"},
		{"container no name", "{\"family\":\"web\",\"containerDefinitions\":[\n  {\"image\":\"nginx\"}]}", "invalid task definition: line 2, column 3: containerDefinitions[0] has no name"},
		{"container no image", `{"family":"web","containerDefinitions":[{"name":"a","image":"b"},{"name":"side"}]}`, `invalid task definition: line 1, column 66: container "side" (containerDefinitions[1]) has no image`},
		{"image null", `{"family":"web","containerDefinitions":[{"name":"a","image":null}]}`, `invalid task definition: line 1, column 61: container "a" image is null, want a string`},
		{"duplicate names", `{"family":"web","containerDefinitions":[{"name":"a","image":"b"},{"name":"a","image":"c"}]}`, `invalid task definition: line 1, column 74: containerDefinitions[0] and [1] are both named "a"`},
		{"tags not array", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]},"tags":{}}`, "invalid task definition: line 1, column 91: tags is an object, want an array"},
		{"tag without key", `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"tags":[{"value":"v"}]}`, "invalid task definition: line 1, column 73: tags[0] has no key"},
		{"tag extra member", `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"tags":[{"Key":"k","Value":"v"}]}`, `invalid task definition: line 1, column 73: tags[0] has member "Key", want only key and value`},
		{"deep nesting", `{"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, "invalid task definition: line 1, column 517: nesting deeper than 512 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskdef.Decode([]byte(tt.in))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if !errors.Is(err, taskdef.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestDecodeTolerates(t *testing.T) {
	tests := []struct {
		name, in string
		want     []taskdef.Tag
	}{
		{"byte order mark", "\uFEFF" + `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]}`, nil},
		{"null tags", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]},"tags":null}`, []taskdef.Tag{}},
		{"only aws tags", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]},"tags":[{"key":"aws:x","value":"1"}]}`, []taskdef.Tag{}},
		{"tag without value", `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"tags":[{"key":"k"}]}`, []taskdef.Tag{{Key: "k"}}},
		{"envelope tags replace inner tags", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"tags":[{"key":"inner","value":"1"}]},"tags":[{"key":"outer","value":"2"}],"ResponseMetadata":{}}`, []taskdef.Tag{{Key: "outer", Value: "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := taskdef.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, doc.Tags()); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegisterInputErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
		is             error
	}{
		{"wrong type", `{"family":"f","containerDefinitions":[{"name":"a","image":"b","cpu":"256"}]}`,
			`register input for f: containerDefinitions[0].cpu: invalid task definition: want an integer, found string "256"`, taskdef.ErrInvalid},
		{"int32 overflow", `{"family":"f","containerDefinitions":[{"name":"a","image":"b","memory":4294967296}]}`,
			`register input for f: containerDefinitions[0].memory: invalid task definition: want an integer from -2147483648 to 2147483647, found 4294967296`, taskdef.ErrInvalid},
		{"fraction", `{"family":"f","containerDefinitions":[{"name":"a","image":"b","memory":1.5}]}`,
			`register input for f: containerDefinitions[0].memory: invalid task definition: want an integer from -2147483648 to 2147483647, found 1.5`, taskdef.ErrInvalid},
		{"task cpu as number", `{"family":"f","cpu":256,"containerDefinitions":[{"name":"a","image":"b"}]}`,
			`register input for f: cpu: invalid task definition: want a string, found number 256`, taskdef.ErrInvalid},
		{"unknown nested", `{"family":"f","containerDefinitions":[{"name":"a","image":"b","linuxParameters":{"tmpfs":[{"size":1,"futureFlag":true}]}}]}`,
			`register input for f: containerDefinitions[0].linuxParameters.tmpfs[0].futureFlag: field not known to the ECS SDK`, taskdef.ErrUnknownField},
		{"unknown top", `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"futureTop":1}`,
			`register input for f: futureTop: field not known to the ECS SDK`, taskdef.ErrUnknownField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := taskdef.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = doc.RegisterInput()
			if !errors.Is(err, tt.is) || err.Error() != tt.want {
				t.Errorf("RegisterInput error:\n got %v\nwant %s (wrapping %v)", err, tt.want, tt.is)
			}
		})
	}
}

// TestRegisterInputFromCLIFile converts a rich register input without
// unknown members and checks the values that need conversion: enums, int32
// pointers, union members, maps, nulls.
func TestRegisterInputFromCLIFile(t *testing.T) {
	doc, err := taskdef.Decode(readFile(t, "windows-register.json"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := doc.RegisterInput()
	if err != nil {
		t.Fatal(err)
	}
	c := in.ContainerDefinitions[0]
	got := []any{*in.Family, *in.Cpu, *in.Memory, string(in.NetworkMode), string(in.RuntimePlatform.OperatingSystemFamily),
		*in.EnableFaultInjection, c.Cpu, *c.Memory, *c.PortMappings[0].ContainerPort, string(c.PortMappings[0].Protocol),
		c.PortMappings[0].HostPort == nil, *in.Volumes[0].FsxWindowsFileServerVolumeConfiguration.AuthorizationConfig.Domain,
		c.LogConfiguration.Options["awslogs-group"], *c.MountPoints[0].ContainerPath, len(in.Tags), *in.Tags[1].Value}
	want := []any{"legacy-portal", "1 vCPU", "4 GB", "awsvpc", "WINDOWS_SERVER_2022_CORE",
		true, int32(1024), int32(2048), int32(80), "tcp",
		true, "corp.example.com",
		"/ecs/legacy-portal", `C:\shares`, 2, "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("register input (-want +got):\n%s", diff)
	}
}
