package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/pullheal/pullheal/internal/imageref"
)

// policy decodes the root mapping.
func (d *decoder) policy(root *yaml.Node) *Policy {
	p := &Policy{
		File:        d.file,
		Version:     Version,
		PullThrough: PullThrough{Source: PullThroughDiscover},
		Mirror:      Mirror{Repository: defaultRepository()},
		Typosquat:   Typosquat{Enabled: true, Defaults: true, MaxDistance: DefaultMaxDistance},
		Heal:        Heal{Containers: ContainersFailed, ServiceUpdate: UpdateService},
	}
	if !d.plain(root, "") {
		return p
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "a policy is a YAML mapping starting with \"version: 1\", got %s", describe(root))
		return p
	}
	f := d.mapping(root, "", "policy")
	if v := f["version"]; v == nil {
		d.errorf(root, "version is required: start the file with \"version: 1\"")
	} else if n, ok := d.integer(v, "version"); ok && n != Version {
		d.errorf(v, "version: unsupported version %d (this pullheal reads version %d)", n, Version)
	}
	if n := f["registry"]; n != nil {
		p.Registry = d.registry(n)
	}
	if n := f["pullThrough"]; n != nil {
		p.PullThrough = d.pullThrough(n)
	}
	var mirrorPrefix *yaml.Node
	if n := f["mirror"]; n != nil {
		p.Mirror, mirrorPrefix = d.mirror(n)
	}
	if mirrorPrefix != nil {
		d.prefixClash(mirrorPrefix, p.Mirror.Prefix, p.PullThrough.Rules)
	}
	if n := f["images"]; n != nil {
		p.Images = d.images(n, p.Mirror.Repository)
	}
	if n := f["deny"]; n != nil {
		p.Deny = d.denyRules(n)
	}
	if n := f["typosquat"]; n != nil {
		d.typosquat(n, &p.Typosquat)
	}
	d.compileTyposquat(&p.Typosquat)
	if n := f["scope"]; n != nil {
		p.Scope = d.scope(n, "scope")
	}
	if n := f["heal"]; n != nil {
		d.heal(n, &p.Heal)
	}
	if n := f["rateLimited"]; n != nil {
		p.RateLimited = d.rateLimited(n)
	}
	return p
}

