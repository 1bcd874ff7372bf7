package imagesync

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/policy"
)

func TestSelectNewest(t *testing.T) {
	tags := []string{"latest", "1.26", "1.27", "1.27.3", "1.27-alpine", "1.25.5", "mainline", "20240601", "20231201", "v1.28.0-rc1", "1.9"}
	for _, tc := range []struct {
		name string
		sel  policy.TagSelector
		n    int
		want []string
	}{
		{"semver range, newest first", policy.TagSelector{Semver: "^1.26"}, 20, []string{"1.27.3", "1.27", "1.26"}},
		{"capped", policy.TagSelector{Semver: ">=1.0, <2"}, 2, []string{"1.27.3", "1.27"}},
		// As the policy's ranges see them: a number is a major version.
		{"dated tags are versions", policy.TagSelector{Semver: ">=1.26"}, 3, []string{"20240601", "20231201", "1.27.3"}},
		{"pre-releases only by glob, after their release", policy.TagSelector{Glob: []string{"1.27*"}}, 20, []string{"1.27.3", "1.27", "1.27-alpine"}},
		{"glob and range together, each tag once", policy.TagSelector{Glob: []string{"1.2?"}, Semver: "~1.27"}, 20, []string{"1.27.3", "1.27", "1.26"}},
		{"versions first, then other tags newest first", policy.TagSelector{Glob: []string{"*"}}, 20, []string{
			"20240601", "20231201", "v1.28.0-rc1", "1.27.3", "1.27", "1.27-alpine", "1.26", "1.25.5", "1.9", "mainline", "latest"}},
		{"dated tags", policy.TagSelector{Glob: []string{"20*"}}, 20, []string{"20240601", "20231201"}},
		{"numbers compare as numbers", policy.TagSelector{Glob: []string{"1.9", "1.26"}}, 20, []string{"1.26", "1.9"}},
		{"nothing selected", policy.TagSelector{Semver: "^2"}, 20, []string{}},
	} {
		got := newest(selected(tags, tc.sel), tc.n)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}
