package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestFailedHealIsRolledBackOnce: ECR enforces IAM and the workload's
// execution role may import through the cache only under a condition on
// its tags, which the agent's check cannot tell (it goes on, and says so)
// and which the role does not meet, so the corrected revision's tasks stop
// with a 403 from ECR. The agent rolls
// the service back to the source revision, marks the corrected one, and
// reports it once: one replica, or three sharing a lease table, each
// holding one of the failure's messages at a time. After a restart (for a
// single replica nothing is remembered but the tags), the source fails
// again with the rate limit, and the agent proposes the corrected revision
// instead of rolling it out again.
func TestFailedHealIsRolledBackOnce(t *testing.T) {
	t.Run("one replica", func(t *testing.T) { rolledBackOnce(t, 1) })
	t.Run("three replicas", func(t *testing.T) { rolledBackOnce(t, 3) })
}

func rolledBackOnce(t *testing.T, replicas int) {
	ctx := context.Background()
	srv, c, sc := bedtest.Start(t, ctx, localaws.Config{RestartDelay: 20 * time.Millisecond, EnforceIAM: true},
		scenario.Options{Desired: 2, ExecutionRolePolicy: scenario.ConditionalCachePolicy, HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	srv.Hub.Exhaust("127.0.0.1")
	b := &bed{srv: srv, c: c, sc: sc}
	var opts []agent.Options
	for i := range replicas {
		o := b.options("r" + string(rune('1'+i)))
		if replicas == 1 {
			o.LockTable = ""
		} else {
			o.Intake.Workers = 1
		}
		opts = append(opts, o)
	}

	// Reading the review queue consumes it: keep every event read.
	all := map[string][]agent.Review{}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for k, v := range b.reviews(t) {
				all[k] = append(all[k], v...)
			}
			if ok() {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s in time; review events %+v", what, all)
	}
	stop := b.runAgents(t, opts...)
	wait("correction and rollback", func() bool {
		return len(all[agent.DetailRolledBack]) > 0 && len(all[agent.DetailCorrected]) > 0
	})
	stop()
	rv := all[agent.DetailRolledBack][0]
	gen := rv.TaskDefinitionArn
	if rv.SourceTaskDefinitionArn != sc.TaskDefinitionArn || !rv.ServiceUpdated || !strings.Contains(rv.StopReason, "403") {
		t.Errorf("rollback review %+v; want the service moved from the corrected revision to %s, with the 403", rv, sc.TaskDefinitionArn)
	}
	corrected := all[agent.DetailCorrected]
	if len(corrected) != 1 || corrected[0].TaskDefinitionArn != gen || !corrected[0].ServiceUpdated {
		t.Fatalf("correction reviews %+v; want one that rolled the service onto %s", corrected, gen)
	}
	tags := map[string]string{}
	out, err := c.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(gen), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range out.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if !strings.Contains(tags[agent.TagRolledBack], "access denied") || !strings.HasSuffix(tags[agent.TagReverted], "/"+sc.Service) {
		t.Errorf("tags of %s: %v; want %s saying access was denied and %s naming the service", gen, tags, agent.TagRolledBack, agent.TagReverted)
	}

	// The restart: the source's tasks fail again with the rate limit, and
	// the corrected revision's last tasks may still report their 403. A
	// single replica finds the corrected revision by its rewrite-ID tag and
	// proposes it; replicas find the heal's lease done and report nothing.
	var regs []*prometheus.Registry
	for i := range opts {
		reg := prometheus.NewRegistry()
		opts[i].Registerer = reg
		regs = append(regs, reg)
	}
	stop = b.runAgents(t, opts...)
	wait("a rate-limit failure of the source handled after the restart", func() bool {
		if replicas == 1 {
			for _, r := range all[agent.DetailCorrected][1:] {
				if r.TaskDefinitionArn == gen && !r.ServiceUpdated && strings.HasPrefix(r.ServiceAction, "proposed") {
					return true
				}
			}
			return false
		}
		for _, reg := range regs {
			if counterValue(t, reg, "pullheal_events_total", "cause", "rate-limit", "outcome", "duplicate") > 0 {
				return true
			}
		}
		return false
	})
	b.waitDrained(t)
	stop()
	for k, v := range b.reviews(t) {
		all[k] = append(all[k], v...)
	}
	if n := len(all[agent.DetailRolledBack]); n != 1 {
		t.Errorf("%d rollback reviews, want 1: %+v", n, all[agent.DetailRolledBack])
	}
	for _, r := range all[agent.DetailCorrected][1:] {
		if r.ServiceUpdated {
			t.Errorf("the service was rolled onto %s again after its rollback: %+v", r.TaskDefinitionArn, r)
		}
	}
	st, err := sc.ServiceState(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskDefinition != sc.TaskDefinitionArn {
		t.Errorf("service runs %s, want the source %s", st.TaskDefinition, sc.TaskDefinitionArn)
	}
	if revs := b.revisions(t); len(revs) != 2 {
		t.Errorf("revisions %v, want the source and the one corrected revision", revs)
	}
}

// counterValue is the value of the counter name with the given label
// pairs, 0 when it has not been counted.
func counterValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
