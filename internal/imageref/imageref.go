// Package imageref parses and normalises the container image references ECS
// accepts in a task definition, so that every other part of pullheal compares,
// routes and rewrites images in one canonical form.
//
// Parsing is done by go-containerregistry's pkg/name; this package adds what
// pullheal needs on top of it: Docker Hub aliases folded into "docker.io",
// a tag and a digest kept together (pkg/name keeps only one of them), the
// stricter path and tag grammar of the distribution spec, lower-case hosts,
// one-line errors that say what is wrong, and the registry Kind.
package imageref

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid image reference")

// Ref is a parsed, canonical image reference.
type Ref struct {
	Registry   string // canonical lower-case host[:port]; "docker.io" for every Docker Hub alias
	Repository string // e.g. "library/nginx" (single-component Docker Hub names get library/)
	Tag        string // "latest" when neither tag nor digest was given; "" when only a digest was given
	Digest     string // "sha256:<hex>" or ""
	Kind       Kind
}

// ValidPort reports whether p is a TCP port a registry can listen on:
// decimal digits only, from 1 to 65535.
func ValidPort(p string) bool {
	if p == "" || strings.Trim(p, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// Parse parses an image reference as ECS accepts it in a container
// definition: [HOST[:PORT]/]PATH[:TAG][@DIGEST].
//
// A reference with a digest and no tag gets no tag (the digest is what is
// pulled); one with neither gets "latest", as Docker and ECS do. A tag given
// together with a digest is kept, because a rewritten task definition must
// show both. Digests of the algorithms go-digest knows (sha256, sha384,
// sha512) are accepted; registries in practice serve sha256 only.
func Parse(s string) (Ref, error) {
	if err := checkText(s); err != nil {
		return Ref{}, err
	}
	rest, dig, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if err := checkDigest(s, dig); err != nil {
			return Ref{}, err
		}
	}
	if rest == "" {
		return Ref{}, invalid(s, "missing repository before '@'")
	}
	rest = canonicalPrefix(rest)

	defaultTag := name.DefaultTag
	if hasDigest {
		defaultTag = ""
	}
	t, err := name.NewTag(rest, name.WeakValidation, name.WithDefaultTag(defaultTag))
	if err != nil {
		return Ref{}, invalid(s, "%s", diagnose(rest, err))
	}
	r := Ref{
		Registry:   CanonicalHost(t.RegistryStr()),
		Repository: t.RepositoryStr(),
		Tag:        t.TagStr(),
		Digest:     dig,
	}
	if strings.HasSuffix(r.Registry, ":") {
		return Ref{}, invalid(s, "registry %q has an empty port", r.Registry)
	}
	if i := strings.LastIndexByte(r.Registry, ':'); i >= 0 && !strings.HasSuffix(r.Registry, "]") {
		if !ValidPort(r.Registry[i+1:]) {
			return Ref{}, invalid(s, "registry %q: port %s is not from 1 to 65535", r.Registry, r.Registry[i+1:])
		}
	}
	if msg := checkPath(r.Repository); msg != "" {
		return Ref{}, invalid(s, "%s", msg)
	}
	// pkg/name counts a Docker Hub name before library/ is added; the
	// registry counts the whole repository.
	if len(r.Repository) > 255 {
		return Ref{}, invalid(s, "repository longer than 255 characters (%d with its namespace)", len(r.Repository))
	}
	if r.Tag != "" && !isTagStart(r.Tag[0]) {
		return Ref{}, invalid(s, "tag %q must start with a letter, digit or '_'", r.Tag)
	}
	r.Kind = KindOf(r.Registry)
	return r, nil
}

// String returns the canonical full reference, host always included:
// docker.io/library/nginx:1.27@sha256:... It parses back to the same Ref.
func (r Ref) String() string {
	if r.Repository == "" {
		return ""
	}
	n := len(r.Registry) + 1 + len(r.Repository) + 1 + len(r.Tag) + 1 + len(r.Digest)
	var b strings.Builder
	b.Grow(n)
	b.WriteString(r.Registry)
	b.WriteByte('/')
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(r.Digest)
	}
	return b.String()
}

// Name returns registry/repository, e.g. docker.io/library/nginx.
func (r Ref) Name() string {
	if r.Repository == "" {
		return ""
	}
	return r.Registry + "/" + r.Repository
}

// Familiar returns the reference the way people write it: Docker Hub
// references lose "docker.io/" and, for official images, "library/"
// (nginx:1.27, bitnami/redis:7); every other reference is String().
func (r Ref) Familiar() string {
	if r.Kind != DockerHub || r.Repository == "" {
		return r.String()
	}
	short := r
	short.Registry = ""
	if p, ok := strings.CutPrefix(r.Repository, "library/"); ok && !strings.Contains(p, "/") {
		short.Repository = p
	}
	return strings.TrimPrefix(short.String(), "/")
}

// IsZero reports whether r is the zero Ref (no image, or one that failed to
// parse).
func (r Ref) IsZero() bool { return r == Ref{} }

// NameReference returns r as a go-containerregistry reference, ready for
// pkg/v1/remote. A reference with a digest becomes a name.Digest (the digest
// is what a registry serves; the tag is informational), otherwise a name.Tag.
func (r Ref) NameReference() (name.Reference, error) {
	if r.Repository == "" {
		return nil, fmt.Errorf("%w: empty reference", ErrInvalid)
	}
	if r.Digest != "" {
		return name.NewDigest(r.Name()+"@"+r.Digest, name.StrictValidation)
	}
	return name.NewTag(r.Name()+":"+r.Tag, name.StrictValidation)
}

