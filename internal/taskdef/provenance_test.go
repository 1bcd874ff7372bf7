package taskdef_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

func TestRewriteID(t *testing.T) {
	const arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:12"
	images := map[string]string{"web": pullThroughNginx, "cache": mirroredRedis}

	// Pinned: running agents compare IDs across releases.
	if got, want := taskdef.RewriteID(arn, images), "329eac81ff624c33"; got != want {
		t.Errorf("RewriteID = %q, want %q (changing the encoding breaks idempotency)", got, want)
	}
	same := map[string]string{"cache": mirroredRedis, "web": pullThroughNginx}
	if taskdef.RewriteID(arn, images) != taskdef.RewriteID(arn, same) {
		t.Error("RewriteID depends on map order")
	}
	variants := []struct {
		arn    string
		images map[string]string
	}{
		{arn, images},
		{arn + "3", images},
		{arn, map[string]string{"web": pullThroughNginx}},
		{arn, map[string]string{"web": pullThroughNginx, "cache": mirroredRedis + "x"}},
		{arn, map[string]string{"a": "bc"}},
		{arn, map[string]string{"ab": "c"}},
		{arn + "a", map[string]string{"": "bc"}},
		{arn, nil},
		{"", nil},
	}
	seen := map[string]int{}
	for i, v := range variants {
		id := taskdef.RewriteID(v.arn, v.images)
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("RewriteID = %q, want 16 hex digits", id)
		}
		if j, dup := seen[id]; dup {
			t.Errorf("variants %d and %d share RewriteID %s", j, i, id)
		}
		seen[id] = i
	}
}

func TestProvenanceTags(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name string
		p    taskdef.Provenance
		want []taskdef.Tag
	}{
		{
			name: "plain",
			p: taskdef.Provenance{SourceArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:12",
				Reason: "Docker Hub rate limit", Generation: 1, RewriteID: "0123456789abcdef"},
			want: []taskdef.Tag{
				{Key: "pullheal:source-revision", Value: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:12"},
				{Key: "pullheal:rewrite-id", Value: "0123456789abcdef"},
				{Key: "pullheal:reason", Value: "Docker Hub rate limit"},
				{Key: "pullheal:generation", Value: "1"},
			},
		},
		{
			name: "reason sanitised",
			p: taskdef.Provenance{Reason: "  CannotPullContainerError: (429) \"toomanyrequests\",\n\tYou have reached your pull rate limit!  Straße 東京 ",
				Generation: 0},
			want: []taskdef.Tag{
				{Key: "pullheal:source-revision", Value: ""},
				{Key: "pullheal:rewrite-id", Value: ""},
				{Key: "pullheal:reason", Value: "CannotPullContainerError: 429 toomanyrequests You have reached your pull rate limit Straße 東京"},
				{Key: "pullheal:generation", Value: "1"},
			},
		},
		{
			name: "reason truncated",
			p:    taskdef.Provenance{Reason: long, Generation: 3},
			want: []taskdef.Tag{
				{Key: "pullheal:source-revision", Value: ""},
				{Key: "pullheal:rewrite-id", Value: ""},
				{Key: "pullheal:reason", Value: strings.Repeat("é", 253) + "..."},
				{Key: "pullheal:generation", Value: "3"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Tags()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			for _, tag := range got {
				if err := tag.Validate(); err != nil {
					t.Errorf("provenance tag is not valid for ECS: %v", err)
				}
			}
		})
	}
}

func TestSanitizeTagValueLimits(t *testing.T) {
	for _, in := range []string{strings.Repeat("a", 256), strings.Repeat("a", 257), strings.Repeat("a ", 200), strings.Repeat("(", 500)} {
		out := taskdef.SanitizeTagValue(in)
		if n := utf8.RuneCountInString(out); n > 256 {
			t.Errorf("SanitizeTagValue gave %d characters", n)
		}
		if err := (taskdef.Tag{Key: "k", Value: out}).Validate(); err != nil {
			t.Errorf("SanitizeTagValue(%.10q...) = %.10q..., invalid: %v", in, out, err)
		}
	}
	if got := taskdef.SanitizeTagValue(strings.Repeat("a", 256)); got != strings.Repeat("a", 256) {
		t.Error("a value of exactly 256 characters was changed")
	}
}

func TestGenerationOf(t *testing.T) {
	tests := []struct {
		name string
		tags []taskdef.Tag
		want int
	}{
		{"none", nil, 0},
		{"other tags", []taskdef.Tag{{Key: "team", Value: "x"}}, 0},
		{"first", []taskdef.Tag{{Key: "team", Value: "x"}, {Key: "pullheal:generation", Value: "1"}}, 1},
		{"third", []taskdef.Tag{{Key: "pullheal:generation", Value: "3"}}, 3},
		{"damaged counts as generated", []taskdef.Tag{{Key: "pullheal:generation", Value: "abc"}}, 1},
		{"zero counts as generated", []taskdef.Tag{{Key: "pullheal:generation", Value: "0"}}, 1},
		{"key is case-sensitive", []taskdef.Tag{{Key: "Pullheal:Generation", Value: "2"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := taskdef.GenerationOf(tt.tags); got != tt.want {
				t.Errorf("GenerationOf = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTagValidate(t *testing.T) {
	tests := []struct {
		tag  taskdef.Tag
		want string
	}{
		{taskdef.Tag{Key: "team", Value: "a b+c-d=e.f_g:h/i@j"}, ""},
		{taskdef.Tag{Key: "", Value: "x"}, "tag key is empty"},
		{taskdef.Tag{Key: strings.Repeat("k", 129)}, `tag key "kkkkkkkkkkkkkkkkkkkk"... is 129 characters, the limit is 128`},
		{taskdef.Tag{Key: "AWS:x"}, `tag key "AWS:x" is in the reserved aws: namespace`},
		{taskdef.Tag{Key: "k", Value: strings.Repeat("v", 257)}, `tag "k": value is 257 characters, the limit is 256`},
		{taskdef.Tag{Key: "k", Value: "a,b"}, `tag "k": character ',' is not allowed`},
		{taskdef.Tag{Key: "k(", Value: ""}, `tag "k(": character '(' is not allowed`},
	}
	for _, tt := range tests {
		err := tt.tag.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%.20q) = %q, want %q", tt.tag.Key, got, tt.want)
		}
	}
}
