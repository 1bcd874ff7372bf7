package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// releaseTimeout bounds giving a lease back; a lease not released expires.
const releaseTimeout = 10 * time.Second

// correct registers (or finds) the corrected revision under the failure's
// lease and rolls the service onto it.
func (h *Healer) correct(ctx context.Context, p plan.Plan, images map[string]string, rv Review, log *slog.Logger) (result, error) {
	task, src := p.Task, p.TaskDefinition
	ls, err := h.leases.Acquire(ctx, rv.RewriteID)
	if err != nil {
		return result{}, err
	}
	if ls.done != nil {
		// Another replica (or this one before a restart) finished it.
		rv = ls.done.merge(rv)
		return result{outcome: outcomeDuplicate, review: rv}, nil
	}
	defer func() {
		// Releasing must happen even when the heal's context ended, but
		// not hang a worker on a table that does not answer.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		ls.Release(rctx)
	}()

	prov := taskdef.Provenance{SourceArn: task.TaskDefinitionArn, RewriteID: rv.RewriteID, Generation: 1,
		Reason: "rate-limited pull: " + strings.Join(sortedValues(images), ", ")}
	corrected, err := src.WithImages(images)
	if err != nil {
		return result{}, permanent(fmt.Errorf("rewrite %s: %w", task.TaskDefinitionArn, err))
	}
	corrected = corrected.WithTags(prov.Tags()...)
	rv.Diff = taskdef.Diff(src, corrected)

	newArn := ls.Revision
	if newArn == "" && !ls.Fresh {
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
			if isRetryable(err) {
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
	if err := ls.Registered(ctx, newArn); err != nil {
		return result{}, err
	}
	if err := h.rollService(ctx, task, &rv, len(images), log); err != nil {
		return result{}, err
	}
	rv.Reason = "rate-limited pull moved to ECR"
	// Publish before the ls is marked done: a replica that takes over
	// after a crash here publishes again, and a duplicate review (same
	// rewrite ID) is better than none.
	res, err := h.finish(ctx, outcomeCorrected, rv, log)
	if err != nil {
		return result{}, err
	}
	if err := ls.Finish(ctx, rv.done()); err != nil {
		return result{}, err
	}
	return res, nil
}

// findCorrected looks for an ACTIVE revision of family that carries the
// rewrite ID, newer than the source. Only a lease taken over from a holder
// that died needs it, so the common path makes no such calls.
func (h *Healer) findCorrected(ctx context.Context, family, source, rewriteID string) (string, error) {
	_, srcRev, _ := ecsarn.TaskDefinition(source)
	var next *string
	for {
		out, err := h.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{
			FamilyPrefix: aws.String(family), Status: ecstypes.TaskDefinitionStatusActive, Sort: ecstypes.SortOrderDesc, NextToken: next,
		})
		if err != nil {
			return "", fmt.Errorf("list revisions of %s: %w", family, err)
		}
		for _, arn := range out.TaskDefinitionArns {
			fam, rev, _ := ecsarn.TaskDefinition(arn)
			if fam != family {
				continue
			}
			if rev <= srcRev {
				return "", nil
			}
			d, err := h.describe(ctx, arn)
			if err != nil {
				return "", err
			}
			for _, t := range d.Tags() {
				if t.Key == taskdef.TagRewriteID && t.Value == rewriteID {
					return arn, nil
				}
			}
		}
		if out.NextToken == nil {
			return "", nil
		}
		next = out.NextToken
	}
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
