// Package buildinfo tells which pullheal this is: the version and commit the
// Makefile stamps in with -ldflags -X, or, for a plain `go build` or
// `go install`, what the Go toolchain recorded in the binary.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the Makefile and the image build:
//
//	-X github.com/pullheal/pullheal/internal/buildinfo.version=v1.2.3
//	-X github.com/pullheal/pullheal/internal/buildinfo.commit=<40 hex>
//
// They are variables only because -X can set nothing else; read them
// through Get.
var (
	version string
	commit  string
)

// Info is what --version prints and the pullheal_build_info metric carries.
type Info struct {
	Version   string // a tag, git describe output, a module version, or "devel"
	Commit    string // the full commit hash, "-dirty" appended for a modified tree; "unknown" when not recorded
	GoVersion string // the toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// Get returns the build's identity: the stamped values first, then the
// module and VCS information the toolchain embedded.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(version, commit, bi)
}

func fromBuild(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			var rev string
			var modified bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += "-dirty"
			}
			info.Commit = rev
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
