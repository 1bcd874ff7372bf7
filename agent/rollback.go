package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// TagRolledBack marks a revision pullheal generated whose tasks failed to
// pull from ECR and which the agent rolled its service back from. Its
// value says why, in short (the review event carries ECS's whole reason).
// The agent also sets TagReverted on it, the
// mark `pullheal revert` leaves: the same failure yields the same
// revision, and while that tag is there the agent proposes it instead of
// rolling it out again (`pullheal approve` removes it).
const TagRolledBack = "pullheal:rolled-back"

// outcomeRolledBack is the outcome of a generated revision rolled back.
const outcomeRolledBack = "rolled-back"

// rollBack executes a RollBack plan: the failing revision is one pullheal
// generated, and its tasks could not pull from ECR. The service goes back
// to the revision it was generated from if it still runs the generated
// one; the generated revision is tagged so that it is not rolled out again
// without a person; a review event says what happened. Replicas do it
// once, under a lease named after the generated revision; the tag makes
// it once across restarts and the lease table's retention.
func (h *Healer) rollBack(ctx context.Context, p plan.Plan, rv Review, log *slog.Logger) (result, error) {
	gen, task := p.TaskDefinition, p.Task
	genArn := task.TaskDefinitionArn
	tags := map[string]string{}
	for _, t := range gen.Tags() {
		tags[t.Key] = t.Value
	}
	rv.TaskDefinitionArn, rv.RewriteID = genArn, tags[taskdef.TagRewriteID]
	rv.SourceTaskDefinitionArn = tags[taskdef.TagSourceRevision]
	var stopReason string
	rv.Images, stopReason = ecrPullFailures(task)
	rv.StopReason = stopReason
	if h.cfg.DryRun {
		rv.Reason = "dry run: nothing rolled back"
		log.Info("dry run: would roll back", "target", rv.SourceTaskDefinitionArn, "reason", stopReason)
		return result{outcome: outcomeSkipped, review: rv}, nil
	}
	source := rv.SourceTaskDefinitionArn
	if source == "" || strings.Contains(source, "@") {
		// A family too long for the tag was cut and hashed: it names the
		// revision for a person, not for UpdateService.
		rv.Reason = fmt.Sprintf("the revision pullheal generated failed to pull from ECR (%s), but its %s tag (%q) does not name a revision to roll back to", stopReason, taskdef.TagSourceRevision, source)
		return h.finish(ctx, outcomeFailed, rv, log)
	}

	ls, ctx, release, err := h.hold(ctx, "roll-back/"+genArn, log)
	if err != nil {
		return result{}, err
	}
	defer release()
	if ls.done != nil {
		return result{outcome: outcomeDuplicate, review: ls.done.merge(rv)}, nil
	}
	svc, _, err := h.service(ctx, task.ClusterArn, rv.Service)
	if err != nil {
		return result{}, err
	}
	runsGenerated := svc != nil && sameRevision(aws.ToString(svc.TaskDefinition), genArn)
	if _, done := tags[TagRolledBack]; done && !runsGenerated {
		// Rolled back before (by this agent before a restart, or a
		// replica whose lease record is gone): the tasks that stop now
		// are the generated revision's last ones.
		log.Info("generated revision already rolled back", "target", genArn)
		if err := ls.Finish(ctx, &doneRecord{}); err != nil {
			return result{}, err
		}
		return result{outcome: outcomeDuplicate, review: rv}, nil
	}

	// Tag first: the source fails again as soon as it runs, and the next
	// heal of it must already find the generated revision marked.
	entry := ""
	if rv.Service != "" {
		entry = ecsarn.Name(task.ClusterArn) + "/" + rv.Service
	}
	if err := h.markRolledBack(ctx, genArn, tags[TagReverted], entry, imageReasons(rv.Images)); err != nil {
		return result{}, err
	}
	switch {
	case rv.Service == "":
		rv.ServiceAction = "none: the task was not started by a service (" + describeGroup(task) + "); the revision is marked so that it is not used again automatically"
	case svc == nil:
		rv.ServiceAction = "none: service " + rv.Service + " no longer exists"
	case sameRevision(aws.ToString(svc.TaskDefinition), source):
		rv.ServiceAction = "none: service " + rv.Service + " already runs the source revision again"
	case !runsGenerated:
		rv.ServiceAction = "none: the service has moved on to " + aws.ToString(svc.TaskDefinition) + " and is left alone"
	case svc.DeploymentController != nil && svc.DeploymentController.Type != "" && svc.DeploymentController.Type != ecstypes.DeploymentControllerTypeEcs:
		rv.ServiceAction = fmt.Sprintf("proposed: the service's deployment controller is %s, which pullheal does not drive; roll it back to %s through it", svc.DeploymentController.Type, source)
	case circuitBreakerRollsBack(svc):
		// ECS rolls a failing deployment back itself: a second rollback
		// would race it. Report, and leave the service to ECS.
		rv.ServiceAction = "none: the service's deployment circuit breaker rolls failed deployments back; ECS returns it to its last steady revision"
	default:
		if _, err := h.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(task.ClusterArn), Service: aws.String(rv.Service), TaskDefinition: aws.String(source),
		}); err != nil {
			return result{}, fmt.Errorf("roll back service %s: %w", rv.Service, err)
		}
		rv.ServiceAction = "rolled back: service " + rv.Service + " returns to " + source
		rv.ServiceUpdated = true
		log.Info("service rolled back", "service", rv.Service, "target", source)
	}
	rv.Reason = "the revision pullheal generated failed to pull from ECR: " + stopReason + "; it is not rolled out again until a person approves it (pullheal approve) or removes its " + TagReverted + " tag"
	return h.finishHeld(ctx, ls, outcomeRolledBack, rv, log)
}

