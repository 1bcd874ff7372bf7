package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"golang.org/x/sync/errgroup"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/policy"
)

// Apply modes.
const (
	ApplyPropose = "propose" // register corrected revisions, deploy nothing
	ApplyUpdate  = "update"  // also roll the services, guarded like the agent
)

// Applied is what --apply did for one source revision, or for one service
// of it.
type Applied struct {
	Family                  string `json:"family"`
	SourceTaskDefinitionArn string `json:"sourceTaskDefinitionArn"`
	TaskDefinitionArn       string `json:"taskDefinitionArn,omitempty"`
	RewriteID               string `json:"rewriteId,omitempty"`
	// Cluster and Service are set for a service update.
	Cluster string `json:"cluster,omitempty"`
	Service string `json:"service,omitempty"`
	// Action: registered, exists, skipped, failed (revisions); updated,
	// proposed (services).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// ApplyConfig says how to apply a scan.
type ApplyConfig struct {
	Mode string
	// Policy is the policy the plan used; its update mode is honoured.
	Policy *policy.Policy
	// Preflight proves a pull-through target can be served (and warms the
	// cache) before a revision points at it; nil skips it.
	Preflight func(ctx context.Context, target string) error
	// Batch is how many services are updated at once; BatchInterval the
	// pause between batches, so that a fleet is not rolled all at once.
	Batch         int
	BatchInterval time.Duration
	Workers       int
	// Progress, when set, is told how far the apply has got (one call at
	// a time).
	Progress func(Progress)
}

// Apply registers one corrected revision per source revision that needs
// one (never twice: an existing revision with the same rewrite ID is
// reused) and, in update mode, rolls the services that still run the
// source onto it.
func Apply(ctx context.Context, api ECSAPI, rep *Report, svcs []Service, revs *Revisions, cfg ApplyConfig) ([]Applied, error) {
	if cfg.Mode != ApplyPropose && cfg.Mode != ApplyUpdate {
		return nil, fmt.Errorf("apply mode %q: want %s or %s", cfg.Mode, ApplyPropose, ApplyUpdate)
	}
	bySource := map[string][]int{} // source ARN -> indexes into rep.Services
	for i, s := range rep.Services {
		bySource[s.TaskDefinitionArn] = append(bySource[s.TaskDefinitionArn], i)
	}
	sources := make([]string, 0, len(bySource))
	for arn := range bySource {
		sources = append(sources, arn)
	}
	sort.Strings(sources)

	// The plan may differ between services of one revision (a policy's
	// scope names clusters and services): the first service with
	// something to rewrite decides the revision; roll checks the others
	// against it.
	type work struct {
		src    string
		first  ServiceReport
		images map[string]string
	}
	var todoRevs []work
	for _, src := range sources {
		for _, i := range bySource[src] {
			if m := rewrites(rep.Services[i]); len(m) > 0 {
				todoRevs = append(todoRevs, work{src: src, first: rep.Services[i], images: m})
				break
			}
		}
	}
	pr := newProgress(cfg.Progress)
	pr.cur.Services = len(svcs)
	pr.stage(StageRevisions, len(todoRevs))
	var out []Applied
	var mu sync.Mutex
	corrected := map[string]correction{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Workers, 1))
	for _, w := range todoRevs {
		src, first, images := w.src, w.first, w.images
		g.Go(func() error {
			defer pr.step(0)
			if first.ECRPull == ECRPullNo {
				// As the agent: a revision that cannot pull from ECR would fail the same way.
				mu.Lock()
				defer mu.Unlock()
				out = append(out, Applied{Family: familyOf(src), SourceTaskDefinitionArn: src, Action: "skipped", Reason: first.ECRPullReason})
				return nil
			}
			a, rev, err := correct(gctx, api, revs, src, images, cfg)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, a)
			if rev != nil {
				corrected[src] = correction{rev: rev, images: images}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return out, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SourceTaskDefinitionArn < out[j].SourceTaskDefinitionArn })
	if cfg.Mode != ApplyUpdate {
		return out, nil
	}
	reports := map[string]ServiceReport{}
	for _, r := range rep.Services {
		reports[r.Cluster+"/"+r.Service] = r
	}
	var todo []Service
	for _, s := range svcs {
		g, ok := corrected[s.TaskDefinitionArn()]
		if !ok {
			continue
		}
		if !maps.Equal(rewrites(reports[s.Cluster+"/"+s.Name()]), g.images) {
			out = append(out, Applied{Family: g.rev.Family, SourceTaskDefinitionArn: s.TaskDefinitionArn(), TaskDefinitionArn: g.rev.Arn,
				Cluster: s.Cluster, Service: s.Name(), Action: "skipped", Reason: "the plan for this service differs from the corrected revision's (policy scope)"})
			continue
		}
		todo = append(todo, s)
	}
	updates, err := roll(ctx, api, todo, corrected, cfg, pr)
	return append(out, updates...), err
}

// correction is a corrected revision and the image map it applied.
type correction struct {
	rev    *Revision
	images map[string]string
}

// rewrites is the image map scan applies to a service's revision: its
// rate-limited containers with a pull-through route.
func rewrites(r ServiceReport) map[string]string {
	m := map[string]string{}
	for _, c := range r.Containers {
		if c.RateLimited && c.Route == string(plan.PullThrough) {
			m[c.Name] = c.Target
		}
	}
	return m
}

// correct finds or registers the corrected revision of src.
func correct(ctx context.Context, api ECSAPI, revs *Revisions, src string, images map[string]string, cfg ApplyConfig) (Applied, *Revision, error) {
	source, err := revs.Get(ctx, src)
	if err != nil {
		return Applied{}, nil, err
	}
	a := Applied{Family: source.Family, SourceTaskDefinitionArn: src, RewriteID: taskdef.RewriteID(src, images)}
	if gen := taskdef.GenerationOf(source.Tags); gen > 0 {
		a.Action, a.Reason = "skipped", fmt.Sprintf("generated by pullheal (generation %d) and still pulls from a rate-limited registry; a person must look at it", gen)
		return a, nil, nil
	}
	if source.Lossy != nil {
		a.Action, a.Reason = "skipped", source.Lossy.Error()
		return a, nil, nil
	}
	existing, err := findRewrite(ctx, api, revs, source, a.RewriteID)
	if err != nil {
		return a, nil, err
	}
	if existing != nil {
		a.Action, a.TaskDefinitionArn, a.Reason = "exists", existing.Arn, "registered before with the same rewrite ID"
		return a, existing, nil
	}
	if cfg.Preflight != nil {
		for _, target := range sortedValues(images) {
			if err := cfg.Preflight(ctx, target); err != nil {
				a.Action, a.Reason = "failed", "the pull-through cache could not serve "+target+": "+err.Error()
				return a, nil, nil
			}
		}
	}
	prov := taskdef.Provenance{SourceArn: src, RewriteID: a.RewriteID, Generation: 1,
		Reason: "scan: rate-limited pulls moved to ECR ahead of a failure: " + strings.Join(sortedValues(images), ", ")}
	doc, err := source.Doc.WithImages(images)
	if err != nil {
		return a, nil, fmt.Errorf("rewrite %s: %w", src, err)
	}
	in, err := doc.WithTags(prov.Tags()...).RegisterInput()
	if err != nil {
		return a, nil, fmt.Errorf("build register input for %s: %w", src, err)
	}
	reg, err := api.RegisterTaskDefinition(ctx, in)
	if err != nil {
		a.Action, a.Reason = "failed", "ECS refused the corrected revision: "+err.Error()
		return a, nil, nil
	}
	a.Action, a.TaskDefinitionArn = "registered", aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	rev, err := revs.Get(ctx, a.TaskDefinitionArn)
	return a, rev, err
}

// findRewrite looks for an ACTIVE revision of source's family, newer than
// source, that carries the rewrite ID.
func findRewrite(ctx context.Context, api ECSAPI, revs *Revisions, source *Revision, id string) (*Revision, error) {
	arns, err := FamilyRevisions(ctx, api, source.Family, source.Number)
	if err != nil {
		return nil, err
	}
	for _, arn := range arns {
		r, err := revs.Get(ctx, arn)
		if errors.Is(err, ErrNoRevision) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if v, _ := r.Tag(taskdef.TagRewriteID); v == id {
			return r, nil
		}
	}
	return nil, nil
}

// roll updates the services, Batch at a time, each only if it still runs
// the source, ECS drives its deployments, the policy allows updates and
// nobody reverted the corrected revision.
func roll(ctx context.Context, api ECSAPI, svcs []Service, corrected map[string]correction, cfg ApplyConfig, pr *progress) ([]Applied, error) {
	pr.stage(StageUpdates, len(svcs))
	batch := max(cfg.Batch, 1)
	var out []Applied
	for i := 0; i < len(svcs); i += batch {
		if i > 0 && cfg.BatchInterval > 0 {
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(cfg.BatchInterval):
			}
		}
		part := svcs[i:min(i+batch, len(svcs))]
		res := make([]Applied, len(part))
		g, gctx := errgroup.WithContext(ctx)
		for j, s := range part {
			g.Go(func() error {
				a, err := rollOne(gctx, api, s, corrected[s.TaskDefinitionArn()].rev, cfg)
				res[j] = a
				pr.step(0)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return append(out, res...), err
		}
		out = append(out, res...)
	}
	return out, nil
}

func rollOne(ctx context.Context, api ECSAPI, s Service, g *Revision, cfg ApplyConfig) (Applied, error) {
	src := s.TaskDefinitionArn()
	id, _ := g.Tag(taskdef.TagRewriteID)
	a := Applied{Family: g.Family, SourceTaskDefinitionArn: src, TaskDefinitionArn: g.Arn, RewriteID: id, Cluster: s.Cluster, Service: s.Name(), Action: "proposed"}
	if _, reverted := g.Tag(agent.TagReverted); reverted {
		a.Reason = g.Arn + " was reverted (tag " + agent.TagReverted + "); deploy it with pullheal approve"
		return a, nil
	}
	if cfg.Policy != nil && cfg.Policy.Heal.ServiceUpdate == policy.ProposeOnly {
		a.Reason = "the policy's update mode is propose"
		return a, nil
	}
	now, err := DescribeService(ctx, api, s.Cluster, s.Name())
	if errors.Is(err, ErrUnknownService) || errors.Is(err, ErrUnknownCluster) {
		a.Reason = "the service no longer exists"
		return a, nil
	}
	if err != nil {
		return a, err
	}
	switch {
	case now.TaskDefinitionArn() != src:
		a.Reason = "the service moved on to " + now.TaskDefinitionArn() + " and is left alone"
		return a, nil
	case now.Controller() != ecstypes.DeploymentControllerTypeEcs:
		a.Reason = fmt.Sprintf("the service's deployment controller is %s, which pullheal does not drive", now.Controller())
		return a, nil
	}
	if _, err := api.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(s.Cluster), Service: aws.String(s.Name()), TaskDefinition: aws.String(g.Arn)}); err != nil {
		a.Action, a.Reason = "failed", err.Error()
		return a, nil
	}
	a.Action = "updated"
	return a, nil
}

func familyOf(arn string) string {
	fam, _, _ := ecsarn.TaskDefinition(arn)
	return fam
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
