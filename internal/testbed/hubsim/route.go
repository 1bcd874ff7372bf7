package hubsim

import (
	"regexp"
	"strings"
)

// Kinds of registry requests hubsim treats differently.
const (
	kindBase     = "base"     // /v2/
	kindCatalog  = "catalog"  // /v2/_catalog
	kindManifest = "manifest" // /v2/NAME/manifests/REF
	kindBlob     = "blob"     // /v2/NAME/blobs/DIGEST and uploads
	kindTags     = "tags"     // /v2/NAME/tags/list
	kindOther    = "other"    // referrers, or a path the store rejects itself
)

// route is what the path of a /v2/ request names.
type route struct {
	kind string
	repo string // "" for base, catalog and unrecognised paths
	ref  string // the manifest reference or blob digest
}

// parseRoute reads a /v2/ path the way go-containerregistry's registry
// does (the request kind is in the trailing elements; the repository is what
// comes between "/v2/" and them), so that the repository hubsim authorises
// is the one the store serves.
func parseRoute(path string) route {
	elem := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(elem) > 0 && elem[len(elem)-1] == "" {
		elem = elem[:len(elem)-1]
	}
	n := len(elem)
	switch {
	case n <= 1:
		return route{kind: kindBase}
	case n >= 3 && elem[n-2] == "blobs":
		return route{kind: kindBlob, repo: strings.Join(elem[1:n-2], "/"), ref: elem[n-1]}
	case n >= 4 && elem[n-3] == "blobs" && elem[n-2] == "uploads":
		return route{kind: kindBlob, repo: strings.Join(elem[1:n-3], "/"), ref: elem[n-1]}
	case n >= 4 && elem[n-2] == "manifests":
		return route{kind: kindManifest, repo: strings.Join(elem[1:n-2], "/"), ref: elem[n-1]}
	case n >= 4 && elem[n-2] == "tags":
		return route{kind: kindTags, repo: strings.Join(elem[1:n-2], "/")}
	case n >= 4 && elem[n-2] == "referrers":
		return route{kind: kindOther, repo: strings.Join(elem[1:n-2], "/"), ref: elem[n-1]}
	case elem[n-1] == "_catalog":
		return route{kind: kindCatalog}
	}
	return route{kind: kindOther}
}

// repositoryName is the distribution spec's grammar for a repository name.
var repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

func validRepository(repo string) bool {
	return len(repo) <= 255 && repositoryName.MatchString(repo)
}
