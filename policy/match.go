package policy

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/pullheal/pullheal/internal/imageref"
)

// namePattern is a compiled match pattern. Patterns are normalised the way
// image names are: "nginx" is docker.io/library/nginx, "bitnami/*" is
// docker.io/bitnami/*, "index.docker.io/x/y" is docker.io/x/y. In the path,
// "*", "?" and "[a-z]" match within one component (path.Match) and "**"
// matches any number of components, none included. "**" alone matches
// every image on every registry.
type namePattern struct {
	text     string // normalised, e.g. docker.io/library/*
	all      bool
	host     string // canonical host, or a glob when hostGlob
	hostGlob bool
	segs     []string

	// Filled by the rule that owns the pattern, so that Decide does not
	// build strings: "images[2] (docker.io/bitnami/*)" and its reason.
	rule   string
	reason string
}

const globChars = "*?[]^!\\"

// compilePattern normalises and compiles a match pattern. It returns a
// one-line problem instead of a pattern when s is not one.
func compilePattern(s string) (namePattern, string) {
	if s == "" {
		return namePattern{}, "empty pattern"
	}
	if s == "**" {
		return namePattern{text: s, all: true}, ""
	}
	if strings.ContainsRune(s, '@') {
		return namePattern{}, fmt.Sprintf("pattern %q has a digest; match takes an image name (select tags with tags:)", s)
	}
	host, rest := imageref.DockerHubHost, s
	if i := strings.IndexByte(s, '/'); i > 0 && (strings.ContainsAny(s[:i], ".:") || strings.EqualFold(s[:i], "localhost")) {
		host, rest = strings.ToLower(s[:i]), s[i+1:]
	}
	if strings.ContainsRune(rest, ':') {
		return namePattern{}, fmt.Sprintf("pattern %q has a tag; match takes an image name (select tags with tags:)", s)
	}
	p := namePattern{}
	if strings.ContainsAny(host, globChars) {
		if _, err := path.Match(host, ""); err != nil || strings.Contains(host, "**") {
			return namePattern{}, fmt.Sprintf("pattern %q: bad glob in host %q", s, host)
		}
		p.host, p.hostGlob = host, true
	} else {
		if msg := hostSyntax(host); msg != "" {
			return namePattern{}, fmt.Sprintf("pattern %q: %s", s, msg)
		}
		p.host = imageref.CanonicalHost(host)
	}
	if rest == "" {
		return namePattern{}, fmt.Sprintf("pattern %q has no repository path after the host", s)
	}
	p.segs = strings.Split(rest, "/")
	if len(p.segs) > maxSegments-1 {
		return namePattern{}, fmt.Sprintf("pattern %q has more than %d path components", s, maxSegments-1)
	}
	// Docker Hub names of one component are official images: nginx is
	// library/nginx, and so "*" is every official image.
	if p.host == imageref.DockerHubHost && len(p.segs) == 1 && p.segs[0] != "**" {
		p.segs = []string{"library", p.segs[0]}
	}
	for _, seg := range p.segs {
		if msg := segmentProblem(seg); msg != "" {
			return namePattern{}, fmt.Sprintf("pattern %q: %s", s, msg)
		}
	}
	p.text = p.host + "/" + strings.Join(p.segs, "/")
	return p, ""
}

func segmentProblem(seg string) string {
	switch {
	case seg == "":
		return "empty path component"
	case seg == "**":
		return ""
	case strings.Contains(seg, "**"):
		return fmt.Sprintf("%q: ** must be a whole path component", seg)
	}
	for _, c := range seg {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.ContainsRune("._-", c), strings.ContainsRune(globChars, c):
		case c >= 'A' && c <= 'Z':
			return fmt.Sprintf("%q: image names are lower-case", seg)
		default:
			return fmt.Sprintf("%q: character %q is not allowed in an image name", seg, c)
		}
	}
	if _, err := path.Match(seg, ""); err != nil {
		return fmt.Sprintf("%q: bad glob (unclosed [ or trailing \\)", seg)
	}
	return ""
}

// hostSyntax checks host[:port]: DNS labels or an IPv4 address, lower-case
// after folding, an optional numeric port.
func hostSyntax(host string) string {
	h, port, hasPort := strings.Cut(host, ":")
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
			return fmt.Sprintf("host %q has a bad port", host)
		}
	}
	if h == "" {
		return fmt.Sprintf("host %q is empty", host)
	}
	for label := range strings.SplitSeq(strings.ToLower(h), ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("host %q is not a valid host name", host)
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return fmt.Sprintf("host %q is not a valid host name", host)
		}
	}
	return ""
}

