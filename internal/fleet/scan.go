package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/policy"
)

// Docker Hub's documented limits per 6-hour window: anonymous pulls are
// counted per source IP, authenticated ones per account. Docker has changed
// them before, so they are defaults the caller may override.
const (
	DefaultAnonymousLimit     = 100
	DefaultAuthenticatedLimit = 200
	DefaultWindowHours        = 6
)

// Config is what a scan decides with.
type Config struct {
	// Plan is the planning configuration the agent would use (registry,
	// pull-through rules, policy).
	Plan plan.Config
	// RateLimited are registry hosts counted like Docker Hub, whose pulls a
	// limit applies to.
	RateLimited []string
	// AnonymousLimit and AuthenticatedLimit are the pull limits per window
	// the fleet's total is held against (Docker Hub's when 0).
	AnonymousLimit, AuthenticatedLimit int
	Workers                            int
	// Manifests, when set, tells how many manifest GETs one pull of an
	// image costs (a HEAD, which the hub does not count, tells an index
	// from a single manifest). It is asked once per distinct image; an
	// error leaves the image at 1, unknown.
	Manifests func(ctx context.Context, image string) (int, error)
	// Progress, when set, is told how far the scan has read (one call at
	// a time).
	Progress func(Progress)
	// PullCheck, when set, is the agent's check of whether a task's image
	// puller may pull an ECR target (pullcheck.Check: IAM's simulator with
	// the registry and repository policies). It is asked once per
	// distinct execution role and target repository. Nil judges from the
	// task definition alone.
	PullCheck func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict
}

// Container is one container's image and what the agent would do with it.
type Container struct {
	Name        string `json:"name"`
	Image       string `json:"image"`
	Registry    string `json:"registry"`
	RateLimited bool   `json:"rateLimited"`
	Route       string `json:"route"`
	Target      string `json:"target"`
	Reason      string `json:"reason"`
	// Manifests is the counted manifest GETs of one pull of the image:
	// 1 unless known (ManifestsKnown).
	Manifests      int  `json:"manifests"`
	ManifestsKnown bool `json:"manifestsKnown"`
}

// ECR pull answers: whether the image puller can read from private ECR.
const (
	ECRPullYes     = "yes"
	ECRPullNo      = "no"
	ECRPullUnknown = "unknown"
)

// ServiceReport is one service's exposure.
type ServiceReport struct {
	Cluster           string      `json:"cluster"`
	Service           string      `json:"service"`
	TaskDefinitionArn string      `json:"taskDefinitionArn"`
	DesiredCount      int32       `json:"desiredCount"`
	Generated         bool        `json:"generated"`
	Containers        []Container `json:"containers"`
	// Pulls is the counted pulls one full deployment costs: desired count
	// x rate-limited images x their manifests.
	Pulls int `json:"pulls"`
	// ECRPull says whether the task's image puller (its execution role) can
	// pull from private ECR, as far as can be told without reading IAM.
	ECRPull       string `json:"ecrPull"`
	ECRPullReason string `json:"ecrPullReason"`
}

// Exposed reports whether the service pulls from a rate-limited registry.
func (s ServiceReport) Exposed() bool { return s.Pulls > 0 }

// Total is the fleet's sum against the limits.
type Total struct {
	Services           int `json:"services"`
	ExposedServices    int `json:"exposedServices"`
	RateLimitedImages  int `json:"rateLimitedImages"`
	Pulls              int `json:"pulls"`
	AnonymousLimit     int `json:"anonymousLimit"`
	AuthenticatedLimit int `json:"authenticatedLimit"`
	WindowHours        int `json:"windowHours"`
	// OverAnonymous and OverAuthenticated: one full deployment of the
	// fleet from one IP (one account) exceeds the limit.
	OverAnonymous     bool `json:"overAnonymous"`
	OverAuthenticated bool `json:"overAuthenticated"`
}

// Report is a scan's result.
type Report struct {
	Services []ServiceReport `json:"services"`
	Total    Total           `json:"total"`
	Applied  []Applied       `json:"applied,omitempty"`
}

