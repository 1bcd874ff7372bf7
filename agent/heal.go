package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/imageref"
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
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// HealerConfig is what the healer decides with.
type HealerConfig struct {
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

// HealerDeps are the AWS clients and collaborators the healer uses.
type HealerDeps struct {
	ECS      ECSAPI
	Registry *Registry
	Review   *Reviewer
	Leases   Leaser
	Mirror   Mirrorer // nil: the mirror route is unavailable
	Metrics  *Metrics
}

// Healer turns one rate-limit failure into a corrected revision.
type Healer struct {
	cfg     HealerConfig
	ecs     ECSAPI
	reg     *Registry
	review  *Reviewer
	leases  Leaser
	mirror  Mirrorer
	metrics *Metrics

	// flights shares one heal between the messages of one failure that
	// arrive together (50 tasks of a service stopping at once).
	mu      sync.Mutex
	flights map[string]*flight
	// healed remembers finished heals so duplicates cost no AWS call.
	healed *recent
}

type flight struct {
	done chan struct{}
	res  result
	err  error
}

// NewHealer returns a healer.
func NewHealer(cfg HealerConfig, deps HealerDeps) (*Healer, error) {
	if deps.ECS == nil || deps.Registry == nil || deps.Review == nil || deps.Leases == nil || deps.Metrics == nil {
		return nil, errors.New("healer: ECS client, registry, reviewer, leases and metrics are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Policies = policySource(cfg.Policies, cfg.Policy)
	return &Healer{cfg: cfg, ecs: deps.ECS, reg: deps.Registry, review: deps.Review, leases: deps.Leases,
		mirror: deps.Mirror, metrics: deps.Metrics, flights: map[string]*flight{}, healed: newRecent(4096, 10*time.Minute, cfg.Now)}, nil
}

// HandleMessage handles one SQS message body. A nil error means the message
// is done with (healed, skipped or reported); ErrPermanent means it can
// never be handled; anything else may pass on a later delivery.
func (h *Healer) HandleMessage(ctx context.Context, body []byte, log *slog.Logger) error {
	ev, err := ecsevent.Parse(body)
	if err != nil {
		h.metrics.Events.WithLabelValues("none", "malformed").Inc()
		return permanent(err)
	}
	if ev.Task == nil {
		h.metrics.Events.WithLabelValues("none", "not-ours").Inc()
		return permanent(fmt.Errorf("event %s from %q (%q) is not an ECS task state change", ev.ID, ev.Source, ev.DetailType))
	}
	return h.HandleTask(ctx, ev.Task, log)
}

// HandleTask heals one stopped task, if it stopped for a rate limit.
func (h *Healer) HandleTask(ctx context.Context, task *ecsevent.Task, log *slog.Logger) error {
	log = log.With("task_arn", task.TaskArn, "taskdef_arn", task.TaskDefinitionArn)
	if !task.Stopped() {
		h.metrics.Events.WithLabelValues("none", "ignored").Inc()
		return nil
	}
	failures := ecsevent.Classify(task)
	if needsFullReason(failures) {
		full, err := h.fullTask(ctx, task)
		switch {
		case err == nil:
			task = full
			failures = ecsevent.Classify(full)
		case IsRetryable(err):
			return err
		default:
			// The task is gone from DescribeTasks (about an hour after it
			// stopped): decide on the cut reason.
			log.Info("full reason unavailable; deciding on the truncated one", "error", err)
		}
	}
	var limited []ecsevent.Failure
	cause := ecsevent.NoFailure
	for _, f := range failures {
		switch f.Cause {
		case ecsevent.RateLimit:
			limited = append(limited, f)
			cause = ecsevent.RateLimit
		case ecsevent.OtherFailure:
			if cause == ecsevent.NoFailure {
				cause = ecsevent.OtherFailure
			}
		}
	}
	if len(limited) == 0 {
		h.metrics.Events.WithLabelValues(string(cause), "ignored").Inc()
		return nil
	}
	start := h.cfg.Now()
	res, err := h.heal(ctx, task, limited, log)
	outcome := res.outcome
	if err != nil {
		outcome = "error"
	}
	h.metrics.Events.WithLabelValues(string(ecsevent.RateLimit), outcome).Inc()
	if err == nil && res.outcome == outcomeCorrected {
		h.metrics.HealingSeconds.Observe(h.cfg.Now().Sub(start).Seconds())
	}
	return err
}

func needsFullReason(failures []ecsevent.Failure) bool {
	for _, f := range failures {
		if f.Truncated && (f.Cause != ecsevent.RateLimit || f.Inferred) {
			return true
		}
	}
	return false
}

// fullTask reads the task again: DescribeTasks returns reasons that the
// event may have cut.
func (h *Healer) fullTask(ctx context.Context, task *ecsevent.Task) (*ecsevent.Task, error) {
	out, err := h.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(task.ClusterArn), Tasks: []string{task.TaskArn}})
	if err != nil {
		return nil, fmt.Errorf("describe task %s: %w", task.TaskArn, err)
	}
	if len(out.Tasks) == 0 {
		return nil, fmt.Errorf("describe task %s: not found", task.TaskArn)
	}
	raw, err := json.Marshal(out.Tasks[0])
	if err != nil {
		return nil, fmt.Errorf("describe task %s: %w", task.TaskArn, err)
	}
	full, err := ecsevent.ParseTask(raw)
	if err != nil {
		return nil, fmt.Errorf("describe task %s: %w", task.TaskArn, err)
	}
	// The event's identity fields are authoritative; only reasons are new.
	full.Group, full.StartedBy = task.Group, task.StartedBy
	return full, nil
}

// Outcomes, as metric labels and in review events.
const (
	outcomeCorrected = "corrected"
	outcomeSkipped   = "skipped"
	outcomeFailed    = "failed"
	outcomeDuplicate = "duplicate"
)

// result is what one heal did; it is shared by every message of the same
// failure.
type result struct {
	outcome string
	review  Review
}

// heal runs the heal of one failure once per agent, however many messages
// of it arrive together.
func (h *Healer) heal(ctx context.Context, task *ecsevent.Task, limited []ecsevent.Failure, log *slog.Logger) (result, error) {
	// One snapshot of the policy decides this heal, however often it is
	// reloaded meanwhile. A decision belongs to the policy it was made
	// with: a failure skipped under one policy is decided again under
	// the next.
	pol, polInfo := snapshot(h.cfg.Policies)
	key := task.TaskDefinitionArn + "|" + failedImages(limited)
	if polInfo != nil {
		key += "|" + polInfo.SHA256
	}
	if r, ok := h.healed.get(key); ok {
		return result{outcome: outcomeDuplicate, review: r.review}, nil
	}
	h.mu.Lock()
	if f, ok := h.flights[key]; ok {
		h.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
		if f.err != nil {
			return result{}, f.err
		}
		return result{outcome: outcomeDuplicate, review: f.res.review}, nil
	}
	f := &flight{done: make(chan struct{})}
	h.flights[key] = f
	h.mu.Unlock()

	f.res, f.err = h.healOnce(ctx, task, limited, pol, polInfo, log)
	if f.err == nil {
		h.healed.put(key, f.res)
	}
	h.mu.Lock()
	delete(h.flights, key)
	h.mu.Unlock()
	close(f.done)
	return f.res, f.err
}

func failedImages(fs []ecsevent.Failure) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, f.Container+"="+f.Image)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// healOnce is the heal itself: describe, plan, coordinate, preflight or
// mirror, register, roll the service, review.
func (h *Healer) healOnce(ctx context.Context, task *ecsevent.Task, limited []ecsevent.Failure, pol *policy.Policy, polInfo *policysource.Info, log *slog.Logger) (result, error) {
	rv := Review{
		Cluster: task.ClusterArn, TaskArn: task.TaskArn, SourceTaskDefinitionArn: task.TaskDefinitionArn,
		Group: task.Group, Policy: polInfo,
	}
	if svc, ok := task.Service(); ok {
		rv.Service = svc
	}
	src, err := h.describe(ctx, task.TaskDefinitionArn)
	if err != nil {
		if IsRetryable(err) {
			return result{}, err
		}
		rv.Reason = fmt.Sprintf("cannot read the failing revision: %v", err)
		return h.finish(ctx, outcomeFailed, rv, log)
	}
	if gen := taskdef.GenerationOf(src.Tags()); gen > 0 {
		rv.Reason = fmt.Sprintf("the failing revision was generated by pullheal (generation %d) and failed again; a person must look at it before anything is rewritten again", gen)
		return h.finish(ctx, outcomeSkipped, rv, log)
	}
	subj := policy.Subject{Cluster: ecsarn.Name(task.ClusterArn), Service: rv.Service, Family: src.Family()}
	if pol != nil {
		if ok, why := pol.InScope(subj); !ok {
			rv.Reason = "out of the policy's scope: " + why
			return h.finish(ctx, outcomeSkipped, rv, log)
		}
	}
	cfg, err := h.reg.PlanConfig(ctx, pol)
	if err != nil {
		return result{}, err
	}
	// Plan every container first: deciding is free, moving images is not,
	// and a revision that cannot work is refused before anything moves.
	ctrs := containersToRewrite(src, limited, pol)
	steps := make([]plan.Step, 0, len(ctrs))
	routable := 0
	for _, c := range ctrs {
		step := plan.For(cfg, c.Image, subj)
		steps = append(steps, step)
		if step.Route == plan.PullThrough || step.Route == plan.Mirror {
			routable++
		}
	}
	if routable > 0 && needsExecutionRole(task, src) && src.ExecutionRoleArn() == "" {
		rv.Reason = "the task definition has no executionRoleArn: Fargate cannot pull from private ECR without one, so a corrected revision would fail the same way"
		return h.finish(ctx, outcomeFailed, rv, log)
	}
	images := map[string]string{}
	for i, c := range ctrs {
		step := steps[i]
		change := ImageChange{Container: c.Name, From: c.Image, To: step.Target, Route: string(step.Route), Reason: step.Reason, Rule: step.Rule}
		switch step.Route {
		case plan.PullThrough:
			if err := h.reg.Preflight(ctx, step.Target); err != nil {
				if IsRetryable(err) || isUpstreamLimited(err) {
					return result{}, err // it names the preflight and its target
				}
				change.Reason = err.Error()
				rv.Images = append(rv.Images, change)
				rv.Reason = "the pull-through cache could not serve " + c.Image + "; no revision registered"
				return h.finish(ctx, outcomeFailed, rv, log)
			}
			images[c.Name] = step.Target
		case plan.Mirror:
			if h.mirror == nil {
				change.Reason = "the policy allows mirroring, but this agent has no mirror engine configured"
				change.Route = string(plan.Deny)
				break
			}
			target, err := h.mirror.Mirror(ctx, step)
			if err != nil {
				if IsRetryable(err) || isUpstreamLimited(err) {
					return result{}, fmt.Errorf("mirror %s: %w", c.Image, err)
				}
				change.Reason = fmt.Sprintf("mirror failed: %v", err)
				rv.Images = append(rv.Images, change)
				rv.Reason = "could not mirror " + c.Image + "; no revision registered"
				return h.finish(ctx, outcomeFailed, rv, log)
			}
			change.To = target
			images[c.Name] = target
		}
		rv.Images = append(rv.Images, change)
		log.Info("planned", "image", c.Image, "route", change.Route, "target", change.To)
	}
	if len(images) == 0 {
		rv.Reason = "no rate-limited image has a route to ECR: " + imageReasons(rv.Images)
		return h.finish(ctx, outcomeSkipped, rv, log)
	}
	rv.RewriteID = taskdef.RewriteID(task.TaskDefinitionArn, images)
	if h.cfg.DryRun {
		rv.Reason = "dry run: nothing registered"
		log.Info("dry run", "rewrite_id", rv.RewriteID)
		return result{outcome: outcomeSkipped, review: rv}, nil
	}
	return h.correct(ctx, task, src, images, rv, pol, log)
}

