package imageref

import "strings"

// Kind names the registry family a host belongs to. The planner keys
// pull-through cache rules and policy defaults on it.
type Kind string

// Registry kinds. Other covers every host not listed, public or private.
const (
	DockerHub  Kind = "docker-hub"
	ECRPrivate Kind = "ecr-private"
	ECRPublic  Kind = "ecr-public"
	Quay       Kind = "quay"
	GHCR       Kind = "ghcr"
	K8s        Kind = "k8s"
	GitLab     Kind = "gitlab"
	Azure      Kind = "azure"
	Chainguard Kind = "chainguard"
	Other      Kind = "other"
)

// DockerHubHost is the canonical host of Docker Hub references.
const DockerHubHost = "docker.io"

// CanonicalHost lower-cases host and folds every spelling of Docker Hub
// ("", "docker.io", "index.docker.io", "registry-1.docker.io") into
// "docker.io". Docker, containerd and ECS all treat these as the same
// registry; registry.hub.docker.com is not folded because runtimes do not
// treat it as an alias either.
func CanonicalHost(host string) string {
	h := lower(host)
	switch h {
	case "", DockerHubHost, "index.docker.io", "registry-1.docker.io":
		return DockerHubHost
	}
	return h
}

// KindOf reports the registry family of host (any spelling CanonicalHost
// accepts). ECR private hosts are recognised in every partition and endpoint
// flavour ECRHost accepts; *.azurecr.io is Azure; k8s.gcr.io, the frozen
// predecessor of registry.k8s.io, counts as K8s.
func KindOf(host string) Kind {
	h := CanonicalHost(host)
	switch h {
	case DockerHubHost:
		return DockerHub
	case "public.ecr.aws":
		return ECRPublic
	case "quay.io":
		return Quay
	case "ghcr.io":
		return GHCR
	case "registry.k8s.io", "k8s.gcr.io":
		return K8s
	case "registry.gitlab.com":
		return GitLab
	case "cgr.dev":
		return Chainguard
	}
	if strings.HasSuffix(h, ".azurecr.io") && len(h) > len(".azurecr.io") {
		return Azure
	}
	if _, _, ok := ECRHost(h); ok {
		return ECRPrivate
	}
	return Other
}

// ECRHost splits an Amazon ECR private registry host into its account and
// region. It accepts the forms ECS pulls from:
//
//	ACCOUNT.dkr.ecr.REGION.amazonaws.com
//	ACCOUNT.dkr.ecr-fips.REGION.amazonaws.com
//	ACCOUNT.dkr.ecr.REGION.amazonaws.com.cn
//	ACCOUNT.dkr-ecr.REGION.on.aws        (dual-stack)
//	ACCOUNT.dkr-ecr-fips.REGION.on.aws   (dual-stack FIPS)
//
// The account must be twelve digits. A host with a port is not ECR: ECR
// serves only the default HTTPS port and nobody spells it out.
func ECRHost(host string) (account, region string, ok bool) {
	h := lower(host)
	var rest string
	var services []string
	switch {
	case strings.HasSuffix(h, ".amazonaws.com.cn"):
		rest, services = strings.TrimSuffix(h, ".amazonaws.com.cn"), []string{"dkr.ecr."}
	case strings.HasSuffix(h, ".amazonaws.com"):
		rest, services = strings.TrimSuffix(h, ".amazonaws.com"), []string{"dkr.ecr.", "dkr.ecr-fips."}
	case strings.HasSuffix(h, ".on.aws"):
		rest, services = strings.TrimSuffix(h, ".on.aws"), []string{"dkr-ecr.", "dkr-ecr-fips."}
	default:
		return "", "", false
	}
	account, rest, found := strings.Cut(rest, ".")
	if !found || !isAccount(account) {
		return "", "", false
	}
	for _, svc := range services {
		if r, found := strings.CutPrefix(rest, svc); found && isRegion(r) {
			return account, r, true
		}
	}
	return "", "", false
}

func isAccount(s string) bool {
	return len(s) == 12 && allDigits(s)
}

// isRegion accepts AWS region names such as us-east-1, cn-north-1,
// us-gov-west-1 and ap-southeast-5: lower-case words joined by hyphens,
// ending in a number.
func isRegion(s string) bool {
	words := 0
	for w := range strings.SplitSeq(s, "-") {
		words++
		if w == "" {
			return false
		}
		for j := 0; j < len(w); j++ {
			if c := w[j]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
				return false
			}
		}
	}
	// The last word is the number, every other word is letters only.
	i := strings.LastIndexByte(s, '-')
	if words < 3 || !allDigits(s[i+1:]) {
		return false
	}
	for j := 0; j < i; j++ {
		if c := s[j]; c >= '0' && c <= '9' {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// lower is strings.ToLower for the ASCII hosts this package deals with; it
// avoids an allocation when the host is already lower-case, the usual case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
