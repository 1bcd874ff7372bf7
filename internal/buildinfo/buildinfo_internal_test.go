package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuild(t *testing.T) {
	plat := runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{
			name:    "stamped by the Makefile wins",
			version: "v1.2.3", commit: "0123456789abcdef0123456789abcdef01234567",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.9"}, Settings: vcs("ffff", "true")},
			want: Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8", Platform: plat},
		},
		{
			name: "go install of a tagged module",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}},
			want: Info{Version: "v1.4.0", Commit: "unknown", GoVersion: "go1.26.1", Platform: plat},
		},
		{
			name: "go build in a modified checkout",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abc123", "true")},
			want: Info{Version: "devel", Commit: "abc123-dirty", GoVersion: "go1.26.8", Platform: plat},
		},
		{
			name: "go build in a clean checkout",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abc123", "false")},
			want: Info{Version: "devel", Commit: "abc123", GoVersion: "go1.26.8", Platform: plat},
		},
		{
			name: "no build information at all",
			want: Info{Version: "devel", Commit: "unknown", GoVersion: runtime.Version(), Platform: plat},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fromBuild(tc.version, tc.commit, tc.bi)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