// correct registers (or finds) the corrected revision under the failure's
// lease and rolls the service onto it.
func (h *Healer) correct(ctx context.Context, task *ecsevent.Task, src *taskdef.Document, images map[string]string, rv Review, pol *policy.Policy, log *slog.Logger) (result, error) {
	lease, err := h.leases.Acquire(ctx, rv.RewriteID)
	if err != nil {
		return result{}, err
	}
	if lease.Done != nil {
		// Another replica (or this one before a restart) finished it.
		rv = lease.Done.merge(rv)
		return result{outcome: outcomeDuplicate, review: rv}, nil
	}
	defer lease.Release(context.WithoutCancel(ctx))

	prov := taskdef.Provenance{SourceArn: task.TaskDefinitionArn, RewriteID: rv.RewriteID, Generation: 1,
		Reason: "rate-limited pull: " + strings.Join(sortedValues(images), ", ")}
	corrected, err := src.WithImages(images)
	if err != nil {
		return result{}, permanent(fmt.Errorf("rewrite %s: %w", task.TaskDefinitionArn, err))
	}
	// A revision keeps every user tag; provenance tags that find no room
	// under ECS's 50 are named in the review event, whose fields carry
	// their values. Idempotency then rests on the lease record alone.
	corrected, rv.ProvenanceNotTagged = corrected.WithProvenance(prov)
	rv.Diff = taskdef.Diff(src, corrected)

	newArn := lease.Revision
	if newArn == "" && !lease.Fresh {
		// A previous holder may have registered before it died.
		newArn, err = h.findCorrected(ctx, src.Family(), task.TaskDefinitionArn, rv.RewriteID)
		if err != nil {
			return result{}, err
		}
	}
	if newArn == "" {
		in, err := corrected.RegisterInput()
		if err != nil {
			return result{}, permanent(fmt.Errorf("build register input: %w", err))
		}
		out, err := h.ecs.RegisterTaskDefinition(ctx, in)
		if err != nil {
			if IsRetryable(err) {
				return result{}, fmt.Errorf("register %s: %w", src.Family(), err)
			}
			rv.Reason = fmt.Sprintf("ECS refused the corrected revision: %v", err)
			return h.finish(ctx, outcomeFailed, rv, log)
		}
		newArn = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		h.metrics.RevisionsRegistered.Inc()
		log.Info("registered corrected revision", "target", newArn)
	}
	rv.TaskDefinitionArn = newArn
	if err := lease.Registered(ctx, newArn); err != nil {
		return result{}, err
	}
	if err := h.rollService(ctx, task, &rv, len(images), pol, log); err != nil {
		return result{}, err
	}
	rv.Reason = "rate-limited pull moved to ECR"
	// Publish before the lease is marked done: a replica that takes over
	// after a crash here publishes again, and a duplicate review (same
	// rewrite ID) is better than none.
	res, err := h.finish(ctx, outcomeCorrected, rv, log)
	if err != nil {
		return result{}, err
	}
	if err := lease.Finish(ctx, rv.done()); err != nil {
		return result{}, err
	}
	return res, nil
}

