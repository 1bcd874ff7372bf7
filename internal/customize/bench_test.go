package customize_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pullheal/pullheal/internal/customize"
)

// bigImage is an image of layers layers, each with files 1 KiB files in
// 100 directories: DIR lines read every entry of it.
func bigImage(b *testing.B, layers, files int) v1.Image {
	b.Helper()
	img := empty.Image
	content := bytes.Repeat([]byte("x"), 1024)
	for l := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for d := range 100 {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("usr/share/l%d/d%d/", l, d), Mode: 0o755})
		}
		for f := range files {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("usr/share/l%d/d%d/f%d", l, f%100, f), Mode: 0o644, Size: int64(len(content))})
			_, _ = tw.Write(content)
		}
		_ = tw.Close()
		data := buf.Bytes()
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			tarball.WithCompressedCaching)
		if err != nil {
			b.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// BenchmarkApply: ENV and VOLUME lines touch the config only; a DIR line
// streams the image's layers once to find the parents it must keep.
func BenchmarkApply(b *testing.B) {
	img := bigImage(b, 4, 5000) // 20,000 files, 20 MiB uncompressed
	for _, bc := range []struct {
		name  string
		lines []string
	}{
		{"env-volume", []string{"ENV FOO=bar", "VOLUME /data"}},
		{"dir-20k-files", []string{"ENV FOO=bar", "VOLUME /data", "DIR /data 0750", "DIR /usr/share/l0/d1/cache"}},
	} {
		lines, err := customize.Parse(bc.lines)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := customize.Apply(img, lines)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := out.Digest(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
