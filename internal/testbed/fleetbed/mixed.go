package fleetbed

// Expect is what pullheal scan must report for one container of a family
// when the registry has a Docker Hub pull-through cache rule with prefix
// docker-hub and no other rule, and no policy is given.
type Expect struct {
	Container   string
	RateLimited bool
	Route       string // pull-through or none
	Target      string
}

// Mixed returns families with an image from every kind of registry and,
// for each, what a scan must report. registry is the account's ECR host;
// nginxDigest the digest of the hub's nginx:1.27, for a digest-pinned
// reference (tag and digest, as ECS pins images).
func Mixed(registry, nginxDigest string) ([]Family, map[string][]Expect) {
	pt := func(c, target string) Expect {
		return Expect{Container: c, RateLimited: true, Route: "pull-through", Target: registry + "/docker-hub/" + target}
	}
	none := func(c string) Expect { return Expect{Container: c, Route: "none"} }
	fams := []Family{
		{Name: "hub-official", Images: []Container{{"web", "nginx:1.27"}}},
		{Name: "hub-user", Images: []Container{{"cache", "bitnami/redis:7.2"}}},
		{Name: "hub-qualified", Images: []Container{{"vault", "docker.io/hashicorp/vault:1.17"}}},
		{Name: "hub-pinned", Images: []Container{{"web", "nginx:1.27@" + nginxDigest}}},
		{Name: "ecr", Images: []Container{{"app", registry + "/team/app:1.4"}}},
		{Name: "ecr-public", Images: []Container{{"web", "public.ecr.aws/nginx/nginx:1.27"}}},
		{Name: "quay", Images: []Container{{"exporter", "quay.io/prometheus/node-exporter:v1.8.0"}}},
		{Name: "healed", Images: []Container{{"web", registry + "/docker-hub/library/nginx:1.27"}}, Tags: map[string]string{
			"pullheal:source-revision": "arn:aws:ecs:us-east-1:123456789012:task-definition/hub-official:1",
			"pullheal:rewrite-id":      "0123456789abcdef",
			"pullheal:reason":          "rate-limited pull",
			"pullheal:generation":      "1",
		}},
		{Name: "mixed", Images: []Container{{"web", registry + "/team/web:2"}, {"proxy", "redis:7"}}},
		{Name: "no-role", Images: []Container{{"web", "nginx:1.26"}}, NoExecutionRole: true},
	}
	want := map[string][]Expect{
		"hub-official":  {pt("web", "library/nginx:1.27")},
		"hub-user":      {pt("cache", "bitnami/redis:7.2")},
		"hub-qualified": {pt("vault", "hashicorp/vault:1.17")},
		"hub-pinned":    {pt("web", "library/nginx:1.27@"+nginxDigest)},
		"ecr":           {none("app")},
		"ecr-public":    {none("web")},
		"quay":          {none("exporter")},
		"healed":        {none("web")},
		"mixed":         {none("web"), pt("proxy", "library/redis:7")},
		"no-role":       {pt("web", "library/nginx:1.26")},
	}
	return fams, want
}

// NeedingRevision are the families of Mixed that a scan --apply corrects.
var NeedingRevision = []string{"hub-official", "hub-user", "hub-qualified", "hub-pinned", "mixed"}

// CannotPullFromECR is the family of Mixed that pulls from Docker Hub but
// has no execution role: on Fargate it cannot pull from private ECR, so a
// scan --apply skips it, as the agent does.
const CannotPullFromECR = "no-role"