// rollService moves a service that still runs the failing revision onto the
// corrected one, when its deployment controller and the policy allow.
func (h *Healer) rollService(ctx context.Context, task *ecsevent.Task, rv *Review, rewritten int, pol *policy.Policy, log *slog.Logger) error {
	if rv.Service == "" {
		rv.ServiceAction = "none: the task was not started by a service (" + describeGroup(task) + "); the corrected revision is registered for its owner to use"
		return nil
	}
	out, err := h.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(task.ClusterArn), Services: []string{rv.Service}})
	if IsNotFound(err) {
		rv.ServiceAction = "none: the cluster of service " + rv.Service + " no longer exists"
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe service %s: %w", rv.Service, err)
	}
	if len(out.Services) == 0 || aws.ToString(out.Services[0].Status) != "ACTIVE" {
		rv.ServiceAction = "none: service " + rv.Service + " no longer exists"
		return nil
	}
	svc := out.Services[0]
	current := aws.ToString(svc.TaskDefinition)
	controller := ecstypes.DeploymentControllerTypeEcs
	if svc.DeploymentController != nil && svc.DeploymentController.Type != "" {
		controller = svc.DeploymentController.Type
	}
	switch {
	case sameRevision(current, rv.TaskDefinitionArn):
		rv.ServiceAction = "none: the service already runs the corrected revision"
		return nil
	case !sameRevision(current, rv.SourceTaskDefinitionArn):
		rv.ServiceAction = "none: the service has moved on to " + current + " and is left alone"
		return nil
	case controller != ecstypes.DeploymentControllerTypeEcs:
		rv.ServiceAction = fmt.Sprintf("proposed: the service's deployment controller is %s, which pullheal does not drive; deploy the corrected revision through it", controller)
		return nil
	case pol != nil && pol.Heal.ServiceUpdate == policy.ProposeOnly:
		rv.ServiceAction = "proposed: the policy's update mode is propose; update the service to the corrected revision after review"
		return nil
	}
	if action, err := h.revertedAction(ctx, rv.TaskDefinitionArn); err != nil || action != "" {
		rv.ServiceAction = action
		return err
	}
	_, err = h.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(task.ClusterArn), Service: aws.String(rv.Service), TaskDefinition: aws.String(rv.TaskDefinitionArn),
	})
	if err != nil {
		return fmt.Errorf("update service %s: %w", rv.Service, err)
	}
	rv.ServiceAction = "updated: service " + rv.Service + " rolls onto the corrected revision"
	rv.ServiceUpdated = true
	h.metrics.ServicesUpdated.Inc()
	h.metrics.PullsAvoided.Add(float64(rewritten) * float64(max(svc.DesiredCount, 1)))
	log.Info("service updated", "service", rv.Service, "target", rv.TaskDefinitionArn)
	return nil
}