// rateLimited decodes the registries, besides Docker Hub, whose pulls are
// rate-limited: hosts, or ECR upstream names, as pull-through upstreams.
func (d *decoder) rateLimited(n *yaml.Node) []string {
	var out []string
	for _, t := range d.stringList(n, "rateLimited", false) {
		h, err := ParseUpstream(t.s)
		if err != nil {
			d.errorf(t.n, "rateLimited: %v", err)
			continue
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func (d *decoder) registry(n *yaml.Node) string {
	s, ok := d.str(n, "registry")
	if !ok || s == "discover" {
		return ""
	}
	if err := CheckRegistry(s); err != nil {
		d.errorf(n, "registry: %v (or \"discover\")", err)
		return ""
	}
	return strings.ToLower(s)
}

func (d *decoder) pullThrough(n *yaml.Node) PullThrough {
	pt := PullThrough{Source: PullThroughDiscover}
	f := d.mapping(n, "pullThrough", "pullThrough")
	if f == nil {
		return pt
	}
	rules := f["rules"]
	if rules != nil {
		pt.Source = PullThroughDeclared
		ups := map[string]string{}
		prefixes := map[string]string{}
		for i, item := range d.list(rules, "pullThrough.rules") {
			path := index("pullThrough.rules", i)
			rf := d.item(item, path, "pullThroughRule")
			if rf == nil {
				continue
			}
			var r PullThroughRule
			if v := d.required(rf, "upstream", item, path); v != nil {
				if s, ok := d.str(v, field(path, "upstream")); ok {
					h, err := ParseUpstream(s)
					switch {
					case err != nil:
						d.errorf(v, "%s: %v", field(path, "upstream"), err)
					case ups[h] != "":
						d.errorf(v, "%s: %s already has a rule (%s)", field(path, "upstream"), h, ups[h])
					default:
						ups[h], r.Upstream = path, h
					}
				}
			}
			if v := d.required(rf, "prefix", item, path); v != nil {
				if s, ok := d.str(v, field(path, "prefix")); ok {
					s = strings.TrimSuffix(s, "/")
					switch err := CheckPrefix(s); {
					case err != nil:
						d.errorf(v, "%s: %v", field(path, "prefix"), err)
					case prefixes[s] != "":
						d.errorf(v, "%s: prefix %q is already used by %s", field(path, "prefix"), s, prefixes[s])
					default:
						prefixes[s], r.Prefix = path, s
					}
				}
			}
			if r.Upstream != "" && r.Prefix != "" {
				pt.Rules = append(pt.Rules, r)
			}
		}
	}
	if v := f["source"]; v != nil {
		if s, ok := d.enum(v, "pullThrough.source", string(PullThroughDeclared), string(PullThroughDiscover)); ok {
			if PullThroughSource(s) == PullThroughDiscover && rules != nil {
				d.errorf(v, "pullThrough.source: discover reads the rules from ECR; remove pullThrough.rules or set source: declared")
			}
			pt.Source = PullThroughSource(s)
		}
	}
	return pt
}

// item decodes a list item that must be a mapping.
func (d *decoder) item(n *yaml.Node, path, section string) fields {
	if isNull(n) {
		d.errorf(n, "%s: must be a mapping, got null", path)
		return nil
	}
	return d.mapping(n, path, section)
}

// required returns f[key], reporting it missing at parent.
func (d *decoder) required(f fields, key string, parent *yaml.Node, path string) *yaml.Node {
	v := f[key]
	if v == nil {
		d.errorf(parent, "%s: %s is required", path, key)
	}
	return v
}

func (d *decoder) mirror(n *yaml.Node) (Mirror, *yaml.Node) {
	m := Mirror{Repository: defaultRepository()}
	f := d.mapping(n, "mirror", "mirror")
	if f == nil {
		return m, nil
	}
	var prefixNode *yaml.Node
	if v := f["prefix"]; v != nil {
		if s, ok := d.str(v, "mirror.prefix"); ok {
			s = strings.TrimSuffix(s, "/")
			if err := CheckMirrorPrefix(s); err != nil {
				d.errorf(v, "mirror.prefix: %v", err)
			} else {
				m.Prefix, prefixNode = s, v
			}
		}
	}
	if v := f["repository"]; v != nil {
		m.Repository = d.repository(v, "mirror.repository").apply(m.Repository)
	}
	return m, prefixNode
}

// prefixClash reports a mirror prefix that shares repositories with a
// pull-through prefix: a mirrored image would land where the cache creates
// its repositories.
func (d *decoder) prefixClash(n *yaml.Node, mirror string, rules []PullThroughRule) {
	for _, r := range rules {
		if PrefixesOverlap(mirror, r.Prefix) {
			d.errorf(n, "mirror.prefix: %q overlaps the pull-through prefix %q of %s; mirrored images need their own prefix", mirror, r.Prefix, r.Upstream)
		}
	}
}

// patterns decodes match: one pattern or a list of them.
func (d *decoder) patterns(f fields, parent *yaml.Node, path string) ([]string, []namePattern) {
	v := d.required(f, "match", parent, path)
	if v == nil {
		return nil, nil
	}
	mp := field(path, "match")
	items := d.stringList(v, mp, true)
	if len(items) == 0 && v.Kind == yaml.SequenceNode {
		d.errorf(v, "%s: needs at least one pattern", mp)
	}
	var texts []string
	var pats []namePattern
	for _, it := range items {
		p, msg := compilePattern(it.s)
		if msg != "" {
			d.errorf(it.n, "%s: %s", mp, msg)
			continue
		}
		texts = append(texts, p.text)
		pats = append(pats, p)
	}
	return texts, pats
}

func (d *decoder) tagSelector(n *yaml.Node, path string) TagSelector {
	var t TagSelector
	f := d.mapping(n, path, "tagSelector")
	if f == nil {
		return t
	}
	if v := f["exact"]; v != nil {
		for _, it := range d.stringList(v, field(path, "exact"), true) {
			if msg := tagProblem(it.s); msg != "" {
				d.errorf(it.n, "%s: %s", field(path, "exact"), msg)
				continue
			}
			t.Exact = append(t.Exact, it.s)
		}
	}
	if v := f["glob"]; v != nil {
		for _, it := range d.stringList(v, field(path, "glob"), true) {
			if !validGlob(it.s) {
				d.errorf(it.n, "%s: bad glob %q", field(path, "glob"), it.s)
				continue
			}
			t.Glob = append(t.Glob, it.s)
		}
	}
	if v := f["semver"]; v != nil {
		if s, ok := d.str(v, field(path, "semver")); ok {
			c, err := semver.NewConstraint(s)
			if err != nil || strings.TrimSpace(s) == "" {
				if err == nil {
					err = errors.New("empty range")
				}
				d.errorf(v, "%s: bad semver range %q: %v", field(path, "semver"), s, err)
			} else {
				t.Semver, t.constraint = s, c
			}
		}
	}
	if v := f["digests"]; v != nil {
		t.Digests, _ = d.boolean(v, field(path, "digests"))
		if t.isEmpty() {
			d.errorf(v, "%s: digests alone restricts nothing; without exact, glob or semver every tag and digest is selected", field(path, "digests"))
		}
	}
	if len(f) == 0 {
		d.errorf(n, "%s: selects nothing; set exact, glob or semver, or remove tags to select every tag", path)
	}
	return t
}

// tagProblem checks a tag against the distribution spec's grammar.
func tagProblem(tag string) string {
	if tag == "" || len(tag) > 128 {
		return fmt.Sprintf("tag %q must be 1 to 128 characters", tag)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || i > 0 && (c == '.' || c == '-')
		if !ok {
			return fmt.Sprintf("tag %q: character %q is not allowed here", tag, c)
		}
	}
	return ""
}

func (d *decoder) images(n *yaml.Node, base RepositorySettings) []ImageRule {
	var rules []ImageRule
	for i, item := range d.list(n, "images") {
		path := index("images", i)
		f := d.item(item, path, "imageRule")
		if f == nil {
			continue
		}
		r := ImageRule{}
		r.Match, r.patterns = d.patterns(f, item, path)
		if v := f["tags"]; v != nil {
			r.Tags = d.tagSelector(v, field(path, "tags"))
		}
		if v := d.required(f, "action", item, path); v != nil {
			a, _ := d.enum(v, field(path, "action"), string(ActionPullThrough), string(ActionMirror), string(ActionDeny))
			r.Action = Action(a)
		}
		if v := f["fallback"]; v != nil {
			if s, ok := d.enum(v, field(path, "fallback"), "mirror", "none"); ok {
				if r.Action != ActionPullThrough && r.Action != "" {
					d.errorf(v, "%s: only pull-through rules have a fallback", field(path, "fallback"))
				}
				r.MirrorFallback = s == "mirror"
			}
		}
		if v := f["platforms"]; v != nil {
			for _, it := range d.stringList(v, field(path, "platforms"), false) {
				if msg := platformProblem(it.s); msg != "" {
					d.errorf(it.n, "%s: %s", field(path, "platforms"), msg)
					continue
				}
				r.Platforms = append(r.Platforms, it.s)
			}
		}
		if v := f["pinDigest"]; v != nil {
			r.PinDigest, _ = d.boolean(v, field(path, "pinDigest"))
		}
		if v := f["customize"]; v != nil {
			for _, it := range d.stringList(v, field(path, "customize"), false) {
				if _, err := ParseCustomization(it.s); err != nil {
					d.errorf(it.n, "%s: %v", field(path, "customize"), err)
					continue
				}
				r.Customize = append(r.Customize, strings.TrimSpace(it.s))
			}
		}
		var overlay repoOverlay
		if v := f["repository"]; v != nil {
			overlay = d.repository(v, field(path, "repository"))
		}
		r.Repository = overlay.apply(base)
		if v := f["reason"]; v != nil {
			r.Reason, _ = d.str(v, field(path, "reason"))
		}
		if v := f["scope"]; v != nil {
			r.Scope = d.scope(v, field(path, "scope"))
		}
		d.mirrorOnly(f, &r, path)
		for j := range r.patterns {
			p := &r.patterns[j]
			p.rule = path + " (" + p.text + ")"
			p.reason = r.Reason
			if p.reason == "" {
				p.reason = defaultReason(r.Action, p.rule)
			}
		}
		rules = append(rules, r)
	}
	return rules
}

func defaultReason(a Action, rule string) string {
	switch a {
	case ActionMirror:
		return "mirroring allowlisted by " + rule
	case ActionDeny:
		return "denied by " + rule
	}
	return "pull-through chosen by " + rule
}

// mirrorOnly reports settings that only a mirror uses on a rule that never
// mirrors: they would be silently ignored.
func (d *decoder) mirrorOnly(f fields, r *ImageRule, path string) {
	if r.Action == ActionMirror || r.Action == "" {
		return
	}
	if v := f["customize"]; v != nil {
		d.errorf(v, "%s: customised images must be mirrored (a pull-through cache serves the upstream image); use action: mirror", field(path, "customize"))
	}
	if r.Action == ActionPullThrough && r.MirrorFallback {
		return
	}
	why := "action deny"
	if r.Action == ActionPullThrough {
		why = "action pull-through unless fallback: mirror"
	}
	for _, key := range []string{"platforms", "pinDigest", "repository"} {
		if v := f[key]; v != nil {
			d.errorf(v, "%s: has no effect with %s", field(path, key), why)
		}
	}
}

// platformProblem checks os/arch[/variant].
func platformProblem(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Sprintf("platform %q: want os/arch or os/arch/variant, e.g. linux/amd64", p)
	}
	for _, s := range parts {
		if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return fmt.Sprintf("platform %q: want lower-case os/arch[/variant], e.g. linux/arm64/v8", p)
		}
	}
	return ""
}

func (d *decoder) denyRules(n *yaml.Node) []DenyRule {
	var rules []DenyRule
	for i, item := range d.list(n, "deny") {
		path := index("deny", i)
		f := d.item(item, path, "denyRule")
		if f == nil {
			continue
		}
		r := DenyRule{}
		r.Match, r.patterns = d.patterns(f, item, path)
		if v := f["tags"]; v != nil {
			r.Tags = d.tagSelector(v, field(path, "tags"))
			if r.Tags.Digests {
				d.errorf(v, "%s: a deny rule always denies digest-only references (they cannot be proven outside its tags); remove digests", field(path, "tags.digests"))
			}
		}
		if v := d.required(f, "reason", item, path); v != nil {
			if s, ok := d.str(v, field(path, "reason")); ok {
				if strings.TrimSpace(s) == "" {
					d.errorf(v, "%s: empty reason; say why the image is denied", field(path, "reason"))
				}
				r.Reason = s
			}
		}
		if v := f["scope"]; v != nil {
			r.Scope = d.scope(v, field(path, "scope"))
		}
		for j := range r.patterns {
			r.patterns[j].rule = path + " (" + r.patterns[j].text + ")"
			r.patterns[j].reason = r.Reason
		}
		rules = append(rules, r)
	}
	return rules
}

func (d *decoder) typosquat(n *yaml.Node, t *Typosquat) {
	f := d.mapping(n, "typosquat", "typosquat")
	if f == nil {
		return
	}
	if v := f["enabled"]; v != nil {
		if b, ok := d.boolean(v, "typosquat.enabled"); ok {
			t.Enabled = b
		}
	}
	if v := f["defaults"]; v != nil {
		if b, ok := d.boolean(v, "typosquat.defaults"); ok {
			t.Defaults = b
		}
	}
	if v := f["maxDistance"]; v != nil {
		if i, ok := d.integer(v, "typosquat.maxDistance"); ok {
			if i < 1 || i > 4 {
				d.errorf(v, "typosquat.maxDistance: %d is out of range 1 to 4 (turn the check off with enabled: false)", i)
			} else {
				t.MaxDistance = i
			}
		}
	}
	if v := f["protected"]; v != nil {
		t.Protected = d.names(v, "typosquat.protected")
	}
	if v := f["protectedNamespaces"]; v != nil {
		for _, it := range d.stringList(v, "typosquat.protectedNamespaces", false) {
			ns, msg := normaliseNamespace(it.s)
			if msg != "" {
				d.errorf(it.n, "typosquat.protectedNamespaces: %s", msg)
				continue
			}
			t.ProtectedNamespaces = append(t.ProtectedNamespaces, ns)
		}
	}
	if v := f["allow"]; v != nil {
		t.Allow = d.names(v, "typosquat.allow")
	}
}

// names decodes a list of exact image names into their normalised form.
func (d *decoder) names(n *yaml.Node, path string) []string {
	var out []string
	for _, it := range d.stringList(n, path, false) {
		p, msg := compileName(it.s)
		if msg != "" {
			d.errorf(it.n, "%s: %s", path, msg)
			continue
		}
		out = append(out, p.text)
	}
	return out
}

// normaliseNamespace turns "bitnami" into docker.io/bitnami and
// "quay.io/prometheus" into quay.io/prometheus.
func normaliseNamespace(s string) (string, string) {
	p, msg := compileName(s + "/x")
	if msg != "" || strings.Contains(s, "**") {
		return "", fmt.Sprintf("%q is not a namespace (want a name such as bitnami or quay.io/prometheus)", s)
	}
	ns := strings.TrimSuffix(p.text, "/x")
	host, name, _ := strings.Cut(ns, "/")
	switch {
	case strings.Contains(name, "/"):
		return "", fmt.Sprintf("%q is not a namespace: a namespace is one path component (bitnami, quay.io/prometheus)", s)
	case name == "library":
		return "", fmt.Sprintf("%q is Docker Hub's official-image namespace; protect official images by name in typosquat.protected", s)
	}
	return host + "/" + name, ""
}

// compileTyposquat builds the lists check compares against. The defaults
// are valid by construction (a test keeps them so).
func (d *decoder) compileTyposquat(t *Typosquat) {
	var repos, namespaces []string
	t.exempt = map[nameKey]struct{}{}
	t.trusted = map[nameKey]struct{}{}
	if t.Defaults {
		repos, namespaces = DefaultProtected(), DefaultProtectedNamespaces()
		for _, n := range officialImages() {
			t.exempt[nameKey{imageref.DockerHubHost, "library/" + n}] = struct{}{}
		}
	}
	repos = append(repos, t.Protected...)
	namespaces = append(namespaces, t.ProtectedNamespaces...)
	for _, r := range repos {
		p := newProtected(r, t.MaxDistance)
		t.protected = append(t.protected, p)
		t.exempt[nameKey{p.host, p.path}] = struct{}{}
	}
	for _, n := range namespaces {
		p := newProtected(n, t.MaxDistance)
		t.namespaces = append(t.namespaces, p)
		t.trusted[nameKey{p.host, p.path}] = struct{}{}
	}
	for _, a := range t.Allow {
		h, p, _ := strings.Cut(a, "/")
		t.exempt[nameKey{h, p}] = struct{}{}
	}
}

func (d *decoder) scope(n *yaml.Node, path string) Scope {
	var s Scope
	f := d.mapping(n, path, "scope")
	if f == nil {
		return s
	}
	s.Clusters = d.filter(f["clusters"], field(path, "clusters"))
	s.Services = d.filter(f["services"], field(path, "services"))
	s.Families = d.filter(f["families"], field(path, "families"))
	return s
}

func (d *decoder) filter(n *yaml.Node, path string) Filter {
	var flt Filter
	f := d.mapping(n, path, "filter")
	if f == nil {
		return flt
	}
	globs := func(key string) []string {
		v := f[key]
		if v == nil {
			return nil
		}
		var out []string
		for _, it := range d.stringList(v, field(path, key), true) {
			// "" is a glob too: it matches the empty name, a task that
			// no service started.
			if it.s != "" && !validGlob(it.s) {
				d.errorf(it.n, "%s: bad glob %q", field(path, key), it.s)
				continue
			}
			out = append(out, it.s)
		}
		return out
	}
	flt.Include = globs("include")
	flt.Exclude = globs("exclude")
	return flt
}

func (d *decoder) heal(n *yaml.Node, h *Heal) {
	f := d.mapping(n, "heal", "heal")
	if f == nil {
		return
	}
	if v := f["containers"]; v != nil {
		if s, ok := d.enum(v, "heal.containers", string(ContainersFailed), string(ContainersAllDockerHub)); ok {
			h.Containers = ContainerSelection(s)
		}
	}
	if v := f["serviceUpdate"]; v != nil {
		if s, ok := d.enum(v, "heal.serviceUpdate", string(UpdateService), string(ProposeOnly)); ok {
			h.ServiceUpdate = UpdateMode(s)
		}
	}
}