// Scan reads every service of the clusters (all of the region when none
// is named) and the revisions they run, and reports their exposure.
func Scan(ctx context.Context, api ECSAPI, clusters []string, cfg Config) (*Report, []Service, *Revisions, error) {
	pr := newProgress(cfg.Progress)
	svcs, err := services(ctx, api, clusters, cfg.Workers, pr)
	if err != nil {
		return nil, nil, nil, err
	}
	revs := NewRevisions(api)
	arns := make([]string, 0, len(svcs))
	seen := map[string]bool{}
	for _, s := range svcs {
		if a := s.TaskDefinitionArn(); !seen[a] {
			seen[a] = true
			arns = append(arns, a)
		}
	}
	if _, err := revs.describeAll(ctx, arns, cfg.Workers, pr); err != nil {
		return nil, nil, nil, err
	}
	rep := &Report{Services: make([]ServiceReport, 0, len(svcs))}
	for _, s := range svcs {
		rev, err := revs.Get(ctx, s.TaskDefinitionArn())
		if err != nil {
			return nil, nil, nil, err
		}
		rep.Services = append(rep.Services, cfg.service(s, rev))
	}
	if cfg.Manifests != nil {
		cfg.countManifests(ctx, rep.Services)
	}
	if cfg.PullCheck != nil {
		cfg.checkPulls(ctx, rep.Services, svcs, revs, pr)
	}
	rep.Total = cfg.total(rep.Services)
	return rep, svcs, revs, nil
}