// sameRevision reports whether two task-definition references name the
// same revision. DescribeServices documents the full ARN, but a service
// updated with family:revision (which UpdateService accepts) may be
// reported in that form (moto echoes it back), and taking it for a service
// that moved on would leave a failing service unhealed.
func sameRevision(a, b string) bool {
	if a == b {
		return true
	}
	fa, ra, okA := ecsarn.TaskDefinition(a)
	fb, rb, okB := ecsarn.TaskDefinition(b)
	return okA && okB && fa == fb && ra == rb
}

func describeGroup(task *ecsevent.Task) string {
	if task.Group == "" {
		return "no group"
	}
	return "group " + task.Group
}

// finish publishes the review event and returns the result.
func (h *Healer) finish(ctx context.Context, outcome string, rv Review, log *slog.Logger) (result, error) {
	rv.Outcome = outcome
	if !h.cfg.DryRun {
		if err := h.review.Publish(ctx, rv); err != nil {
			return result{}, fmt.Errorf("publish review: %w", err)
		}
	}
	log.Info("healing "+outcome, "reason", rv.Reason, "target", rv.TaskDefinitionArn)
	return result{outcome: outcome, review: rv}, nil
}

func (h *Healer) describe(ctx context.Context, arn string) (*taskdef.Document, error) {
	out, err := h.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", arn, err)
	}
	doc, err := taskdef.FromSDK(out.TaskDefinition, out.Tags)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", arn, err)
	}
	return doc, nil
}

