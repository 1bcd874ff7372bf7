package customize

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullheal/pullheal/policy"
)

// maxSymlinkHops bounds symbolic-link resolution, as Linux does (ELOOP).
const maxSymlinkHops = 40

// newDirMode is the mode of a parent directory the image does not have,
// the mode runtimes give parents they create while extracting a layer.
const newDirMode = 0o755

// dirLayer builds the one layer holding every DIR line's directory.
//
// Why the source's filesystem is read: an entry for an existing directory
// replaces its owner and mode when the layer is extracted. A layer that
// wrote /tmp as root 0755 for DIR /tmp/cache would break /tmp's sticky bit,
// and /home/app as root would lock out a non-root image's user. So parents
// the image already has are written as the image has them, and paths are
// resolved through the image's symbolic links first; the source's layers are
// streamed once (blob reads, which registries do not count as pulls).
func dirLayer(img v1.Image, dirs []policy.Customization, when time.Time, mt types.MediaType) (v1.Layer, error) {
	fsys, files, err := scan(img)
	if err != nil {
		return nil, err
	}
	out := map[string]tar.Header{}
	explicit := map[string]bool{}
	for _, d := range dirs {
		p := d.Paths[0]
		real, err := resolve(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("DIR %s: %w", p, err)
		}
		parts := strings.Split(real, "/")
		// A directory over a file would replace the file when the layer
		// is extracted (or, under it, fail): refuse rather than break the
		// image.
		for i := 1; i <= len(parts); i++ {
			if at := strings.Join(parts[:i], "/"); files[at] {
				return nil, fmt.Errorf("DIR %s: /%s is a file in the image, not a directory", p, at)
			}
		}
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], "/")
			if explicit[parent] {
				continue
			}
			if e, ok := fsys[parent]; ok && e.Typeflag == tar.TypeDir {
				out[parent] = keep(e, parent)
			} else {
				out[parent] = newDir(parent, newDirMode, when)
			}
		}
		out[real] = newDir(real, tarMode(d), when)
		explicit[real] = true
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Sorted, so that parents come before children and the bytes do not
	// depend on map order.
	for _, name := range slices.Sorted(maps.Keys(out)) {
		h := out[name]
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("directory layer: %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("directory layer: %w", err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(mt), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("directory layer: %w", err)
	}
	return plainLayer{l}, nil
}

// plainLayer hides the tarball layer's Descriptor method, whose empty
// annotation map would make the in-memory manifest differ from the one
// pushed (where it is omitted).
type plainLayer struct{ v1.Layer }

// newDir is a root-owned directory entry at the fixed time.
func newDir(name string, mode int64, when time.Time) tar.Header {
	return tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: when}
}

// keep is an existing directory as the image has it, under a clean name.
// Access and change times, and the format, are left to the writer.
func keep(h tar.Header, name string) tar.Header {
	return tar.Header{
		Typeflag: tar.TypeDir, Name: name + "/", Mode: h.Mode & 0o7777,
		Uid: h.Uid, Gid: h.Gid, Uname: h.Uname, Gname: h.Gname,
		ModTime: h.ModTime.UTC().Truncate(time.Second),
	}
}

func tarMode(d policy.Customization) int64 {
	return int64(octalMode(d.Mode))
}

// scan reads the flattened filesystem of img (whiteouts applied) and keeps
// the headers of its directories and symbolic links, by clean relative
// path, and the names of everything else: headers only where they are
// needed, so that memory stays small however many files the image holds.
//
// It flattens the layers itself rather than through mutate.Extract, which
// leaves out symbolic links whose relative target climbs above the root
// (a runtime stops them at the root: var/run -> ../../run is /run), so a
// DIR through one would write a directory over the link; and which ends
// its tar before it reports a layer it could not read.
func scan(img v1.Image) (map[string]tar.Header, map[string]bool, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("read the image's filesystem: %w", err)
	}
	f := &flattened{fsys: map[string]tar.Header{}, files: map[string]bool{}, seen: map[string]bool{}, gone: map[string]bool{}, opaque: map[string]bool{}}
	// Top layer first: what an upper layer has, or removed, hides the
	// same path (and, unless it is a directory, what lies below it) in
	// the layers under it.
	for i := len(layers) - 1; i >= 0; i-- {
		if err := f.add(layers[i]); err != nil {
			return nil, nil, fmt.Errorf("read the image's filesystem: layer %d: %w", i, err)
		}
	}
	return f.fsys, f.files, nil
}

// flattened is the filesystem of the layers read so far, from the top.
type flattened struct {
	fsys  map[string]tar.Header
	files map[string]bool
	// seen holds the paths an upper layer has or removed; gone those it
	// removed or made something other than a directory, hiding what lower
	// layers have below them; opaque the directories whose lower content
	// an upper layer hid (.wh..wh..opq).
	seen, gone, opaque map[string]bool
}

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

func (f *flattened) add(layer v1.Layer) error {
	rc, err := layer.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	// A layer's whiteouts apply to the layers under it only.
	var removed, opaque []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := cleanName(h.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == whiteoutOpaque:
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			removed = append(removed, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		if f.seen[name] || f.hidden(name) {
			continue
		}
		f.seen[name] = true
		if h.Typeflag != tar.TypeDir {
			f.gone[name] = true
		}
		if h.Typeflag != tar.TypeDir && h.Typeflag != tar.TypeSymlink {
			f.files[name] = true
			continue
		}
		f.fsys[name] = tar.Header{
			Typeflag: h.Typeflag, Linkname: h.Linkname, Mode: h.Mode,
			Uid: h.Uid, Gid: h.Gid, Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime,
		}
	}
	for _, p := range removed {
		if !f.seen[p] && !f.hidden(p) {
			f.seen[p], f.gone[p] = true, true
		}
	}
	for _, d := range opaque {
		f.opaque[d] = true
	}
	return nil
}

// hidden reports whether an upper layer removed an ancestor of name,
// replaced one by a non-directory, or made one opaque.
func (f *flattened) hidden(name string) bool {
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if f.gone[p] || f.opaque[p] {
			return true
		}
	}
	return false
}

// cleanName turns a layer's entry name ("./usr/bin/", "/etc") into the
// form the map uses ("usr/bin", "etc"); "" for the root itself.
func cleanName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// resolve follows the image's symbolic links along p, an absolute clean
// path, the way extraction into the image's root does (links are
// confined to the root: an absolute target or ".." past the root stays in
// it). It returns the real path, relative to the root.
func resolve(fsys map[string]tar.Header, p string) (string, error) {
	todo := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var done []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := strings.Join(append(slices.Clip(done), c), "/")
		e, ok := fsys[cand]
		if !ok || e.Typeflag != tar.TypeSymlink {
			done = append(done, c)
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", fmt.Errorf("more than %d symbolic links on the way (a loop?)", maxSymlinkHops)
		}
		target := e.Linkname
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(done) == 0 {
		return "", errors.New("resolves to the root directory through symbolic links")
	}
	return strings.Join(done, "/"), nil
}