// compileName normalises an exact image name (no globs, tag or digest).
func compileName(s string) (namePattern, string) {
	p, msg := compilePattern(s)
	if msg != "" {
		return p, msg
	}
	if p.all || p.hostGlob || strings.ContainsAny(p.text, globChars) {
		return namePattern{}, fmt.Sprintf("%q is a pattern; give an exact image name", s)
	}
	return p, ""
}

// matches reports whether the canonical registry and repository match p.
func (p *namePattern) matches(registry, repository string) bool {
	if p.all {
		return true
	}
	if p.hostGlob {
		if ok, _ := path.Match(p.host, registry); !ok {
			return false
		}
	} else if p.host != registry {
		return false
	}
	return matchSegments(p.segs, repository)
}

// maxSegments bounds a pattern's path components, so that matchSegments
// can track them in one word.
const maxSegments = 63

// matchSegments matches a '/'-separated repository path against pattern
// segments. It runs the pattern as an automaton over the path's components,
// each state a bit of a word, so that "**" costs no backtracking: time is
// components times segments whatever the pattern.
func matchSegments(segs []string, name string) bool {
	cur := starClosure(segs, 1)
	for name != "" && cur != 0 {
		var seg string
		seg, name = cutSegment(name)
		var next uint64
		for i, s := range segs {
			switch {
			case cur&(1<<i) == 0:
			case s == "**":
				next |= 1 << i
			default:
				if ok, _ := path.Match(s, seg); ok {
					next |= 1 << (i + 1)
				}
			}
		}
		cur = starClosure(segs, next)
	}
	return cur&(1<<len(segs)) != 0
}

// starClosure adds the states reachable by letting each "**" match nothing.
func starClosure(segs []string, states uint64) uint64 {
	for i, s := range segs {
		if s == "**" && states&(1<<i) != 0 {
			states |= 1 << (i + 1)
		}
	}
	return states
}

func cutSegment(name string) (seg, rest string) {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// matchAny returns the first of patterns that matches ref.
func matchAny(patterns []namePattern, ref imageref.Ref) (*namePattern, bool) {
	for i := range patterns {
		if patterns[i].matches(ref.Registry, ref.Repository) {
			return &patterns[i], true
		}
	}
	return nil, false
}

// isEmpty reports whether the selector restricts tags at all; Digests
// alone (tags: {digests: true}) does not.
func (t *TagSelector) isEmpty() bool {
	return len(t.Exact) == 0 && len(t.Glob) == 0 && t.Semver == ""
}

// Selects reports whether the selector selects tag ("" for a digest-only
// reference, which only an empty selector selects): tag must be one of
// Exact, match a Glob, or satisfy the Semver range.
func (t *TagSelector) Selects(tag string) bool {
	if t.isEmpty() {
		return true
	}
	if tag == "" {
		return false
	}
	for _, e := range t.Exact {
		if e == tag {
			return true
		}
	}
	for _, g := range t.Glob {
		if ok, _ := path.Match(g, tag); ok {
			return true
		}
	}
	c := t.constraint
	if c == nil && t.Semver != "" {
		// A selector built by hand rather than loaded: read its range now.
		c, _ = semver.NewConstraint(t.Semver)
	}
	if c != nil {
		if v, err := semver.NewVersion(tag); err == nil && c.Check(v) {
			return true
		}
	}
	return false
}

// allows reports whether the policy's scope lets subj through; when not, it
// says why, naming the filter.
func (s *Scope) allows(subj Subject) (bool, string) {
	for _, f := range [...]struct {
		what, key, value string
		filter           *Filter
	}{
		{"cluster", "clusters", subj.Cluster, &s.Clusters},
		{"service", "services", subj.Service, &s.Services},
		{"family", "families", subj.Family, &s.Families},
	} {
		switch f.filter.refuses(f.value) {
		case "include":
			return false, fmt.Sprintf("%s %q matches no glob of scope.%s.include", f.what, f.value, f.key)
		case "exclude":
			return false, fmt.Sprintf("%s %q is excluded by scope.%s.exclude", f.what, f.value, f.key)
		}
	}
	return true, ""
}

// refuses names the list that keeps value out ("include" when Include is
// set and no glob of it matches, "exclude" when an Exclude glob matches),
// or returns "" when value passes.
func (f *Filter) refuses(value string) string {
	if len(f.Include) > 0 && !anyGlob(f.Include, value) {
		return "include"
	}
	if anyGlob(f.Exclude, value) {
		return "exclude"
	}
	return ""
}

// validGlob reports whether s is a non-empty path.Match pattern.
func validGlob(s string) bool {
	_, err := path.Match(s, "")
	return err == nil && s != ""
}

func anyGlob(globs []string, value string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, value); ok {
			return true
		}
	}
	return false
}