// findCorrected looks for an ACTIVE revision of family that carries the
// rewrite ID, newer than the source. Only a lease taken over from a holder
// that died (or any lease of a single replica) needs it. The revisions are
// ordered by their own numbers, newest first: the sort asked of
// ListTaskDefinitions only saves pages while the answer shows it was
// honoured, so a server that ignores it (moto does) costs more calls but
// never ends the search before the corrected revision.
func (h *Healer) findCorrected(ctx context.Context, family, source, rewriteID string) (string, error) {
	_, srcRev, _ := ecsarn.TaskDefinition(source)
	type revision struct {
		arn string
		n   int
	}
	var newer []revision
	descending, last := true, 0
	var next *string
	for {
		out, err := h.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{
			FamilyPrefix: aws.String(family), Status: ecstypes.TaskDefinitionStatusActive, Sort: ecstypes.SortOrderDesc, NextToken: next,
		})
		if err != nil {
			return "", fmt.Errorf("list revisions of %s: %w", family, err)
		}
		for _, arn := range out.TaskDefinitionArns {
			fam, rev, ok := ecsarn.TaskDefinition(arn)
			if !ok || fam != family {
				continue
			}
			if last > 0 && rev >= last {
				descending = false
			}
			last = rev
			if rev > srcRev {
				newer = append(newer, revision{arn, rev})
			}
		}
		if aws.ToString(out.NextToken) == "" || (descending && last > 0 && last <= srcRev) {
			break
		}
		next = out.NextToken
	}
	sort.Slice(newer, func(i, j int) bool { return newer[i].n > newer[j].n })
	for _, r := range newer {
		d, err := h.describe(ctx, r.arn)
		if err != nil {
			return "", err
		}
		for _, t := range d.Tags() {
			if t.Key == taskdef.TagRewriteID && t.Value == rewriteID {
				return r.arn, nil
			}
		}
	}
	return "", nil
}