// service reads the task's service; nil when the task was not started by a
// service, or when the service (or its cluster) is gone, gone then saying
// which.
func (h *Healer) service(ctx context.Context, cluster, name string) (svc *ecstypes.Service, gone string, err error) {
	if name == "" {
		return nil, "", nil
	}
	out, err := h.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if isNotFound(err) {
		return nil, "the cluster of service " + name + " no longer exists", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("describe service %s: %w", name, err)
	}
	if len(out.Services) == 0 || aws.ToString(out.Services[0].Status) != "ACTIVE" {
		return nil, "service " + name + " no longer exists", nil
	}
	return &out.Services[0], "", nil
}

// markRolledBack tags the generated revision: TagRolledBack with why
// (each container's failure in short: ECS's whole reason rarely fits in a
// tag value), and, for a service (entry is CLUSTER/SERVICE), TagReverted
// naming it (added to the services it names already), the mark pullheal
// revert leaves.
func (h *Healer) markRolledBack(ctx context.Context, arn, reverted, entry, reason string) error {
	why := taskdef.SanitizeTagValue(reason)
	if why == "" {
		why = "pull from ECR failed"
	}
	tags := []ecstypes.Tag{{Key: aws.String(TagRolledBack), Value: aws.String(why)}}
	if entry != "" {
		if !slices.Contains(strings.Fields(reverted), entry) {
			if v := strings.TrimSpace(reverted + " " + entry); len(v) <= 256 {
				reverted = v
			} // else: the tag's presence is what counts; keep what fits
		}
		tags = append(tags, ecstypes.Tag{Key: aws.String(TagReverted), Value: aws.String(reverted)})
	}
	_, err := h.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", arn, TagRolledBack, err)
	}
	return nil
}

// ecrPullFailures lists the task's containers whose pull from ECR failed,
// as review lines, and their stop reasons as ECS gave them.
func ecrPullFailures(task *ecsevent.Task) ([]ImageChange, string) {
	var out []ImageChange
	var reasons []string
	for _, f := range ecsevent.Classify(task) {
		if f.Cause != ecsevent.OtherFailure || imageref.KindOf(f.Ref.Registry) != imageref.ECRPrivate {
			continue
		}
		out = append(out, ImageChange{Container: f.Container, From: f.Image, Route: string(plan.RollBack), Reason: f.Explanation})
		reasons = append(reasons, f.Container+": "+f.Reason)
	}
	return out, strings.Join(reasons, "; ")
}

// circuitBreakerRollsBack reports whether ECS's deployment circuit breaker
// with rollback is on for svc.
func circuitBreakerRollsBack(svc *ecstypes.Service) bool {
	dc := svc.DeploymentConfiguration
	return dc != nil && dc.DeploymentCircuitBreaker != nil && dc.DeploymentCircuitBreaker.Enable && dc.DeploymentCircuitBreaker.Rollback
}
