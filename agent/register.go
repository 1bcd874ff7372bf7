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
	"github.com/pullheal/pullheal/policy"
)

// releaseTimeout bounds giving a lease back; a lease not released expires.
const releaseTimeout = 10 * time.Second

// correct moves the images and registers (or finds) the corrected
// revision under the failure's lease, and rolls the service onto it. Only
// the holder moves images: a replica that finds the lease held waits for
// the holder to finish (or to die and its lease to expire) and copies
// nothing.
func (h *Healer) correct(ctx context.Context, p plan.Plan, moves []move, rv Review, pol *policy.Policy, log *slog.Logger) (result, error) {
	task, src := p.Task, p.TaskDefinition
	ls, ctx, release, err := h.hold(ctx, rv.RewriteID, log)
	if err != nil {
		return result{}, err
	}
	defer release()
	if ls.done != nil {
		// Another replica (or this one before a restart) finished it.
		rv = ls.done.merge(rv)
		return result{outcome: outcomeDuplicate, review: rv}, nil
	}

	newArn := ls.Revision
	if newArn == "" {
		// A previous holder may have registered before it died, and a
		// fresh lease does not mean nobody registered it: pullheal scan
		// --apply propose and a registered pullheal rewrite carry the same
		// rewrite ID. One ListTaskDefinitions call when nothing is newer.
		newArn, err = h.findCorrected(ctx, src.Family(), task.TaskDefinitionArn, rv.RewriteID)
		if err != nil {
			return result{}, err
		}
	}
	var images map[string]string
	if newArn != "" {
		// The images were moved by the holder that registered it.
		if err := h.reuse(ctx, src, newArn, moves, &rv); err != nil {
			return result{}, err
		}
	} else {
		var failed bool
		images, failed, err = h.moveImages(ctx, moves, &rv, log)
		if err != nil {
			return result{}, err
		}
		if failed {
			return h.finish(ctx, outcomeFailed, rv, log)
		}
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
	rewritten := len(images)
	if images == nil {
		rewritten = len(moves)
	}
	if err := h.rollService(ctx, task, &rv, rewritten, pol, log); err != nil {
		return result{}, err
	}
	rv.Reason = "rate-limited pull moved to ECR"
	return h.finishHeld(ctx, ls, outcomeCorrected, rv, log)
}

// reuse fills rv from a corrected revision a previous holder registered:
// its images (a mirrored one pinned to the digest that holder copied) and
// its diff from the source.
func (h *Healer) reuse(ctx context.Context, src *taskdef.Document, arn string, moves []move, rv *Review) error {
	d, err := h.describe(ctx, arn)
	if err != nil {
		return err
	}
	for _, m := range moves {
		for _, c := range d.Containers() {
			if c.Name == m.container {
				rv.Images[m.change].To = c.Image
			}
		}
	}
	rv.Diff = taskdef.Diff(src, d)
	return nil
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

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