// containersToRewrite is the failed containers, or with the policy's
// all-docker-hub setting every Docker Hub container of the task definition.
func containersToRewrite(src *taskdef.Document, limited []ecsevent.Failure, pol *policy.Policy) []taskdef.Container {
	failed := map[string]bool{}
	for _, f := range limited {
		failed[f.Container] = true
	}
	all := pol != nil && pol.Heal.Containers == policy.ContainersAllDockerHub
	var out []taskdef.Container
	for _, c := range src.Containers() {
		if failed[c.Name] {
			out = append(out, c)
			continue
		}
		if all {
			if ref, err := imageref.Parse(c.Image); err == nil && ref.Kind == imageref.DockerHub {
				out = append(out, c)
			}
		}
	}
	return out
}

func needsExecutionRole(task *ecsevent.Task, src *taskdef.Document) bool {
	if task.LaunchType == "FARGATE" {
		return true
	}
	for _, c := range src.RequiresCompatibilities() {
		if c == "FARGATE" && task.LaunchType == "" {
			return true
		}
	}
	return false
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

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// recent is a bounded memory of finished heals. Entries expire, so that a
// failure skipped for a reason a person has since fixed (a missing
// pull-through rule, a policy) is looked at again.
type recent struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	order []string
	m     map[string]recentEntry
}

type recentEntry struct {
	res result
	at  time.Time
}

func newRecent(n int, ttl time.Duration, now func() time.Time) *recent {
	return &recent{max: n, ttl: ttl, now: now, m: map[string]recentEntry{}}
}

func (r *recent) get(k string) (result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[k]
	if !ok || r.now().Sub(e.at) > r.ttl {
		return result{}, false
	}
	return e.res, true
}

func (r *recent) put(k string, v result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; !ok {
		r.order = append(r.order, k)
	}
	r.m[k] = recentEntry{res: v, at: r.now()}
	for len(r.order) > r.max {
		delete(r.m, r.order[0])
		r.order = r.order[1:]
	}
}
