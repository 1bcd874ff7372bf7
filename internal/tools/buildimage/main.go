// Command buildimage builds pullheal's container image for `make image`:
// the binary for each platform (go build with the image's flags and the
// noTestbed tag), then an OCI image index of FROM-scratch images, written
// as an OCI image layout. It needs the Go toolchain and a CA bundle, and no
// Docker daemon. Run it from the module's root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullheal/pullheal/internal/ociimage"
	"github.com/pullheal/pullheal/internal/tools/toolmain"
)

type usageError = toolmain.UsageError

func main() { toolmain.Main("buildimage", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("buildimage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "bin/image", "`DIR` of the OCI image layout (replaced)")
	version := fs.String("version", "", "version the binary and the image carry (required)")
	commit := fs.String("commit", "", "commit the binary and the image carry (required)")
	created := fs.String("created", "", "commit time in Unix seconds (SOURCE_DATE_EPOCH): every time in the image (required)")
	source := fs.String("source", "https://github.com/pullheal/pullheal", "repository URL, org.opencontainers.image.source")
	caBundle := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM `FILE` of trusted roots (Debian's ca-certificates)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated `OS/ARCH` list")
	goTool := fs.String("go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return usageError{Err: err}
	}
	if fs.NArg() > 0 {
		return usageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *version == "" || *commit == "" || *created == "" {
		return usageError{Err: errors.New("-version, -commit and -created are required")}
	}
	secs, err := strconv.ParseInt(*created, 10, 64)
	if err != nil || secs < 0 {
		return usageError{Err: fmt.Errorf("-created %q: want Unix seconds", *created)}
	}
	var plats []v1.Platform
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return usageError{Err: fmt.Errorf("-platforms %q: %v", s, err)}
		}
		if _, err := ociimage.GoBuildEnv(*p); err != nil {
			return usageError{Err: err}
		}
		plats = append(plats, *p)
	}
	ca, err := os.ReadFile(*caBundle)
	if err != nil {
		return fmt.Errorf("CA bundle: %w (install Debian's ca-certificates package)", err)
	}

	spec := ociimage.Spec{CABundle: ca, Created: time.Unix(secs, 0).UTC(), Version: *version, Revision: *commit, Source: *source}
	stamp := ociimage.Stamp{Version: *version, Commit: *commit}
	tmp, err := os.MkdirTemp("", "pullheal-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, p := range plats {
		start := time.Now()
		bin := filepath.Join(tmp, strings.ReplaceAll(p.String(), "/", "-"))
		if err := ociimage.BuildBinary(ctx, *goTool, ".", p, stamp, bin); err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "built %s binary (%.1f MiB, %.1fs)\n", p, float64(len(data))/(1<<20), time.Since(start).Seconds())
		spec.Binaries = append(spec.Binaries, ociimage.Binary{Platform: p, Data: data})
	}
	idx, err := ociimage.Build(spec)
	if err != nil {
		return err
	}
	digest, err := ociimage.WriteLayout(*out, idx, *version)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s (%s; version %s, commit %s)\n", *out, digest, *platforms, *version, *commit)
	return nil
}
