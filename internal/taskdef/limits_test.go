package taskdef_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// withUserTags is a register input with n user tags and one aws: tag.
func withUserTags(t *testing.T, n int, extra ...string) *taskdef.Document {
	t.Helper()
	tags := []string{`{"key":"aws:cloudformation:stack-name","value":"s"}`}
	for i := range n {
		tags = append(tags, fmt.Sprintf(`{"key":"team-%02d","value":"v%d"}`, i, i))
	}
	tags = append(tags, extra...)
	doc, err := taskdef.Decode([]byte(`{"family":"web","containerDefinitions":[{"name":"web","image":"nginx:1.27"}],"tags":[` + strings.Join(tags, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestProvenanceFitsUnderFiftyTags: a revision keeps every user tag, and
// provenance takes what room ECS's 50 leave, most important first.
func TestProvenanceFitsUnderFiftyTags(t *testing.T) {
	prov := taskdef.Provenance{SourceArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7", RewriteID: "0123456789abcdef", Reason: "r", Generation: 1}
	regenerated := `{"key":"pullheal:generation","value":"1"}`
	for _, tc := range []struct {
		name     string
		user     int
		extra    []string
		wantLeft []string
	}{
		{"room for all", 46, nil, nil},
		{"one short", 47, nil, []string{taskdef.TagReason}},
		{"two short", 48, nil, []string{taskdef.TagSourceRevision, taskdef.TagReason}},
		{"room for the key only", 49, nil, []string{taskdef.TagSourceRevision, taskdef.TagReason, taskdef.TagGeneration}},
		{"no room", 50, nil, []string{taskdef.TagSourceRevision, taskdef.TagRewriteID, taskdef.TagReason, taskdef.TagGeneration}},
		// A tag the source already has is updated in place and costs nothing.
		{"generated source at the limit", 49, []string{regenerated}, []string{taskdef.TagSourceRevision, taskdef.TagRewriteID, taskdef.TagReason}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := withUserTags(t, tc.user, tc.extra...)
			out, left := doc.WithProvenance(prov)
			if diff := cmp.Diff(tc.wantLeft, left); diff != "" {
				t.Errorf("left out (-want +got):\n%s", diff)
			}
			tags := out.Tags()
			if len(tags) > taskdef.MaxTags {
				t.Errorf("%d tags, ECS allows %d", len(tags), taskdef.MaxTags)
			}
			have := map[string]string{}
			for _, tg := range tags {
				if strings.HasPrefix(tg.Key, "aws:") {
					t.Errorf("aws: tag %q copied", tg.Key)
				}
				have[tg.Key] = tg.Value
			}
			for i := range tc.user {
				if have[fmt.Sprintf("team-%02d", i)] != fmt.Sprintf("v%d", i) {
					t.Errorf("user tag team-%02d lost or changed", i)
				}
			}
			for _, want := range prov.Tags() {
				_, got := have[want.Key]
				fits := !strings.Contains(strings.Join(left, " "), want.Key)
				if got != fits {
					t.Errorf("tag %s present=%v, want %v", want.Key, got, fits)
				}
			}
			if _, err := out.RegisterInput(); err != nil {
				t.Errorf("RegisterInput: %v", err)
			}
		})
	}
}

func TestSourceRevisionValue(t *testing.T) {
	prefix := "arn:aws:ecs:us-east-1:123456789012:task-definition/"
	fits := prefix + strings.Repeat("f", 200) + ":12"
	familyForm := strings.Repeat("g", 240)
	longest := strings.Repeat("h", 255)
	for _, tc := range []struct {
		name, arn, want string
	}{
		{"an ARN that fits is kept whole", fits, fits},
		{"a longer ARN becomes family:revision", prefix + familyForm + ":3", familyForm + ":3"},
		{"a family too long for that is cut and hashed", prefix + longest + ":12345", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := taskdef.SourceRevisionValue(tc.arn)
			if n := utf8.RuneCountInString(got); n > 256 {
				t.Fatalf("value is %d characters", n)
			}
			if err := (taskdef.Tag{Key: taskdef.TagSourceRevision, Value: got}).Validate(); err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.want == "" && (!strings.HasSuffix(got, ":12345") || !strings.Contains(got, "@") || !strings.HasPrefix(got, "hhhh")) {
				t.Errorf("got %q, want FAMILYPREFIX@HASH:12345", got)
			}
		})
	}
	// Two long families that share their first 230 characters stay apart.
	a := taskdef.SourceRevisionValue(prefix + strings.Repeat("x", 250) + "a:1")
	b := taskdef.SourceRevisionValue(prefix + strings.Repeat("x", 250) + "b:1")
	if a == b {
		t.Errorf("two families give the same value %q", a)
	}
}

func TestECSLimits(t *testing.T) {
	doc := withUserTags(t, 0)
	// A valid 250-character Docker Hub name grows past 255 in ECR.
	long := "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/" + strings.Repeat("n", 200) + ":1.27"
	if _, err := doc.WithImages(map[string]string{"web": long}); !errors.Is(err, taskdef.ErrTooLarge) || !strings.Contains(err.Error(), "ECS allows 255") {
		t.Errorf("WithImages(%d characters) = %v, want ErrTooLarge naming the limit", len(long), err)
	}
	env := make([]string, 0, 1200)
	for i := range 1200 {
		env = append(env, fmt.Sprintf(`{"name":"VARIABLE_%04d","value":"%s"}`, i, strings.Repeat("v", 40)))
	}
	big, err := taskdef.Decode([]byte(`{"family":"web","containerDefinitions":[{"name":"web","image":"nginx:1.27","environment":[` + strings.Join(env, ",") + `]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := big.RegisterInput(); !errors.Is(err, taskdef.ErrTooLarge) || !strings.Contains(err.Error(), "ECS allows 65536") {
		t.Errorf("RegisterInput of a %d-variable definition = %v, want ErrTooLarge", len(env), err)
	}
	if err := doc.CheckSize(); err != nil {
		t.Errorf("small definition: %v", err)
	}
}

// TestDecodeRefusesMoreTagsThanECSTakes: RegisterTaskDefinition refuses a
// revision with more than 50 tags, so a file that holds more (aws: tags,
// which are dropped, not counted) is invalid input, named at its tags
// member; exactly 50 pass, all kept.
func TestDecodeRefusesMoreTagsThanECSTakes(t *testing.T) {
	tests := []struct {
		file string
		want string // Decode's error; "" for none
		kept int
	}{
		{"tags-51-register.json", "invalid task definition: line 10, column 11: 51 tags; ECS allows at most 50", 0},
		{"tags-51-and-aws-describe.json", "invalid task definition: line 15, column 11: 51 tags besides the aws: tags, which are dropped; ECS allows at most 50", 0},
		{"tags-50-and-aws-describe.json", "", 50},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := taskdef.Decode(readFile(t, tt.file))
			if tt.want != "" {
				if err == nil || err.Error() != tt.want || !errors.Is(err, taskdef.ErrInvalid) {
					t.Fatalf("Decode error:\n got %v\nwant %s (wrapping ErrInvalid)", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := len(doc.Tags()); got != tt.kept {
				t.Errorf("%d tags kept, want %d", got, tt.kept)
			}
			for _, tag := range doc.Tags() {
				if taskdef.IsAWSTag(tag.Key) {
					t.Errorf("aws: tag %s kept", tag.Key)
				}
			}
		})
	}
}
