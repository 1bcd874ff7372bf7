package hubsim

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// TestMeterSlidingWindow walks one identity through a script of GETs and
// clock moves and checks the answer to each.
func TestMeterSlidingWindow(t *testing.T) {
	type step struct {
		advance time.Duration
		op      string // "get" (served), "miss" (answered 404), "head", "set N" handled via n
		n       int
		want    quota
		wantOK  bool
	}
	const limit = 3
	q := func(remaining int, retry time.Duration) quota {
		return quota{limit: limit, remaining: remaining, retryAfter: retry}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fills and refuses", []step{
			{op: "get", want: q(2, time.Hour), wantOK: true},
			{advance: time.Minute, op: "get", want: q(1, time.Hour-time.Minute), wantOK: true},
			{advance: time.Minute, op: "get", want: q(0, time.Hour-2*time.Minute), wantOK: true},
			{advance: time.Minute, op: "get", want: q(0, time.Hour-3*time.Minute), wantOK: false},
			{op: "head", want: q(0, time.Hour-3*time.Minute)},
		}},
		{"slides one pull at a time", []step{
			{op: "get", want: q(2, time.Hour), wantOK: true},
			{advance: 30 * time.Minute, op: "get", want: q(1, 30*time.Minute), wantOK: true},
			{op: "get", want: q(0, 30*time.Minute), wantOK: true},
			{advance: 30*time.Minute - time.Nanosecond, op: "head", want: q(0, time.Nanosecond)},
			{advance: time.Nanosecond, op: "head", want: q(1, 30*time.Minute)},
			{op: "get", want: q(0, 30*time.Minute), wantOK: true},
			{advance: 30 * time.Minute, op: "head", want: q(2, 30*time.Minute)},
			{advance: 30 * time.Minute, op: "head", want: q(3, time.Second)},
		}},
		{"a miss gives the pull back", []step{
			{op: "miss", want: q(3, time.Second), wantOK: true},
			{op: "get", want: q(2, time.Hour), wantOK: true},
		}},
		{"set remaining", []step{
			{op: "get", want: q(2, time.Hour), wantOK: true},
			{advance: 10 * time.Minute, op: "set", n: 0, want: q(0, 50*time.Minute)},
			{advance: 50 * time.Minute, op: "head", want: q(1, 10*time.Minute)},
			{op: "set", n: 99, want: q(3, time.Second)},
			{op: "set", n: -4, want: q(0, time.Hour)},
			{op: "set", n: 2, want: q(2, time.Hour)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := wire.NewManualClock(time.Unix(1_750_000_000, 0))
			m := newMeter(clock, time.Hour)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				var got quota
				ok := false
				switch s.op {
				case "get", "miss":
					if _, ok = m.reserve("10.0.0.1", limit, "library/nginx"); ok {
						got = m.settle("10.0.0.1", limit, "library/nginx", s.op == "get")
					} else {
						got = m.peek("10.0.0.1", limit)
					}
				case "head":
					got = m.peek("10.0.0.1", limit)
				case "set":
					m.setRemaining("10.0.0.1", limit, s.n)
					got = m.peek("10.0.0.1", limit)
				}
				if ok != s.wantOK {
					t.Fatalf("step %d %s: admitted = %v, want %v", i, s.op, ok, s.wantOK)
				}
				if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(quota{})); diff != "" {
					t.Fatalf("step %d %s (-want +got):\n%s", i, s.op, diff)
				}
			}
		})
	}
}

func TestNormalizeIdentity(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::7/128", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"alice", "alice"},
		{"10.0.0.0/8", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		if got := normalizeIdentity(tt.in); got != tt.want {
			t.Errorf("normalizeIdentity(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: kindBase}},
		{"/v2", route{kind: kindBase}},
		{"/v2/_catalog", route{kind: kindCatalog}},
		{"/v2/library/nginx/manifests/1.27", route{kind: kindManifest, repo: "library/nginx", ref: "1.27"}},
		{"/v2/a/b/c/manifests/sha256:abc", route{kind: kindManifest, repo: "a/b/c", ref: "sha256:abc"}},
		{"/v2/library/nginx/blobs/sha256:abc", route{kind: kindBlob, repo: "library/nginx", ref: "sha256:abc"}},
		{"/v2/library/nginx/blobs/uploads/", route{kind: kindBlob, repo: "library/nginx", ref: "uploads"}},
		{"/v2/library/nginx/blobs/uploads/1234", route{kind: kindBlob, repo: "library/nginx", ref: "1234"}},
		{"/v2/library/nginx/tags/list", route{kind: kindTags, repo: "library/nginx"}},
		{"/v2/library/nginx/referrers/sha256:abc", route{kind: kindOther, repo: "library/nginx", ref: "sha256:abc"}},
		{"/v2/nginx/manifests/", route{kind: kindOther}},
		{"/v2/whatever", route{kind: kindOther}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parseRoute(tt.path), cmp.AllowUnexported(route{})); diff != "" {
			t.Errorf("parseRoute(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		repo    string
		actions []string
		ok      bool
	}{
		{"repository:library/nginx:pull", "library/nginx", []string{"pull"}, true},
		{"repository:alice/app:pull,push", "alice/app", []string{"pull", "push"}, true},
		{"repository:localhost:5000/app:pull", "localhost:5000/app", []string{"pull"}, true},
		{"registry:catalog:*", "", nil, false},
		{"repository:nginx", "", nil, false},
		{"repository:nginx:", "", nil, false},
		{"repository::pull", "", nil, false},
		{"", "", nil, false},
	}
	for _, tt := range tests {
		repo, actions, ok := parseScope(tt.in)
		if repo != tt.repo || ok != tt.ok || !cmp.Equal(actions, tt.actions) {
			t.Errorf("parseScope(%q) = %q %q %v, want %q %q %v", tt.in, repo, actions, ok, tt.repo, tt.actions, tt.ok)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/library/nginx/manifests/latest", "/v2/a/blobs/uploads/x", "/v2//manifests/", "/v2/blobs/blobs/blobs", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r := parseRoute(p)
		if r.kind == kindManifest && !strings.HasSuffix(p, "/manifests/"+r.ref) && !strings.HasSuffix(p, "/manifests/"+r.ref+"/") {
			t.Errorf("manifest route %+v from %q", r, p)
		}
	})
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:library/nginx:pull", "repository:a:b:c", "x", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		repo, actions, ok := parseScope(s)
		if ok && (repo == "" || len(actions) == 0) {
			t.Errorf("parseScope(%q) = %q %q, ok", s, repo, actions)
		}
	})
}
