package policy

import (
	"fmt"
	"path"
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
	// One component is a Docker Hub official image (nginx); a host there
	// would be one too, docker.io/library/quay.io, which is never what a
	// rule means and would leave a deny rule denying nothing.
	if !strings.ContainsRune(s, '/') && (strings.ContainsRune(s, '.') || strings.EqualFold(s, "localhost")) {
		return namePattern{}, fmt.Sprintf("pattern %q names a registry host, not an image; write %[2]s/** for every image on it, or %[2]s/REPOSITORY for one", s, strings.ToLower(s))
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
		p.host = registryHost(host)
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
		if !imageref.ValidPort(port) {
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

// dockerHubSpellings are the hosts that serve Docker Hub's repositories.
// imageref folds the first three into docker.io, as the runtimes do;
// registry.hub.docker.com serves the same repositories too, and so a rule
// about a Docker Hub image holds for it as well.
var dockerHubSpellings = [...]string{imageref.DockerHubHost, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

// registryHost is the host a policy compares: imageref's canonical host,
// with the spellings of one registry that it keeps apart folded together
// (an explicit :443, the default HTTPS port; a trailing dot, the fully
// qualified DNS name; registry.hub.docker.com). A rule is about the
// registry, not about how a reference spells it: were the spellings kept
// apart, deny ubuntu would not deny index.docker.io:443/library/ubuntu.
func registryHost(host string) string {
	h := imageref.CanonicalHost(host)
	h = strings.TrimSuffix(strings.TrimSuffix(h, ":443"), ".")
	if h == "registry.hub.docker.com" {
		return imageref.DockerHubHost
	}
	return imageref.CanonicalHost(h)
}

// policyRef is ref as rules compare it: its host folded by registryHost,
// and a Docker Hub name of one component given library/, as imageref does
// for the spellings it folds itself. It allocates only for the rare
// references that need it.
func policyRef(ref imageref.Ref) imageref.Ref {
	h := registryHost(ref.Registry)
	if h == ref.Registry {
		return ref
	}
	ref.Registry = h
	if h == imageref.DockerHubHost && !strings.Contains(ref.Repository, "/") {
		ref.Repository = "library/" + ref.Repository
	}
	return ref
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
		if !hostGlobMatches(p.host, registry) {
			return false
		}
	} else if p.host != registry {
		return false
	}
	return matchSegments(p.segs, repository)
}

// hostGlobMatches matches a host glob against a canonical host, and for
// Docker Hub against each of its spellings: *.docker.io is about Docker
// Hub, though the canonical docker.io has no subdomain.
func hostGlobMatches(glob, registry string) bool {
	if ok, _ := path.Match(glob, registry); ok {
		return true
	}
	if registry != imageref.DockerHubHost {
		return false
	}
	for _, h := range dockerHubSpellings[1:] {
		if ok, _ := path.Match(glob, h); ok {
			return true
		}
	}
	return false
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

// deniesTag is Selects for a deny rule, read so that what a range names is
// denied in every variant of it: a tag whose version has a suffix
// (1.19-alpine, 16-bookworm-slim) is denied when the version either with
// or without the suffix is in the range. Semantic versioning reads the
// suffix as a pre-release, which a range without one never selects, so
// that a deny rule for "<1.20" would let 1.19-alpine through; on Docker
// Hub the suffix is nearly always a variant of the release it follows.
func (t *TagSelector) deniesTag(tag string) bool {
	if t.Selects(tag) {
		return true
	}
	if tag == "" || t.Semver == "" {
		return false
	}
	c := t.constraint
	if c == nil {
		c, _ = semver.NewConstraint(t.Semver)
	}
	v, err := semver.NewVersion(tag)
	if c == nil || err != nil || v.Prerelease() == "" {
		return false
	}
	release, err := v.SetPrerelease("")
	return err == nil && c.Check(&release)
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
