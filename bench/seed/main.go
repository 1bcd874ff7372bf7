// Command seed pushes the images bench/compare.sh copies into a registry:
//
//	-set shared   img0..img3:1, four images sharing three base layers, each
//	              with one layer of its own
//	-set index    big:1, a two-platform index of 200 MiB (2 x 5 x 20 MiB)
//
// Layers are random bytes (incompressible, so that what a registry stores
// is what is sent) from a fixed seed: every run pushes the same digests.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	registry := flag.String("registry", "", "registry `HOST:PORT` to push to (plain HTTP)")
	set := flag.String("set", "", "`shared` or `index`")
	baseMiB := flag.Int("base-mib", 16, "size of each shared base layer (shared)")
	ownMiB := flag.Int("own-mib", 4, "size of each image's own layer (shared)")
	flag.Parse()
	if err := run(*registry, *set, *baseMiB, *ownMiB); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(registry, set string, baseMiB, ownMiB int) error {
	if registry == "" {
		return fmt.Errorf("-registry is required")
	}
	switch set {
	case "shared":
		var base []v1.Layer
		for i := range 3 {
			base = append(base, layer(uint64(100+i), baseMiB<<20))
		}
		for i := range 4 {
			img, err := image("linux/amd64", append(base[:3:3], layer(uint64(200+i), ownMiB<<20))...)
			if err != nil {
				return err
			}
			if err := push(fmt.Sprintf("%s/img%d:1", registry, i), img); err != nil {
				return err
			}
		}
		return nil
	case "index":
		var adds []mutate.IndexAddendum
		for p, platform := range []string{"linux/amd64", "linux/arm64"} {
			var ls []v1.Layer
			for i := range 5 {
				ls = append(ls, layer(uint64(300+10*p+i), 20<<20))
			}
			img, err := image(platform, ls...)
			if err != nil {
				return err
			}
			plat, _ := v1.ParsePlatform(platform)
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		ref, err := name.ParseReference(registry + "/big:1")
		if err != nil {
			return err
		}
		return remote.WriteIndex(ref, idx)
	}
	return fmt.Errorf("-set %q: want shared or index", set)
}

func layer(seed uint64, size int) v1.Layer {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, size)
	for j := 0; j+8 <= len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], rng.Uint64())
	}
	return static.NewLayer(b, types.OCILayer)
}

func image(platform string, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Architecture
	return mutate.ConfigFile(img, cf)
}

func push(ref string, img v1.Image) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}
