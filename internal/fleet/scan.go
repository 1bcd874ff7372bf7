package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
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
	// InstanceRole, when set with PullCheck, finds the role of a cluster's
	// container instance as the agent does (pullcheck.InstanceRole): an
	// EC2 task without an execution role pulls with it. For each such
	// service with an ECR target the scan lists its tasks, finds each
	// distinct container instance's role once and asks PullCheck about
	// each role (pullcheck.Request.InstanceRoleArn). Nil leaves those
	// services unknown.
	InstanceRole func(ctx context.Context, cluster, containerInstanceArn string) (role, instance string, err error)
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
	// ECRPull says whether the task's image puller (its execution role, or
	// on EC2 without one its container instances' role) can pull from
	// private ECR, as far as can be told.
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
		cfg.checkPulls(ctx, api, rep.Services, svcs, revs, pr)
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
		return ECRPullUnknown, "no executionRoleArn: the container instance's role pulls; it is not looked up"
	}
	return ECRPullUnknown, "execution role " + ecsarn.Name(role) + " is set; its policies are not read (it needs ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, and ecr:BatchImportUpstreamImage for a first pull through the cache)"
}

// checkPulls asks cfg.PullCheck, for each service that would move a
// rate-limited image to ECR, whether the role that pulls may pull every
// such target: yes when it may pull all, no (naming what it lacks) when it
// may not pull one, unknown otherwise. That role is the execution role;
// an EC2 task without one pulls with its container instance's role, which
// a service does not name: with cfg.InstanceRole, the instances its tasks
// run on are listed and each distinct instance's role is judged (the worst
// answer of them counts), and without it the service stays unknown.
func (cfg *Config) checkPulls(ctx context.Context, api ECSAPI, reports []ServiceReport, svcs []Service, revs *Revisions, pr *progress) {
	asks := make([][]pullKey, len(reports)) // per service, the checks it needs
	reqs := map[pullKey]pullcheck.Request{}
	var keys []pullKey
	ask := func(i int, k pullKey, r pullcheck.Request) {
		if !slices.Contains(asks[i], k) {
			asks[i] = append(asks[i], k)
		}
		if _, ok := reqs[k]; !ok {
			reqs[k] = r
			keys = append(keys, k)
		}
	}
	targets := make([][]ecrTarget, len(reports))
	var onInstances []int // EC2 services without an execution role
	for i, r := range reports {
		rev, err := revs.Get(ctx, r.TaskDefinitionArn)
		if err != nil {
			continue
		}
		if targets[i] = ecrTargets(r); len(targets[i]) == 0 {
			continue
		}
		role, fargate := rev.Doc.ExecutionRoleArn(), isFargate(svcs[i], rev)
		switch {
		case role != "":
			for _, t := range targets[i] {
				ask(i, pullKey{role: role, repo: t.repo, pullThrough: t.pullThrough}, pullcheck.Request{ExecutionRoleArn: role,
					Fargate: fargate, Cluster: r.Cluster, Region: t.region, Account: t.account, Repository: t.repo, PullThrough: t.pullThrough})
			}
		case !fargate && cfg.InstanceRole != nil:
			onInstances = append(onInstances, i)
		}
	}
	roles, failed := cfg.instanceRoles(ctx, api, reports, onInstances, pr)
	for _, i := range onInstances {
		for _, role := range roles[i] {
			for _, t := range targets[i] {
				ask(i, pullKey{role: role, repo: t.repo, pullThrough: t.pullThrough, instance: true}, pullcheck.Request{InstanceRoleArn: role,
					Cluster: reports[i].Cluster, Region: t.region, Account: t.account, Repository: t.repo, PullThrough: t.pullThrough})
			}
		}
	}

	pr.stage(StagePullChecks, len(keys))
	verdicts := make(map[pullKey]pullcheck.Verdict, len(keys))
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
		if len(asks[i]) == 0 && failed[i] == "" {
			continue
		}
		reports[i].ECRPull, reports[i].ECRPullReason = judge(asks[i], verdicts, failed[i], roles[i])
	}
}

