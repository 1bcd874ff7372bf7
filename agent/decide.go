package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/policy"
)

// The agent's decision is plan.Decide; this file reads its inputs from AWS
// in two stages, so that the common event (a task that did not fail to
// pull) costs no call at all.

// triage decides on the event alone, after reading the task again when a
// reason the decision turns on was cut short. It returns the event with
// the task as read. A Verdict other than Ignore means the failure is worth
// reading the task definition for.
func (h *Healer) triage(ctx context.Context, ev *ecsevent.Event, log *slog.Logger) (*ecsevent.Event, plan.Plan, error) {
	if ev.Task.Stopped() && plan.NeedsFullReason(ecsevent.Classify(ev.Task)) {
		full, err := h.fullTask(ctx, ev.Task)
		switch {
		case err == nil:
			cp := *ev
			cp.Task = full
			ev = &cp
		case isRetryable(err):
			return nil, plan.Plan{}, err
		default:
			// The task is gone from DescribeTasks (about an hour after it
			// stopped): decide on the cut reason.
			log.Info("full reason unavailable; deciding on the truncated one", "error", err)
		}
	}
	return ev, plan.Decide(plan.Input{Event: ev}), nil
}

// decide reads the failing revision and the registry's routing and
// decides.
func (h *Healer) decide(ctx context.Context, ev *ecsevent.Event, pol *policy.Policy) (plan.Plan, error) {
	in := plan.Input{Event: ev}
	var err error
	in.TaskDefinition, err = h.describe(ctx, ev.Task.TaskDefinitionArn)
	if err != nil {
		if isRetryable(err) {
			return plan.Plan{}, err
		}
		in.TaskDefinitionError = err
	}
	// A rollback moves no image: where images go is not read for it, so
	// that a registry that does not answer holds no rollback back.
	if plan.Decide(plan.Input{Event: ev}).Verdict != plan.RollBack {
		in.Config, in.RulesDiscovered, err = h.dest.PlanConfig(ctx, pol)
		if err != nil {
			return plan.Plan{}, err
		}
	}
	return plan.Decide(in), nil
}

// Decide is the agent's decision for one event, read from AWS exactly as
// a heal reads it, with nothing registered, moved or published. pullheal
// explain --discover prints it.
func (h *Healer) Decide(ctx context.Context, ev *ecsevent.Event) (plan.Plan, error) {
	if ev.Task == nil {
		return plan.Decide(plan.Input{Event: ev}), nil
	}
	ev, triage, err := h.triage(ctx, ev, slog.New(slog.DiscardHandler))
	if err != nil || triage.Verdict == plan.Ignore {
		return triage, err
	}
	pol, _ := snapshot(h.cfg.Policies)
	return h.decide(ctx, ev, pol)
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

func (h *Healer) describe(ctx context.Context, arn string) (*taskdef.Document, error) {
	// The raw body shows a field the SDK does not model, which a
	// corrected revision would otherwise lose without a word.
	var body []byte
	out, err := h.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	}, taskdef.RecordBody(&body))
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", arn, err)
	}
	doc, err := taskdef.FromSDK(out.TaskDefinition, out.Tags)
	if err == nil {
		err = taskdef.CheckDescribed(body)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", arn, err)
	}
	return doc, nil
}
