package policy

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// schemaDef is the part of a JSON Schema object definition the drift tests
// read.
type schemaDef struct {
	Type                 any                        `json:"type"`
	AdditionalProperties *bool                      `json:"additionalProperties"`
	Properties           map[string]json.RawMessage `json:"properties"`
	Defs                 map[string]schemaDef       `json:"$defs"`
}

func readSchema(t *testing.T) schemaDef {
	t.Helper()
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s schemaDef
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	var meta struct {
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(data, &meta); err != nil || meta.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("schema.json: $schema = %q, want draft 2020-12", meta.Schema)
	}
	return s
}

func keysOf(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestSchemaMatchesLoader keeps schema.json and the loader's accepted keys
// the same: the root's properties are the "policy" section, and every
// other section is the $def of the same name, closed to other keys.
func TestSchemaMatchesLoader(t *testing.T) {
	s := readSchema(t)
	defs := map[string]schemaDef{"policy": s}
	for name, d := range s.Defs {
		if d.Properties != nil {
			defs[name] = d
		}
	}
	secs := sections()
	for name, keys := range secs {
		d, ok := defs[name]
		if !ok {
			t.Errorf("section %q has no $defs/%s in schema.json", name, name)
			continue
		}
		want := slices.Sorted(slices.Values(keys))
		if diff := cmp.Diff(want, keysOf(d.Properties)); diff != "" {
			t.Errorf("section %q: loader keys (-) and schema properties (+) differ:\n%s", name, diff)
		}
		if d.AdditionalProperties == nil || *d.AdditionalProperties {
			t.Errorf("schema %q must set additionalProperties: false, as the loader refuses unknown keys", name)
		}
	}
	for name := range defs {
		if _, ok := secs[name]; !ok {
			t.Errorf("schema.json object $defs/%s is no section of the loader", name)
		}
	}
}

var wantList = regexp.MustCompile(`\(want (.*)\)$`)

// TestSchemaEnumsMatchLoader feeds each enum field a value the loader
// refuses and compares the values its message lists with the schema's enum.
func TestSchemaEnumsMatchLoader(t *testing.T) {
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		def, prop, yaml string
	}{
		{"pullThrough", "source", "pullThrough: {source: BOGUS}"},
		{"repository", "tagMutability", "mirror: {repository: {tagMutability: BOGUS}}"},
		{"encryption", "type", "mirror: {repository: {encryption: {type: BOGUS}}}"},
		{"imageRule", "action", "images: [{match: nginx, action: BOGUS}]"},
		{"imageRule", "fallback", "images: [{match: nginx, action: pull-through, fallback: BOGUS}]"},
		{"heal", "containers", "heal: {containers: BOGUS}"},
		{"heal", "serviceUpdate", "heal: {serviceUpdate: BOGUS}"},
	} {
		t.Run(tc.def+"."+tc.prop, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte("version: 1\n"+tc.yaml+"\n"))
			var perr *Error
			if !errors.As(err, &perr) || len(perr.Problems) != 1 {
				t.Fatalf("Parse = %v, want one problem", err)
			}
			m := wantList.FindStringSubmatch(perr.Problems[0].Message)
			if m == nil {
				t.Fatalf("problem %q lists no values", perr.Problems[0].Message)
			}
			loader := strings.FieldsFunc(strings.ReplaceAll(m[1], " or ", ", "), func(r rune) bool { return r == ',' || r == ' ' })
			slices.Sort(loader)
			schema := slices.Sorted(slices.Values(raw.Defs[tc.def].Properties[tc.prop].Enum))
			if diff := cmp.Diff(loader, schema); diff != "" {
				t.Errorf("loader (-) and schema (+) values differ:\n%s", diff)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		bound int
		want  int
	}{
		{"nginx", "nginx", 2, 0},
		{"nginx", "ngnix", 2, 2},
		{"library/nginx", "library/ngnix", 2, 2},
		{"nginx", "nginxx", 2, 1},
		{"bitnami", "bitnarni", 2, 2},
		{"redis", "postgres", 2, 3},
		{"kitten", "sitting", 3, 3},
		{"", "abc", 5, 3},
		{"abc", "", 1, 2},
		{strings.Repeat("a", 100), strings.Repeat("a", 99) + "b", 2, 1},
		{strings.Repeat("ab", 50), strings.Repeat("ba", 50), 4, 2},
	} {
		if got := distance(tc.a, tc.b, tc.bound); got != tc.want {
			t.Errorf("distance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.bound, got, tc.want)
		}
	}
}

// TestDefaultsAreValid keeps the built-in names loadable: they bypass the
// checks a policy file's names go through.
func TestDefaultsAreValid(t *testing.T) {
	for _, n := range DefaultProtected() {
		if p, msg := compileName(n); msg != "" || p.text != n {
			t.Errorf("default protected %q: %q (normalised %q)", n, msg, p.text)
		}
	}
	for _, n := range DefaultProtectedNamespaces() {
		if ns, msg := normaliseNamespace(n); msg != "" || ns != n {
			t.Errorf("default namespace %q: %q (normalised %q)", n, msg, ns)
		}
	}
	for _, n := range officialImages() {
		if _, msg := compileName("docker.io/library/" + n); msg != "" {
			t.Errorf("official image %q: %s", n, msg)
		}
	}
}

func TestMatchSegments(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"library/nginx", "library/nginx", true},
		{"library/*", "library/nginx", true},
		{"library/*", "library/a/b", false},
		{"bitnami/**", "bitnami/redis", true},
		{"bitnami/**", "bitnami/charts/redis", true},
		{"bitnami/**", "bitnami", true},
		{"**/redis", "bitnami/charts/redis", true},
		{"**/redis", "redis", true},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b/**/c", "a/x/b/y/z/d", false},
		{"a/**", "ab/c", false},
		{"team-[ab]/*", "team-a/x", true},
		{"team-[ab]/*", "team-c/x", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
	} {
		if got := matchSegments(strings.Split(tc.pattern, "/"), tc.repo); got != tc.want {
			t.Errorf("matchSegments(%q, %q) = %v, want %v", tc.pattern, tc.repo, got, tc.want)
		}
	}
}
