package ecrsim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"latest", "latest", true},
		{"latest", "latest-1", false},
		{"latest*", "latest-amd64", true},
		{"*-rc", "1.0-rc", true},
		{"*-rc", "1.0-rc1", false},
		{"v*.*", "v1.2", true},
		{"v*.*", "v12", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path   string
		want   regPath
		wantOK bool
	}{
		{"/v2/", regPath{kind: pathBase}, true},
		{"/v2", regPath{kind: pathBase}, true},
		{"/v2/_catalog", regPath{kind: pathCatalog}, true},
		{"/v2/docker-hub/library/nginx/manifests/1.27", regPath{kind: pathManifest, repo: "docker-hub/library/nginx", ref: "1.27"}, true},
		{"/v2/app/blobs/sha256:abc", regPath{kind: pathBlob, repo: "app", ref: "sha256:abc"}, true},
		{"/v2/a/b/blobs/uploads/", regPath{kind: pathUploadStart, repo: "a/b"}, true},
		{"/v2/a/b/blobs/uploads/1234", regPath{kind: pathUploadSession, repo: "a/b", ref: "1234"}, true},
		{"/v2/a/b/tags/list", regPath{kind: pathTags, repo: "a/b"}, true},
		{"/v2/manifests/x", regPath{}, false},
		{"/v1/app/manifests/x", regPath{}, false},
		{"/v2/app", regPath{}, false},
	}
	for _, tt := range tests {
		got, ok := parsePath(tt.path)
		if ok != tt.wantOK {
			t.Errorf("parsePath(%q) ok = %v, want %v", tt.path, ok, tt.wantOK)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(regPath{})); ok && diff != "" {
			t.Errorf("parsePath(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}