// countManifests asks cfg.Manifests about each distinct rate-limited image
// and recounts the services' pulls.
func (cfg *Config) countManifests(ctx context.Context, svcs []ServiceReport) {
	known := map[string]int{}
	for _, s := range svcs {
		for _, c := range s.Containers {
			if c.RateLimited {
				known[c.Image] = 0
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Workers, 1))
	for image := range known {
		g.Go(func() error {
			n, err := cfg.Manifests(gctx, image)
			if err == nil && n > 0 {
				mu.Lock()
				known[image] = n
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	for i := range svcs {
		s := &svcs[i]
		s.Pulls = 0
		for j := range s.Containers {
			c := &s.Containers[j]
			if !c.RateLimited {
				continue
			}
			if n := known[c.Image]; n > 0 {
				c.Manifests, c.ManifestsKnown = n, true
			}
			s.Pulls += int(max(s.DesiredCount, 0)) * c.Manifests
		}
	}
}

func (cfg *Config) service(s Service, rev *Revision) ServiceReport {
	r := ServiceReport{Cluster: s.Cluster, Service: s.Name(), TaskDefinitionArn: rev.Arn, DesiredCount: s.DesiredCount,
		Generated: rev.Generated(), Containers: []Container{}}
	subj := policy.Subject{Cluster: s.Cluster, Service: s.Name(), Family: rev.Family}
	for _, c := range rev.Doc.Containers() {
		step := Plan(cfg.Plan, c.Image, subj)
		ctr := Container{Name: c.Name, Image: c.Image, Route: string(step.Route), Target: step.Target, Reason: step.Reason, Manifests: 1}
		if !step.Ref.IsZero() {
			ctr.Registry = step.Ref.Registry
			ctr.RateLimited = cfg.rateLimited(step.Ref)
		}
		if ctr.RateLimited {
			r.Pulls += int(max(s.DesiredCount, 0)) * ctr.Manifests
		}
		r.Containers = append(r.Containers, ctr)
	}
	r.ECRPull, r.ECRPullReason = ecrPull(s, rev)
	return r
}

// Plan is the one place the scan asks what the agent would do with an
// image: the agent's own planning entry point.
func Plan(cfg plan.Config, image string, subj policy.Subject) plan.Step {
	return plan.For(cfg, image, subj)
}

func (cfg *Config) rateLimited(ref imageref.Ref) bool {
	return ref.Kind == imageref.DockerHub || slices.Contains(cfg.RateLimited, ref.Registry)
}

// ecrPull tells, from the task definition alone, whether its images could
// be pulled from private ECR. IAM policies are not read: a role that is
// there may still lack the permissions, so the answer is then unknown.
func ecrPull(s Service, rev *Revision) (string, string) {
	role := rev.Doc.ExecutionRoleArn()
	switch {
	case role == "" && isFargate(s, rev):
		return ECRPullNo, "no executionRoleArn: Fargate cannot pull from private ECR without one"
	case role == "":
		return ECRPullUnknown, "no executionRoleArn: the container instance's role pulls; its policies are not read"
	}
	return ECRPullUnknown, "execution role " + ecsarn.Name(role) + " is set; its policies are not read (it needs ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, and ecr:BatchImportUpstreamImage for a first pull through the cache)"
}

// checkPulls asks cfg.PullCheck, for each service whose execution role is
// set, whether the role may pull every ECR target the agent would move its
// rate-limited images to: yes when it may pull all, no (naming what it
// lacks) when it may not pull one, unknown otherwise. An EC2 task without
// an execution role pulls with its container instance's role, which a
// service does not name: it stays unknown.
func (cfg *Config) checkPulls(ctx context.Context, reports []ServiceReport, svcs []Service, revs *Revisions, pr *progress) {
	type key struct {
		role, repo  string
		pullThrough bool
	}
	asks := make([][]key, len(reports)) // per service, the checks it needs
	reqs := map[key]pullcheck.Request{}
	var keys []key
	for i, r := range reports {
		rev, err := revs.Get(ctx, r.TaskDefinitionArn)
		if err != nil || rev.Doc.ExecutionRoleArn() == "" {
			continue
		}
		role := rev.Doc.ExecutionRoleArn()
		for _, c := range r.Containers {
			if !c.RateLimited || c.Target == "" {
				continue
			}
			ref, err := imageref.Parse(c.Target)
			if err != nil {
				continue
			}
			account, region, ok := imageref.ECRHost(ref.Registry)
			if !ok {
				continue
			}
			k := key{role: role, repo: ref.Repository, pullThrough: c.Route == string(plan.PullThrough)}
			if !slices.Contains(asks[i], k) {
				asks[i] = append(asks[i], k)
			}
			if _, ok := reqs[k]; !ok {
				reqs[k] = pullcheck.Request{ExecutionRoleArn: role, Fargate: isFargate(svcs[i], rev), Cluster: r.Cluster,
					Region: region, Account: account, Repository: ref.Repository, PullThrough: k.pullThrough}
				keys = append(keys, k)
			}
		}
	}
	pr.stage(StagePullChecks, len(keys))
	verdicts := make(map[key]pullcheck.Verdict, len(keys))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Workers, 1))
	for _, k := range keys {
		g.Go(func() error {
			v := cfg.PullCheck(gctx, reqs[k])
			mu.Lock()
			verdicts[k] = v
			mu.Unlock()
			pr.step(0)
			return nil
		})
	}
	_ = g.Wait()
	for i := range reports {
		if len(asks[i]) == 0 {
			continue
		}
		ks := asks[i]
		slices.SortFunc(ks, func(a, b key) int { return strings.Compare(a.repo, b.repo) })
		answer, reason := ECRPullYes, ""
		var allowed []string
		for _, k := range ks {
			v := verdicts[k]
			switch v.Result {
			case pullcheck.Denied:
				answer, reason = ECRPullNo, v.Reason
			case pullcheck.Allowed:
				allowed = append(allowed, k.repo)
			default:
				if answer == ECRPullYes {
					answer, reason = ECRPullUnknown, v.Reason
				}
			}
			if answer == ECRPullNo {
				break
			}
		}
		if answer == ECRPullYes {
			reason = "execution role " + ecsarn.Name(ks[0].role) + " may pull " + strings.Join(allowed, ", ") + " (IAM simulation, registry and repository policies)"
		}
		reports[i].ECRPull, reports[i].ECRPullReason = answer, reason
	}
}

func isFargate(s Service, rev *Revision) bool {
	return string(s.LaunchType) == "FARGATE" || (s.LaunchType == "" && slices.Contains(rev.Doc.RequiresCompatibilities(), "FARGATE"))
}

func (cfg *Config) total(svcs []ServiceReport) Total {
	t := Total{Services: len(svcs), AnonymousLimit: cfg.AnonymousLimit, AuthenticatedLimit: cfg.AuthenticatedLimit, WindowHours: DefaultWindowHours}
	if t.AnonymousLimit <= 0 {
		t.AnonymousLimit = DefaultAnonymousLimit
	}
	if t.AuthenticatedLimit <= 0 {
		t.AuthenticatedLimit = DefaultAuthenticatedLimit
	}
	for _, s := range svcs {
		if s.Exposed() {
			t.ExposedServices++
		}
		for _, c := range s.Containers {
			if c.RateLimited {
				t.RateLimitedImages++
			}
		}
		t.Pulls += s.Pulls
	}
	t.OverAnonymous = t.Pulls > t.AnonymousLimit
	t.OverAuthenticated = t.Pulls > t.AuthenticatedLimit
	return t
}

// String is the fleet total in a sentence.
func (t Total) String() string {
	return fmt.Sprintf("%d of %d services pull %d images from rate-limited registries: one full deployment costs %d counted pulls "+
		"(anonymous limit %d per %dh per IP: %s; authenticated %d per %dh: %s)",
		t.ExposedServices, t.Services, t.RateLimitedImages, t.Pulls, t.AnonymousLimit, t.WindowHours, overWord(t.OverAnonymous),
		t.AuthenticatedLimit, t.WindowHours, overWord(t.OverAuthenticated))
}

func overWord(over bool) string {
	if over {
		return "over"
	}
	return "within"
}
