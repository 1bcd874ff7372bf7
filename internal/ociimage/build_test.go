package ociimage_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullheal/pullheal/internal/ociimage"
)

const moduleRoot = "../.."

func goTool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go tool is not on PATH")
	}
	return bin
}

// TestImageBinaryHasNoTestbed: the packages linked into the image's
// binary, for each platform, include nothing of the test bed (its fake
// credentials and test TLS key). The same command without the tag lists the
// test bed, so the check can fail.
func TestImageBinaryHasNoTestbed(t *testing.T) {
	deps := func(t *testing.T, p v1.Platform, tags string) []string {
		env, err := ociimage.GoBuildEnv(p)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goTool(t), "list", "-deps", "-tags", tags, ociimage.MainPackage)
		cmd.Dir, cmd.Env = moduleRoot, append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		var testbed []string
		for _, pkg := range strings.Fields(string(out)) {
			if strings.Contains(pkg, "/internal/testbed") {
				testbed = append(testbed, pkg)
			}
		}
		return testbed
	}
	for _, p := range ociimage.Platforms {
		if tb := deps(t, p, ociimage.BuildTags); len(tb) > 0 {
			t.Errorf("%s with -tags %s links the test bed: %v", p, ociimage.BuildTags, tb)
		}
	}
	if len(deps(t, ociimage.Platforms[0], "")) == 0 {
		t.Error("without the tag no test bed package is listed either: the check above proves nothing")
	}
	if !strings.Contains(strings.Join(ociimage.GoBuildArgs(ociimage.Stamp{Version: "v", Commit: "c"}), " "), "-tags "+ociimage.BuildTags) {
		t.Error("the image's go build does not use the tag")
	}
}

// TestImageBinaryRuns builds the image for this machine's platform with
// the tool `make image` runs, takes the binary back out of the layout and
// runs it.
func TestImageBinaryRuns(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the image's binaries run on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	work := t.TempDir()
	dir := filepath.Join(work, "image")
	// A separate process: packing a 27 MiB binary under the race detector
	// would take a minute.
	build := exec.CommandContext(ctx, goTool(t), "run", "./internal/tools/buildimage", "-out", dir,
		"-version", "v9.8.7-test", "-commit", "fedcba9876543210fedcba9876543210fedcba98", "-created", strconv.FormatInt(commitTime.Unix(), 10),
		"-ca-bundle", "internal/ociimage/testdata/ca-certificates.crt", "-platforms", p.String())
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("buildimage: %v\n%s", err, out)
	}

	idx, err := ociimage.ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Platform.String() != p.String() {
		t.Fatalf("index: %v, %+v; want one image for %s", err, im, p)
	}
	if v := im.Annotations["org.opencontainers.image.version"]; v != "v9.8.7-test" {
		t.Errorf("index version annotation %q", v)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	extracted := filepath.Join(work, "pullheal")
	data := extractFile(t, img, "pullheal", extracted)

	out, err := exec.CommandContext(ctx, extracted, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	want := "pullheal v9.8.7-test\ncommit: fedcba9876543210fedcba9876543210fedcba98\ngo: " + runtime.Version() + " " + p.String() + "\n"
	if string(out) != want {
		t.Errorf("--version printed\n%s\nwant\n%s", out, want)
	}
	// The test bed's commands are not in it; the others are.
	out, err = exec.CommandContext(ctx, extracted, "demo").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), `unknown command "demo"`) {
		t.Errorf("demo: exit %d, %s; want 2, unknown command", code, out)
	}
	out, err = exec.CommandContext(ctx, extracted, "healthcheck", "--url", "http://127.0.0.1:1/healthz").CombinedOutput()
	if code := exitCode(err); code != 1 || strings.Count(string(out), "\n") != 1 {
		t.Errorf("healthcheck of a closed port: exit %d, %q; want 1 and one line", code, out)
	}
	// Static: no interpreter, so it runs in an image FROM scratch.
	if bytes.Contains(data, []byte("/lib64/ld-linux")) || bytes.Contains(data, []byte("/lib/ld-linux")) {
		t.Error("the binary names a dynamic loader")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func extractFile(t *testing.T, img v1.Image, name, to string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name != name {
				continue
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if err := os.WriteFile(to, data, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
			return data
		}
		rc.Close()
	}
	t.Fatalf("no %s in the image", name)
	return nil
}
