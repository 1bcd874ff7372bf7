package policy

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
)

// DefaultMaxDistance is the typosquat distance used when the policy sets
// none.
const DefaultMaxDistance = 2

// shortName is the length under which a protected name is compared with a
// distance of at most 1: at 2, nearly every four-letter word is a neighbour
// of "node".
const shortName = 5

// DefaultProtected returns the repository names protected when the policy
// keeps typosquat.defaults on: the Docker Hub official images pulled most.
// Listing an official image also keeps it from being reported as a
// near-miss of another (mono is one edit from mongo).
func DefaultProtected() []string {
	names := []string{
		"nginx", "redis", "postgres", "python", "node", "alpine", "ubuntu",
		"debian", "busybox", "golang", "mysql", "mongo", "httpd", "memcached",
		"traefik", "mariadb", "rabbitmq", "php", "openjdk", "eclipse-temurin",
		"amazoncorretto", "amazonlinux", "centos", "fedora", "wordpress",
		"haproxy", "registry", "caddy", "tomcat", "ruby", "rust", "maven",
		"gradle", "docker", "bash", "perl", "influxdb", "telegraf", "nats",
		"mono", "elasticsearch", "kibana", "logstash", "sonarqube", "ghost",
		"zookeeper", "cassandra", "couchdb", "neo4j", "solr", "kong",
		"adminer", "hello-world", "vault", "consul", "nextcloud",
	}
	for i, n := range names {
		names[i] = imageref.DockerHubHost + "/library/" + n
	}
	return names
}

// DefaultProtectedNamespaces returns the Docker Hub namespaces protected
// when the policy keeps typosquat.defaults on: publishers whose images are
// pulled as widely as official ones.
func DefaultProtectedNamespaces() []string {
	names := []string{
		"bitnami", "grafana", "hashicorp", "nginxinc", "rancher",
		"confluentinc", "datadog", "localstack", "portainer", "gitlab",
		"jetbrains", "circleci", "amazon", "mongodb", "elastic",
	}
	for i, n := range names {
		names[i] = imageref.DockerHubHost + "/" + n
	}
	return names
}

// officialImages are Docker Hub official images that are not protected
// but must not be reported either: each is within two edits of a protected
// name (erlang and golang, jruby and ruby). Only Docker can publish under
// library/, so a name there that exists is the real image.
func officialImages() []string {
	return []string{
		"alt", "erlang", "hylang", "jruby", "haxe", "julia", "odoo", "plone",
		"pypy", "tomee", "unit", "storm", "swift", "dart", "elixir", "groovy",
		"haskell", "jetty", "joomla", "drupal", "percona", "photon", "ros",
		"znc", "xwiki", "monica", "matomo", "notary", "crate", "flink",
		"spiped", "varnish", "irssi", "hitch", "emqx", "cirros",
	}
}

// nameKey is a host and a path, compared without building host/path.
type nameKey struct{ host, path string }

// protectedName is a compiled protected repository or namespace.
type protectedName struct {
	host, path string
	text       string // host/path, for the reason
	bound      int    // the largest distance reported for it
	chars      uint64 // charSet(path)
}

func newProtected(name string, max int) protectedName {
	host, p, _ := strings.Cut(name, "/")
	return protectedName{host: host, path: p, text: name, bound: boundFor(p, max), chars: charSet(p)}
}

// charSet is the set of characters in s, one bit each for a-z, 0-9 and
// the separators. One edit changes at most two bits of the set, so two
// names whose sets differ in more than 2*bound bits are further apart than
// bound: most protected names are ruled out without computing a distance.
func charSet(s string) uint64 {
	var set uint64
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			set |= 1 << (c - 'a')
		case c >= '0' && c <= '9':
			set |= 1 << (26 + c - '0')
		case c == '.':
			set |= 1 << 36
		case c == '_':
			set |= 1 << 37
		case c == '-':
			set |= 1 << 38
		case c == '/':
			set |= 1 << 39
		default:
			set |= 1 << 40
		}
	}
	return set
}

// boundFor lowers the distance for short names, whose last component is
// shorter than shortName.
func boundFor(p string, max int) int {
	if len(p[strings.LastIndexByte(p, '/')+1:]) < shortName {
		return min(max, 1)
	}
	return max
}

// check reports the protected name ref is a likely typosquat of. A name is
// compared with protected repositories on the same registry as a whole path
// (library/ngnix against library/nginx), and its namespace, the first path
// component, with protected namespaces (bitnarni/redis against bitnami). A
// name that is protected, allowed, an official image, or in a protected
// namespace is never reported. The distance is Levenshtein's: a swap of two
// letters (ngnix) counts 2, the distance people read off a diff. Names
// whose last component is short are compared at distance 1 at most.
func (t *Typosquat) check(ref imageref.Ref) (protected string, dist int, found bool) {
	if !t.Enabled || ref.Repository == "" {
		return "", 0, false
	}
	if _, ok := t.exempt[nameKey{ref.Registry, ref.Repository}]; ok {
		return "", 0, false
	}
	ns, _, nested := strings.Cut(ref.Repository, "/")
	if nested {
		if _, ok := t.trusted[nameKey{ref.Registry, ns}]; ok {
			return "", 0, false
		}
	}
	// The closest protected name is reported; on a tie, the first listed.
	dist = 1 << 30
	consider := func(p *protectedName, s string, chars uint64, bound int) {
		if bits.OnesCount64(chars^p.chars) > 2*bound {
			return
		}
		if d := distance(s, p.path, bound); d >= 1 && d <= bound && d < dist {
			protected, dist = p.text, d
		}
	}
	repoBound, repoChars := boundFor(ref.Repository, t.MaxDistance), charSet(ref.Repository)
	for i := range t.protected {
		if p := &t.protected[i]; p.host == ref.Registry {
			consider(p, ref.Repository, repoChars, min(p.bound, repoBound))
		}
	}
	if nested {
		nsBound, nsChars := boundFor(ns, t.MaxDistance), charSet(ns)
		for i := range t.namespaces {
			if n := &t.namespaces[i]; n.host == ref.Registry {
				consider(n, ns, nsChars, min(n.bound, nsBound))
			}
		}
	}
	if protected == "" {
		return "", 0, false
	}
	return protected, dist, true
}

func typosquatReason(protected string, dist int) string {
	return "possible typosquat of " + protected + " (distance " + strconv.Itoa(dist) + ")"
}

// distance returns the Levenshtein distance of a and b when it is at most
// bound, and bound+1 otherwise. Shared prefixes and suffixes (the library/
// of official images) are stripped first, so the usual comparison is of a
// few characters, on the stack.
func distance(a, b string, bound int) int {
	if len(a)-len(b) > bound || len(b)-len(a) > bound {
		return bound + 1
	}
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > bound {
		return bound + 1
	}
	if len(b) == 0 {
		return len(a)
	}
	var buf [32]int
	var row []int
	if len(b)+1 <= len(buf) {
		row = buf[:len(b)+1]
	} else {
		row = make([]int, len(b)+1)
	}
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		rowMin := row[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			next := min(row[j]+1, row[j-1]+1, diag+cost)
			diag, row[j] = row[j], next
			rowMin = min(rowMin, next)
		}
		if rowMin > bound {
			return bound + 1
		}
	}
	if row[len(b)] > bound {
		return bound + 1
	}
	return row[len(b)]
}
