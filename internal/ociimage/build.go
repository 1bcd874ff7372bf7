package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BuildTags are the tags of the image's binary. noTestbed leaves out the
// commands that link the local test bed (`pullheal local` and `demo`, with
// their fake credentials and test TLS key): see docs/image.md.
const BuildTags = "noTestbed"

// MainPackage is the package the image's binary is built from.
const MainPackage = "github.com/pullheal/pullheal/cmd/pullheal"

// buildinfoPackage receives the version and commit through -ldflags -X.
const buildinfoPackage = "github.com/pullheal/pullheal/internal/buildinfo"

// Stamp is what the binary says about itself (pullheal --version).
type Stamp struct {
	Version string
	Commit  string
}

// GoBuildArgs are the arguments of `go build` for the image's binary,
// without the output file and the package. They make the binary a function
// of the source and the toolchain alone: no file system paths (-trimpath),
// no VCS state read at build time (-buildvcs=false; the commit comes from
// the stamp instead), no build ID that a linker would vary, no symbol table.
func GoBuildArgs(s Stamp) []string {
	return []string{
		"build", "-trimpath", "-buildvcs=false", "-tags", BuildTags,
		"-ldflags", fmt.Sprintf("-s -w -buildid= -X %s.version=%s -X %s.commit=%s", buildinfoPackage, s.Version, buildinfoPackage, s.Commit),
	}
}

// GoBuildEnv is the environment of that `go build` for platform p, on top
// of the caller's: a static binary (no cgo), the baseline instruction set of
// each architecture, and none of the caller's GOFLAGS.
func GoBuildEnv(p v1.Platform) ([]string, error) {
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Architecture, "GOFLAGS="}
	switch p.Architecture {
	case "amd64":
		env = append(env, "GOAMD64=v1")
	case "arm64":
		env = append(env, "GOARM64=v8.0")
	default:
		return nil, fmt.Errorf("platform %s: only amd64 and arm64 are built", p)
	}
	if p.OS != "linux" || p.Variant != "" {
		return nil, fmt.Errorf("platform %s: only linux/amd64 and linux/arm64 are built", p)
	}
	return env, nil
}

// BuildBinary compiles MainPackage for p into out, with goTool (usually
// "go") run in dir (the module's root).
func BuildBinary(ctx context.Context, goTool, dir string, p v1.Platform, s Stamp, out string) error {
	for name, v := range map[string]string{"version": s.Version, "commit": s.Commit} {
		if v == "" || strings.ContainsAny(v, " \t\r\n\"'") {
			return fmt.Errorf("stamp %s %q: want a non-empty word", name, v)
		}
	}
	env, err := GoBuildEnv(p)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goTool, append(GoBuildArgs(s), "-o", out, MainPackage)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w: %s", p, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
