package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
)

// upstreamNames maps ECR's upstreamRegistry names to the canonical host of
// the registry they cache. azure-container-registry and ecr name a family
// of hosts, not one, and are handled apart.
func upstreamHostOf(name string) (string, bool) {
	switch name {
	case "docker-hub":
		return imageref.DockerHubHost, true
	case "quay":
		return "quay.io", true
	case "github-container-registry":
		return "ghcr.io", true
	case "k8s":
		return "registry.k8s.io", true
	case "ecr-public":
		return "public.ecr.aws", true
	case "gitlab-container-registry":
		return "registry.gitlab.com", true
	case "chainguard":
		return "cgr.dev", true
	}
	return "", false
}

// ParseUpstream turns the upstream of a pull-through rule into the
// canonical host of the registry it caches. s is a host (docker.io,
// registry-1.docker.io, quay.io, myreg.azurecr.io, 127.0.0.1:5000) or an
// ECR upstreamRegistry name (docker-hub, quay, github-container-registry,
// k8s, ecr-public, gitlab-container-registry, chainguard).
//
// Private ECR upstreams are refused: pullheal leaves images that are
// already in ECR as they are, so such a rule would never be used.
func ParseUpstream(s string) (string, error) {
	l := strings.ToLower(s)
	if h, ok := upstreamHostOf(l); ok {
		return h, nil
	}
	switch {
	case s == "":
		return "", errors.New("empty upstream")
	case l == "azure-container-registry":
		return "", errors.New("azure-container-registry names no single registry: give the host, e.g. myregistry.azurecr.io")
	case l == "ecr":
		return "", errors.New("an ecr upstream caches private ECR images, which pullheal uses as they are")
	case strings.Contains(l, "://"):
		return "", fmt.Errorf("upstream %q: give a host, without a scheme", s)
	case strings.Contains(l, "/"):
		return "", fmt.Errorf("upstream %q: give a host, without a path", s)
	}
	if !strings.ContainsAny(l, ".:") && l != "localhost" {
		return "", fmt.Errorf("unknown upstream %q (want a host such as docker.io or quay.io, or one of docker-hub, quay, github-container-registry, k8s, ecr-public, gitlab-container-registry, chainguard)", s)
	}
	if msg := hostSyntax(l); msg != "" {
		return "", fmt.Errorf("upstream %s", msg)
	}
	h := imageref.CanonicalHost(l)
	if imageref.KindOf(h) == imageref.ECRPrivate {
		return "", fmt.Errorf("upstream %s is a private ECR registry, whose images pullheal uses as they are", h)
	}
	return h, nil
}

// CheckRegistry checks the host of the ECR registry images are healed into:
// a private ECR host, or any other host[:port] (a VPC endpoint name, the
// local test bed's 127.0.0.1:PORT). Public registries are refused, since
// pullheal cannot push to them.
func CheckRegistry(host string) error {
	if host == "" {
		return errors.New("empty registry host")
	}
	if strings.Contains(host, "/") {
		return fmt.Errorf("registry %q: give a host[:port], without scheme or path", host)
	}
	if msg := hostSyntax(host); msg != "" {
		return fmt.Errorf("registry %s", msg)
	}
	switch k := imageref.KindOf(host); k {
	case imageref.ECRPrivate, imageref.Other:
		return nil
	default:
		return fmt.Errorf("registry %s is a public registry (%s); give the ECR registry to heal into, ACCOUNT.dkr.ecr.REGION.amazonaws.com", imageref.CanonicalHost(host), k)
	}
}

// CheckPrefix checks an ECR pull-through cache rule's repository prefix:
// 2 to 30 characters of lower-case repository name components.
func CheckPrefix(prefix string) error {
	if n := len(prefix); n < 2 || n > 30 {
		return fmt.Errorf("prefix %q must be 2 to 30 characters", prefix)
	}
	return checkRepoPath("prefix", prefix)
}

// CheckMirrorPrefix checks the repository prefix mirrored images go
// under: 1 to 200 characters of lower-case repository name components,
// '/'-separated.
func CheckMirrorPrefix(prefix string) error {
	if len(prefix) > 200 {
		return fmt.Errorf("prefix %q is longer than 200 characters", prefix)
	}
	return checkRepoPath("prefix", prefix)
}

// PrefixesOverlap reports whether two repository prefixes share
// repositories: equal, or one a '/'-component prefix of the other. A
// mirror prefix must not overlap a pull-through prefix, or mirrored images
// would land where the cache creates its repositories.
func PrefixesOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// checkRepoPath checks an ECR repository name (or prefix): components of
// lower-case letters and digits joined by '.', '_' or '-', separated by '/'.
func checkRepoPath(what, p string) error {
	for c := range strings.SplitSeq(p, "/") {
		if !isRepoComponent(c) {
			return fmt.Errorf("%s %q: each '/'-separated part must be lower-case letters and digits joined by '.', '_' or '-'", what, p)
		}
	}
	return nil
}

func isRepoComponent(c string) bool {
	if c == "" {
		return false
	}
	prevSep := true
	for i := 0; i < len(c); i++ {
		switch b := c[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
			prevSep = false
		case b == '.' || b == '_' || b == '-':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}