// canonicalPrefix lower-cases the host part of rest and rewrites Docker Hub
// aliases to "docker.io", so that pkg/name applies its Docker Hub rules
// (library/) to all of them. The first path component is a host when it
// contains '.' or ':' or is "localhost", the rule Docker and pkg/name share.
func canonicalPrefix(rest string) string {
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return rest
	}
	h := rest[:i]
	if !strings.ContainsAny(h, ".:") && lower(h) != "localhost" {
		return rest
	}
	c := CanonicalHost(h)
	if c == h {
		return rest
	}
	return c + rest[i:]
}

func checkText(s string) error {
	if s == "" {
		return invalid(s, "empty")
	}
	if strings.Contains(s, "://") {
		return invalid(s, "must not contain a URL scheme")
	}
	for i, c := range s {
		switch {
		case c == utf8.RuneError:
			return invalid(s, "invalid UTF-8 at offset %d", i)
		case unicode.IsSpace(c):
			return invalid(s, "whitespace at offset %d", i)
		case unicode.IsControl(c):
			return invalid(s, "control character at offset %d", i)
		case c > unicode.MaxASCII:
			return invalid(s, "non-ASCII character %q at offset %d", c, i)
		}
	}
	if strings.Count(s, "@") > 1 {
		return invalid(s, "more than one '@'")
	}
	return nil
}

func checkDigest(s, dig string) error {
	if dig == "" {
		return invalid(s, "empty digest after '@'")
	}
	switch err := digest.Digest(dig).Validate(); {
	case err == nil:
		return nil
	case errors.Is(err, digest.ErrDigestUnsupported):
		return invalid(s, "bad digest %q: unsupported algorithm", dig)
	case errors.Is(err, digest.ErrDigestInvalidLength):
		alg, _, _ := strings.Cut(dig, ":")
		return invalid(s, "bad digest %q: want %d hex characters after %q", dig, digest.Algorithm(alg).Size()*2, alg+":")
	default:
		return invalid(s, "bad digest %q: want ALGORITHM:HEX with lower-case hex", dig)
	}
}

// checkPath enforces the distribution spec's path grammar, which pkg/name
// checks only by character set: each '/'-separated component is runs of
// lower-case alphanumerics joined by '.', '_', "__" or any number of '-'.
func checkPath(repo string) string {
	for c := range strings.SplitSeq(repo, "/") {
		if c == "" {
			return fmt.Sprintf("repository %q has an empty path component", repo)
		}
		if !isComponent(c) {
			return fmt.Sprintf("repository %q: component %q must be letters and digits joined by '.', '_', '__' or '-'", repo, c)
		}
	}
	return ""
}

func isComponent(c string) bool {
	i := 0
	for {
		j := i
		for j < len(c) && isAlnum(c[j]) {
			j++
		}
		if j == i {
			return false
		}
		if j == len(c) {
			return true
		}
		switch c[j] {
		case '.':
			j++
		case '_':
			j++
			if j < len(c) && c[j] == '_' {
				j++
			}
		case '-':
			for j < len(c) && c[j] == '-' {
				j++
			}
		default:
			return false
		}
		i = j
	}
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isTagStart(c byte) bool { return isAlnum(c) || c >= 'A' && c <= 'Z' || c == '_' }

// diagnose turns a pkg/name error into one that names the part at fault. It
// splits rest the way pkg/name does, only to point at the culprit; the
// decision that rest is invalid was already made by pkg/name.
func diagnose(rest string, err error) string {
	base, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		base, tag = rest[:i], rest[i+1:]
		switch {
		case tag == "":
			return "empty tag after ':'"
		case len(tag) > 128:
			return fmt.Sprintf("bad tag: longer than 128 characters (%d)", len(tag))
		}
		if i := strings.IndexFunc(tag, func(r rune) bool { return !isTagStart(byte(r)) && r != '.' && r != '-' }); i >= 0 {
			return fmt.Sprintf("bad tag %q: character %q is not allowed", tag, tag[i])
		}
	}
	host, repo := "", base
	if i := strings.IndexByte(base, '/'); i >= 0 && (strings.ContainsAny(base[:i], ".:") || base[:i] == "localhost") {
		host, repo = base[:i], base[i+1:]
	}
	switch {
	case repo == "":
		return "missing repository"
	case len(repo) > 255:
		return fmt.Sprintf("repository longer than 255 characters (%d)", len(repo))
	case strings.IndexFunc(repo, unicode.IsUpper) >= 0:
		return fmt.Sprintf("repository %q must be lower-case", repo)
	}
	if i := strings.IndexFunc(repo, func(r rune) bool { return !isAlnum(byte(r)) && !strings.ContainsRune("._-/", r) }); i >= 0 {
		return fmt.Sprintf("repository %q: character %q is not allowed", repo, repo[i])
	}
	if host != "" {
		if _, herr := name.NewRegistry(host); herr != nil {
			return fmt.Sprintf("registry %q is not a valid host[:port]", host)
		}
	}
	return err.Error()
}

func invalid(s, format string, args ...any) error {
	const max = 120
	q := s
	if len(q) > max {
		q = q[:max] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrInvalid, q, fmt.Sprintf(format, args...))
}
