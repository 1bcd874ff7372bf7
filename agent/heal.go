package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"golang.org/x/sync/singleflight"

	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/policy"
)

// ECSAPI lists the ECS calls the healer makes, with the SDK's signatures.
type ECSAPI interface {
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, opts ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	// TagResource marks a generated revision rolled back (rollback.go).
	TagResource(ctx context.Context, in *ecs.TagResourceInput, opts ...func(*ecs.Options)) (*ecs.TagResourceOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// healerConfig is what the healer decides with.
type healerConfig struct {
	// Policy is the platform team's policy; nil means pull-through only,
	// nothing mirrored.
	Policy *policy.Policy
	// Policies, when set, gives the policy in force instead of Policy.
	Policies PolicySource
	// DryRun decides and logs but registers, updates and publishes nothing.
	DryRun bool
	// Now is the clock (tests pass a fixed one).
	Now func() time.Time
}

// destination is where corrected images go: the routing configuration of
// the agent's ECR registry, and the preflight of a pull-through target.
// *ECRAccount is the real one.
type destination interface {
	PlanConfig(ctx context.Context, p *policy.Policy) (cfg plan.Config, discovered bool, err error)
	Preflight(ctx context.Context, target string) error
}

// healerDeps are the AWS clients and collaborators the healer uses.
type healerDeps struct {
	ECS     ECSAPI
	Dest    destination
	Review  *reviewer
	Leases  leaser
	Mirror  mirrorer // nil: the mirror route is unavailable
	Metrics *Metrics
	// PullCheck tells whether the healed tasks' role may pull from ECR;
	// nil skips the check.
	PullCheck pullChecker
	// Verify resolves upstream tags for policy.Decision.VerifyTag; nil
	// makes every such image denied.
	Verify tagVerifier
}

// Healer turns one rate-limit failure into a corrected revision. The
// decision is plan.Decide's; the healer reads its inputs (decide.go),
// runs it once per failure (dedupe.go), moves the images (here), registers
// the revision (register.go) and rolls the service (rollout.go).
type Healer struct {
	cfg       healerConfig
	ecs       ECSAPI
	dest      destination
	review    *reviewer
	leases    leaser
	mirror    mirrorer
	metrics   *Metrics
	pullCheck pullChecker
	verify    tagVerifier

	// flights shares one heal between the messages of one failure that
	// arrive together (50 tasks of a service stopping at once).
	flights singleflight.Group
	// healed remembers finished heals so duplicates cost no AWS call.
	healed *recent[result]
}

func newHealer(cfg healerConfig, deps healerDeps) (*Healer, error) {
	if deps.ECS == nil || deps.Dest == nil || deps.Review == nil || deps.Leases == nil || deps.Metrics == nil {
		return nil, errors.New("healer: ECS client, destination, reviewer, leases and metrics are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Policies = policySource(cfg.Policies, cfg.Policy)
	return &Healer{cfg: cfg, ecs: deps.ECS, dest: deps.Dest, review: deps.Review, leases: deps.Leases,
		mirror: deps.Mirror, metrics: deps.Metrics, pullCheck: deps.PullCheck, verify: deps.Verify, healed: newRecent[result](4096, 10*time.Minute, cfg.Now)}, nil
}

// Outcomes, as metric labels and in review events.
const (
	outcomeCorrected = "corrected"
	outcomeSkipped   = "skipped"
	outcomeFailed    = "failed"
	outcomeDuplicate = "duplicate"
	outcomeIgnored   = "ignored"
)

// stopOutcome is the review outcome of a verdict that stops before any
// image moves: a refusal is a failure someone must fix, a skip is not.
func stopOutcome(v plan.Verdict) string {
	if v == plan.Refuse {
		return outcomeFailed
	}
	return outcomeSkipped
}

// result is what one heal did; it is shared by every message of the same
// failure.
type result struct {
	outcome string
	review  Review
}

// execute carries out p: plan each routed image's target, then, under
// the failure's lease (register.go), preflight or mirror each image,
// register and roll out. A plan that stops (Skip, Refuse) is only
// reported.
func (h *Healer) execute(ctx context.Context, p plan.Plan, pol *policy.Policy, polInfo *policysource.Info, log *slog.Logger) (result, error) {
	task := p.Task
	rv := Review{
		Cluster: task.ClusterArn, TaskArn: task.TaskArn, SourceTaskDefinitionArn: task.TaskDefinitionArn,
		Group: task.Group, Service: p.Subject.Service, Policy: polInfo,
	}
	switch p.Verdict {
	case plan.Ignore:
		// A pull from ECR failed, and the revision is not pullheal's.
		return result{outcome: outcomeIgnored, review: rv}, nil
	case plan.RollBack:
		return h.rollBack(ctx, p, rv, log)
	}
	if p.Verdict != plan.Heal {
		if p.Verdict == plan.Skip {
			rv.Images = changes(p)
		}
		rv.Reason = p.Reason
		return h.finish(ctx, stopOutcome(p.Verdict), rv, log)
	}
	// The targets as planned name the failure (its rewrite ID) before
	// anything moves: a mirrored image is pinned to the digest its copy
	// lands at, which only the copy tells, and the copy is made once,
	// under the lease, by the one replica that holds it.
	planned := map[string]string{}
	routes := map[string]plan.Route{}
	var moves []move
	for _, c := range p.Selected() {
		step := c.Step
		change := ImageChange{Container: c.Name, From: c.Image, To: step.Target, Route: string(step.Route), Reason: step.Reason, Rule: step.Rule}
		if why := h.verifyTag(ctx, step); why != "" && (step.Route == plan.PullThrough || step.Route == plan.Mirror) {
			change.Route, change.To, change.Reason = string(plan.Deny), "", why
			rv.Images = append(rv.Images, change)
			log.Warn("digest not proven to be its tag's", "image", c.Image, "reason", why)
			continue
		}
		switch {
		case step.Route == plan.Mirror && h.mirror == nil:
			change.Reason = "the policy allows mirroring, but this agent has no mirror engine configured"
			change.Route = string(plan.Deny)
		case step.Route == plan.PullThrough || step.Route == plan.Mirror:
			planned[c.Name] = step.Target
			routes[c.Name] = step.Route
			moves = append(moves, move{container: c.Name, image: c.Image, step: step, change: len(rv.Images)})
		}
		rv.Images = append(rv.Images, change)
	}
	if len(planned) == 0 {
		rv.Reason = "no rate-limited image has a route to ECR: " + imageReasons(rv.Images)
		return h.finish(ctx, outcomeSkipped, rv, log)
	}
	var refused bool
	if rv.PullPermission, refused = h.checkPulls(ctx, p, planned, routes); refused {
		rv.Reason = "the healed tasks could not pull from ECR: " + rv.PullPermission.Reason + "; no revision registered"
		return h.finish(ctx, outcomeFailed, rv, log)
	}
	rv.RewriteID = taskdef.RewriteID(task.TaskDefinitionArn, planned)
	if h.cfg.DryRun {
		rv.Reason = "dry run: nothing registered"
		log.Info("dry run", "rewrite_id", rv.RewriteID)
		return result{outcome: outcomeSkipped, review: rv}, nil
	}
	return h.correct(ctx, p, moves, rv, pol, log)
}

// move is one image to bring into ECR before the corrected revision is
// registered; change indexes its line in the review.
type move struct {
	container, image string
	step             plan.Step
	change           int
}

// moveImages preflights each pull-through target (which warms the cache)
// and mirrors each mirror target, and returns the image map the corrected
// revision uses. An error may pass on a later delivery; a failure that
// will not is reported in rv with failed set, and nothing is registered.
func (h *Healer) moveImages(ctx context.Context, moves []move, rv *Review, log *slog.Logger) (images map[string]string, failed bool, err error) {
	images = map[string]string{}
	for _, m := range moves {
		change := &rv.Images[m.change]
		switch m.step.Route {
		case plan.PullThrough:
			if err := h.dest.Preflight(ctx, m.step.Target); err != nil {
				if isRetryable(err) || isUpstreamLimited(err) {
					return nil, false, err // it names the preflight and its target
				}
				change.Reason = err.Error()
				rv.Reason = "the pull-through cache could not serve " + m.image + "; no revision registered"
				return nil, true, nil
			}
		case plan.Mirror:
			target, err := h.mirror.Mirror(ctx, m.step)
			if err != nil {
				if isRetryable(err) || isUpstreamLimited(err) {
					return nil, false, fmt.Errorf("mirror %s: %w", m.image, err)
				}
				change.Reason = fmt.Sprintf("mirror failed: %v", err)
				rv.Reason = "could not mirror " + m.image + "; no revision registered"
				return nil, true, nil
			}
			change.To = target
		}
		images[m.container] = change.To
		log.Info("planned", "image", m.image, "route", change.Route, "target", change.To)
	}
	return images, false, nil
}

// changes are the plan's selected containers as review lines.
func changes(p plan.Plan) []ImageChange {
	var out []ImageChange
	for _, c := range p.Selected() {
		out = append(out, ImageChange{Container: c.Name, From: c.Image, To: c.Step.Target, Route: string(c.Step.Route), Reason: c.Step.Reason, Rule: c.Step.Rule})
	}
	return out
}

// finish publishes the review event and returns the result.
func (h *Healer) finish(ctx context.Context, outcome string, rv Review, log *slog.Logger) (result, error) {
	rv.Outcome = outcome
	if !h.cfg.DryRun {
		if err := h.review.Publish(ctx, rv); err != nil {
			return result{}, fmt.Errorf("publish review: %w", err)
		}
	}
	log.Log(ctx, outcomeLevel(outcome), "healing "+outcome, "reason", rv.Reason, "target", rv.TaskDefinitionArn)
	return result{outcome: outcome, review: rv}, nil
}

// finishHeld finishes a heal done under ls and then marks the lease done.
// It publishes first: a replica that takes over after a crash in between
// publishes again, and a duplicate review (same rewrite ID) is better than
// none.
func (h *Healer) finishHeld(ctx context.Context, ls *lease, outcome string, rv Review, log *slog.Logger) (result, error) {
	res, err := h.finish(ctx, outcome, rv, log)
	if err != nil {
		return result{}, err
	}
	if err := ls.Finish(ctx, rv.done()); err != nil {
		return result{}, err
	}
	return res, nil
}

func imageReasons(cs []ImageChange) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.Container+": "+c.Reason)
	}
	if len(parts) == 0 {
		return "no container of the task definition matched the failed ones"
	}
	return strings.Join(parts, "; ")
}
