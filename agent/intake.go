package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
)

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
	return h.handle(ctx, ev, log)
}

// handle heals the event's stopped task, if it stopped for a rate limit.
func (h *Healer) handle(ctx context.Context, ev *ecsevent.Event, log *slog.Logger) error {
	log = log.With("task_arn", ev.Task.TaskArn, "taskdef_arn", ev.Task.TaskDefinitionArn)
	ev, triage, err := h.triage(ctx, ev, log)
	if err != nil {
		return err
	}
	if triage.Verdict == plan.Ignore {
		// Most events: nothing to route, nothing to review.
		h.metrics.Events.WithLabelValues(string(triage.Cause), "ignored").Inc()
		log.Debug("ignored", "reason", triage.Reason)
		return nil
	}
	start := h.cfg.Now()
	res, err := h.once(ctx, ev, triage, log)
	outcome := res.outcome
	if err != nil {
		outcome = "error"
	}
	if outcome == outcomeDuplicate {
		log.Debug("duplicate", "reason", "another message of the same failure was handled already", "target", res.review.TaskDefinitionArn)
	}
	h.metrics.Events.WithLabelValues(string(ecsevent.RateLimit), outcome).Inc()
	if err == nil && res.outcome == outcomeCorrected {
		h.metrics.HealingSeconds.Observe(h.cfg.Now().Sub(start).Seconds())
	}
	return err
}

// outcomeLevel is the log level of a heal's outcome line: a failed heal
// needs a person (WARN), a corrected or skipped one does not (INFO).
func outcomeLevel(outcome string) slog.Level {
	if outcome == outcomeFailed {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