// judge combines a service's verdicts, the worst first: no, then unknown
// (a container instance whose role was not found counts as unknown), then
// yes.
func judge(ks []pullKey, verdicts map[pullKey]pullcheck.Verdict, failed string, roles []string) (string, string) {
	slices.SortFunc(ks, func(a, b pullKey) int {
		if c := strings.Compare(a.role, b.role); c != 0 {
			return c
		}
		return strings.Compare(a.repo, b.repo)
	})
	answer, reason := ECRPullYes, ""
	if failed != "" {
		answer, reason = ECRPullUnknown, failed
	}
	var allowed []string
	for _, k := range ks {
		v := verdicts[k]
		switch v.Result {
		case pullcheck.Denied:
			answer, reason = ECRPullNo, v.Reason
		case pullcheck.Allowed:
			if !slices.Contains(allowed, k.repo) {
				allowed = append(allowed, k.repo)
			}
		default:
			if answer == ECRPullYes {
				answer, reason = ECRPullUnknown, v.Reason
			}
		}
		if answer == ECRPullNo {
			break
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = ecsarn.Name(r)
	}
	switch {
	case answer == ECRPullYes && len(ks) > 0 && !ks[0].instance:
		return answer, "execution role " + ecsarn.Name(ks[0].role) + " may pull " + strings.Join(allowed, ", ") + " (IAM simulation, registry and repository policies)"
	case answer == ECRPullYes:
		which := "role " + names[0] + ", which"
		if len(names) > 1 {
			which = "roles " + strings.Join(names, ", ") + ", which each"
		}
		return answer, "no executionRoleArn: its tasks pull with container instance " + which + " may pull " + strings.Join(allowed, ", ") +
			" (IAM simulation, registry and repository policies)"
	case len(roles) > 1:
		reason += " (its tasks run on container instances with roles " + strings.Join(names, ", ") + ")"
	}
	return answer, reason
}

// pullKey is one pull check: a role and an ECR repository. Instance: the
// role is a container instance's, not an execution role.
type pullKey struct {
	role, repo            string
	pullThrough, instance bool
}

// ecrTarget is an ECR repository a service's rate-limited image would move to.
type ecrTarget struct {
	account, region, repo string
	pullThrough           bool
}

func ecrTargets(r ServiceReport) []ecrTarget {
	var out []ecrTarget
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
		t := ecrTarget{account: account, region: region, repo: ref.Repository, pullThrough: c.Route == string(plan.PullThrough)}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// instanceRoles finds, for each service of idx (EC2, no execution role),
// the distinct roles of the container instances its tasks run on, sorted;
// or why they are not all known. Each service's tasks are listed
// (ecs:ListTasks and ecs:DescribeTasks, 100 a page) and each distinct
// container instance's role is found once, cfg.Workers calls at a time.
func (cfg *Config) instanceRoles(ctx context.Context, api ECSAPI, reports []ServiceReport, idx []int, pr *progress) (roles [][]string, failed []string) {
	roles, failed = make([][]string, len(reports)), make([]string, len(reports))
	if len(idx) == 0 {
		return roles, failed
	}
	const why = "no executionRoleArn: its tasks pull with their container instance's role, and "
	type instance struct{ cluster, arn string }
	placed := make([][]string, len(reports))
	pr.stage(StageTasks, len(idx))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Workers, 1))
	for _, i := range idx {
		g.Go(func() error {
			arns, err := serviceInstances(gctx, api, reports[i].Cluster, reports[i].Service)
			switch {
			case err != nil:
				failed[i] = why + err.Error()
			case len(arns) == 0:
				failed[i] = why + "ecs:ListTasks finds no running task of service " + reports[i].Service + " on a container instance"
			}
			placed[i] = arns
			pr.step(0)
			return nil
		})
	}
	_ = g.Wait()

	type found struct {
		role string
		err  error
	}
	lookups := map[instance]found{}
	var distinct []instance
	for _, i := range idx {
		for _, arn := range placed[i] {
			in := instance{reports[i].Cluster, arn}
			if _, ok := lookups[in]; !ok {
				lookups[in] = found{}
				distinct = append(distinct, in)
			}
		}
	}
	pr.stage(StageInstanceRoles, len(distinct))
	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Workers, 1))
	for _, in := range distinct {
		g.Go(func() error {
			role, _, err := cfg.InstanceRole(gctx, in.cluster, in.arn)
			mu.Lock()
			lookups[in] = found{role, err}
			mu.Unlock()
			pr.step(0)
			return nil
		})
	}
	_ = g.Wait()
	for _, i := range idx {
		for _, arn := range placed[i] {
			f := lookups[instance{reports[i].Cluster, arn}]
			switch {
			case f.err != nil && failed[i] == "":
				failed[i] = why + f.err.Error()
			case f.err == nil && !slices.Contains(roles[i], f.role):
				roles[i] = append(roles[i], f.role)
			}
		}
		slices.Sort(roles[i])
	}
	return roles, failed
}

// serviceInstances lists the container instances the service's tasks
// (those whose desired status is RUNNING) run on, sorted. The error names
// the call that failed.
func serviceInstances(ctx context.Context, api ECSAPI, cluster, service string) ([]string, error) {
	seen := map[string]bool{}
	p := ecs.NewListTasksPaginator(api, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(service),
		DesiredStatus: ecstypes.DesiredStatusRunning, MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ecs:ListTasks of service %s failed: %v", service, shortErr(err))
		}
		if len(page.TaskArns) == 0 {
			continue
		}
		out, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: page.TaskArns})
		if err != nil {
			return nil, fmt.Errorf("ecs:DescribeTasks of service %s failed: %v", service, shortErr(err))
		}
		for _, t := range out.Tasks {
			if a := aws.ToString(t.ContainerInstanceArn); a != "" {
				seen[a] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// shortErr keeps an AWS error to its code and message.
func shortErr(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

// isFargate tells whether the service's tasks run on Fargate, by its
// launch type, its capacity provider strategy and the task definition's
// compatibilities (pullcheck.OnFargate, as the agent judges a task).
func isFargate(s Service, rev *Revision) bool {
	providers := make([]string, len(s.CapacityProviderStrategy))
	for i, p := range s.CapacityProviderStrategy {
		providers[i] = aws.ToString(p.CapacityProvider)
	}
	return pullcheck.OnFargate(string(s.LaunchType), providers, "", rev.Doc.RequiresCompatibilities())
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
