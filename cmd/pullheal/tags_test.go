package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// TestRewriteKeepsUserTagsUnderTheLimit: 48 user tags and an aws: tag
// leave room for two provenance tags; rewrite prints at most 50 tags,
// every user tag among them, and never the aws: one.
func TestRewriteKeepsUserTagsUnderTheLimit(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "rewrite", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "testdata/taskdefs/forty-eight-tags.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out struct {
		Tags []taskdef.Tag `json:"tags"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tags) != taskdef.MaxTags {
		t.Fatalf("%d tags, want %d", len(out.Tags), taskdef.MaxTags)
	}
	keys := map[string]bool{}
	for _, tg := range out.Tags {
		keys[tg.Key] = true
	}
	for _, want := range []string{"cost-center-00", "cost-center-47", taskdef.TagRewriteID, taskdef.TagGeneration} {
		if !keys[want] {
			t.Errorf("tag %s missing from %v", want, keys)
		}
	}
	for k := range keys {
		if strings.HasPrefix(k, "aws:") || k == taskdef.TagReason {
			t.Errorf("tag %s should not be there", k)
		}
	}
}
