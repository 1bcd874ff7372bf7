//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestHealsThroughPullThrough is the loop end to end: the hub refuses the
// service's anonymous pulls, the stop events reach the queue through
// EventBridge, the agent registers one corrected revision that pulls
// through the ECR cache, rolls the service onto it and reports it.
func TestHealsThroughPullThrough(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true})
	b.waitQueued(t, 1)
	if pc := b.pulls(t); pc.ThrottledByRepository["library/nginx"]["127.0.0.1"] == 0 {
		t.Fatalf("the hub refused no anonymous nginx pull: %+v", pc)
	}

	a := b.startAgent(t, "agent", agentConfig{})
	healed := b.waitHealed(t)
	b.waitDrained(t)

	td := b.describe(t, healed)
	want := b.registry + "/docker-hub/library/nginx:1.27"
	if got := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); got != want {
		t.Errorf("corrected image %q, want %q", got, want)
	}
	tags := tagMap(td.Tags)
	if tags["team"] != "storefront" || tags["pullheal:source-revision"] != b.sc.TaskDefinitionArn || tags["pullheal:generation"] != "1" {
		t.Errorf("corrected revision's tags %v: want the source's team tag and pullheal's provenance", tags)
	}
	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}

	corrected := b.reviewsOf(t, agent.DetailCorrected)
	if len(corrected) != 1 {
		t.Fatalf("%d %q review events, want 1 (all: %+v)", len(corrected), agent.DetailCorrected, b.reviews)
	}
	rv := corrected[0]
	if rv.TaskDefinitionArn != healed || rv.SourceTaskDefinitionArn != b.sc.TaskDefinitionArn || !rv.ServiceUpdated ||
		len(rv.Images) != 1 || rv.Images[0].Route != "pull-through" || rv.Images[0].To != want {
		t.Errorf("review %+v does not describe the heal to %s", rv, healed)
	}

	for name, want := range map[string]float64{"pullheal_revisions_registered_total": 1, "pullheal_services_updated_total": 1} {
		if got := a.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := a.get(t, path); code != http.StatusOK {
			t.Errorf("%s answered %d %q, want 200", path, code, strings.TrimSpace(body))
		}
	}
	// The cache, not the tasks, fetched nginx upstream, with its account.
	if pc := b.pulls(t); pc.ByRepository["library/nginx"]["pullheal"] == 0 {
		t.Errorf("the pull-through cache made no authenticated upstream pull: %+v", pc)
	}
}

// TestDuplicateDeliveriesYieldOneRevision delivers every stop event three
// times, in shuffled order, as SQS's at-least-once delivery may.
func TestDuplicateDeliveriesYieldOneRevision(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true})
	b.waitQueued(t, 3)
	bodies := b.receiveAll(t, b.sc.QueueURL, true)
	for _, body := range bodies {
		ev := parseStopEvent(t, body)
		if ev.Detail.LastStatus != "STOPPED" || ev.Detail.TaskDefinitionArn != b.sc.TaskDefinitionArn || !strings.Contains(ev.Detail.StoppedReason, "429") {
			t.Fatalf("queued event is not web:1's rate-limited stop: %+v", ev.Detail)
		}
	}
	var copies []string
	for range 3 {
		copies = append(copies, bodies...)
	}
	rand.Shuffle(len(copies), func(i, j int) { copies[i], copies[j] = copies[j], copies[i] })
	b.send(t, copies)

	a := b.startAgent(t, "agent", agentConfig{})
	healed := b.waitHealed(t)
	b.waitDrained(t)

	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	if got := len(b.reviewsOf(t, agent.DetailCorrected)); got != 1 {
		t.Errorf("%d correction reviews, want 1", got)
	}
	if got := a.metric(t, "pullheal_revisions_registered_total"); got != 1 {
		t.Errorf("pullheal_revisions_registered_total = %v, want 1", got)
	}
	if got := a.metric(t, "pullheal_services_updated_total"); got != 1 {
		t.Errorf("pullheal_services_updated_total = %v, want 1", got)
	}
	// Every copy was handled, all but one as a duplicate.
	if got, want := a.metric(t, "pullheal_events_total", "cause", "rate-limit"), float64(len(copies)); got < want {
		t.Errorf("rate-limit events handled %v, want at least the %v copies sent", got, want)
	}
	if got, want := a.metric(t, "pullheal_events_total", "cause", "rate-limit", "outcome", "duplicate"), float64(len(copies)-1); got < want {
		t.Errorf("duplicates recognised %v, want at least %v", got, want)
	}
}

// TestManyTasksFailingTogetherYieldOneUpdate fails 50 tasks of one service
// at once: 50 events, one revision, one service update.
func TestManyTasksFailingTogetherYieldOneUpdate(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 50}})
	b.waitQueued(t, 50)
	a := b.startAgent(t, "agent", agentConfig{})
	healed := b.waitHealed(t)
	b.waitDrained(t)

	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	updates := 0
	for _, rv := range b.reviewsOf(t, agent.DetailCorrected) {
		if rv.ServiceUpdated {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("%d reviews report a service update, want 1", updates)
	}
	if got := a.metric(t, "pullheal_services_updated_total"); got != 1 {
		t.Errorf("pullheal_services_updated_total = %v, want 1", got)
	}
	if got := a.metric(t, "pullheal_events_total", "cause", "rate-limit"); got < 50 {
		t.Errorf("rate-limit events handled %v, want at least 50", got)
	}
	if st := b.service(t); st.Running != 50 {
		t.Errorf("service runs %d tasks, want 50", st.Running)
	}
}

// TestReplicasHealOnce runs three agent processes on one queue,
// coordinated by the lease table. A gate lines the three up: each holds
// messages of the failure and none reads the failing revision until all
// three are about to, so that they race for the same heal.
func TestReplicasHealOnce(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 10}})
	b.waitQueued(t, 10)
	g := newGate(t, b.env["AWS_ENDPOINT_URL"])
	lined := g.arm("DescribeTaskDefinition", barrier, 3)
	var replicas []*agentProc
	for _, holder := range []string{"replica-1", "replica-2", "replica-3"} {
		// Three workers each: no replica takes every message.
		replicas = append(replicas, b.startAgent(t, holder, agentConfig{
			holder: holder, lockTable: true, visibility: "2s", workers: "3", endpoint: g.URL()}))
	}
	select {
	case <-lined:
	case <-time.After(healTimeout):
		t.Fatal("the three replicas never all set out to heal the failure")
	}
	healed := b.waitHealed(t)
	b.waitDrained(t)

	if got := b.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	var registered, updated float64
	for _, r := range replicas {
		registered += r.metric(t, "pullheal_revisions_registered_total")
		updated += r.metric(t, "pullheal_services_updated_total")
	}
	if registered != 1 || updated != 1 {
		t.Errorf("replicas registered %v revisions and updated the service %v times, want 1 and 1", registered, updated)
	}
	corrected := b.reviewsOf(t, agent.DetailCorrected)
	if len(corrected) != 1 || !corrected[0].ServiceUpdated {
		t.Errorf("correction reviews %+v, want one that updated the service", corrected)
	}
}

// TestServiceMovedOnIsLeftAlone moves the service to a revision of the
// team's own after its tasks failed and before the agent runs: the agent
// must not roll it back onto a correction of the old revision.
func TestServiceMovedOnIsLeftAlone(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 2}})
	b.waitQueued(t, 2)

	// The team's own fix: nginx 1.26 through the cache.
	own := b.sc.TaskDefinition()
	own.ContainerDefinitions[0].Image = aws.String(b.registry + "/docker-hub/library/nginx:1.26")
	out, err := b.c.ECS.RegisterTaskDefinition(ctxT(t), own)
	if err != nil {
		t.Fatal(err)
	}
	mine := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	if _, err := b.c.ECS.UpdateService(ctxT(t), &ecs.UpdateServiceInput{
		Cluster: aws.String(b.sc.Cluster), Service: aws.String(b.sc.Service), TaskDefinition: aws.String(mine)}); err != nil {
		t.Fatal(err)
	}
	b.waitSteadyOn(t, b.sc, "the team's revision", func(arn string) bool { return arn == mine })

	a := b.startAgent(t, "agent", agentConfig{})
	var corrected []agent.Review
	eventually(t, healTimeout, "a correction review", func() (bool, string) {
		corrected = b.reviewsOf(t, agent.DetailCorrected)
		return len(corrected) > 0, fmt.Sprintf("%d reviews", len(b.reviews))
	})
	b.waitDrained(t)

	if st := b.service(t); st.TaskDefinition != mine || !st.Steady {
		t.Errorf("service %+v, want it steady on the team's %s", st, mine)
	}
	corrected = b.reviewsOf(t, agent.DetailCorrected)
	if len(corrected) != 1 {
		t.Fatalf("%d correction reviews, want 1: %+v", len(corrected), corrected)
	}
	rv := corrected[0]
	if rv.ServiceUpdated || !strings.Contains(rv.ServiceAction, "moved on") || !strings.Contains(rv.ServiceAction, mine) {
		t.Errorf("review says serviceUpdated=%v, %q; want no update because the service moved on to %s", rv.ServiceUpdated, rv.ServiceAction, mine)
	}
	// The correction of the failing revision is registered for its owner,
	// and only that one.
	gen := b.correctedRevisions(t)
	if len(gen) != 1 || gen[0] != rv.TaskDefinitionArn || tagMap(b.describe(t, gen[0]).Tags)["pullheal:source-revision"] != b.sc.TaskDefinitionArn {
		t.Errorf("generated revisions %v, want one correction of %s (the review names %q)", gen, b.sc.TaskDefinitionArn, rv.TaskDefinitionArn)
	}
	if got := a.metric(t, "pullheal_services_updated_total"); got != 0 {
		t.Errorf("pullheal_services_updated_total = %v, want 0", got)
	}
}

// TestOtherPullFailuresChangeNothing stops tasks for an image tag that does
// not exist, with the hub's budget untouched: not a rate limit, so the
// agent consumes the events and registers nothing.
func TestOtherPullFailuresChangeNothing(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{scenario: scenario.Options{Image: "nginx:0.0-missing", Desired: 2}})
	b.waitQueued(t, 2)
	for _, body := range b.peek(t, b.sc.QueueURL) {
		reason := parseStopEvent(t, body).Detail.StoppedReason
		if !strings.HasPrefix(reason, "CannotPull") || strings.Contains(reason, "429") || strings.Contains(reason, "toomanyrequests") {
			t.Fatalf("stop reason %q: want a pull failure that is not a rate limit", reason)
		}
	}

	a := b.startAgent(t, "agent", agentConfig{})
	eventually(t, healTimeout, "the agent ignoring the failures", func() (bool, string) {
		n := a.metric(t, "pullheal_events_total", "cause", "other", "outcome", "ignored")
		return n >= 2, fmt.Sprintf("%v ignored", n)
	})
	b.waitDrained(t)

	if revs := b.revisions(t); len(revs) != 1 || revs[0] != b.sc.TaskDefinitionArn {
		t.Errorf("revisions %v, want only %s", revs, b.sc.TaskDefinitionArn)
	}
	if st := b.service(t); st.TaskDefinition != b.sc.TaskDefinitionArn {
		t.Errorf("service moved to %s", st.TaskDefinition)
	}
	if got := a.metric(t, "pullheal_events_total", "cause", "rate-limit"); got != 0 {
		t.Errorf("%v events taken for rate limits", got)
	}
	if v, f := b.depth(t, b.sc.DLQURL); v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue", v+f)
	}
	if rvs := b.drainReviews(t); len(rvs) != 0 {
		t.Errorf("review events for an ignored failure: %+v", rvs)
	}
	if pc := b.pulls(t); pc.ByRepository["library/nginx"]["pullheal"] != 0 {
		t.Errorf("the cache pulled upstream for an ignored failure: %+v", pc)
	}
}

// TestPoisonMessageGoesToTheDLQ makes the hub refuse the cache's account
// too, for an image the cache has never fetched: the heal of that service
// fails the same way on every delivery, so its messages reach the
// dead-letter queue after maxReceiveCount receives, while a service whose
// image is already cached is healed meanwhile.
func TestPoisonMessageGoesToTheDLQ(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true, scenario: scenario.Options{Desired: 1, MaxReceiveCount: 2, Visibility: 2 * time.Second}})
	a := b.startAgent(t, "agent", agentConfig{visibility: "2s"})
	// The first heal brings nginx:1.27 into the cache.
	b.waitHealed(t)

	b.hub(t, "remaining", "identity", localaws.HubUser, "n", "0")
	api, apiTD := b.addService(t, "api", "redis:7.2", 1)
	shop, shopTD := b.addService(t, "shop", "nginx:1.27", 1)

	b.waitSteadyOn(t, shop, "a corrected revision", func(arn string) bool { return arn != shopTD })
	var dead []string
	eventually(t, healTimeout, "api's events in the dead-letter queue", func() (bool, string) {
		dead = append(dead, b.receiveAll(t, b.sc.DLQURL, true)...)
		return len(dead) > 0, "none"
	})

	for _, body := range dead {
		if ev := parseStopEvent(t, body); ev.Detail.Group != "service:api" {
			t.Errorf("dead-lettered an event of %s (%s), want only api's", ev.Detail.Group, ev.Detail.TaskDefinitionArn)
		}
	}
	revs, err := api.Revisions(ctxT(t), b.c)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0] != apiTD {
		t.Errorf("api revisions %v, want only %s", revs, apiTD)
	}
	if pc := b.pulls(t); pc.ThrottledByRepository["library/redis"][localaws.HubUser] == 0 {
		t.Errorf("the hub never refused the cache's redis pull: %+v", pc)
	}
	if got := a.metric(t, "pullheal_message_errors_total", "disposition", "left"); got < 2 {
		t.Errorf("%v messages left for redelivery, want at least 2 (one per receive)", got)
	}
	if !a.Running() {
		t.Fatal("the agent exited")
	}
	if code, _ := a.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d with a poison message cycling", code)
	}
	if got := a.metric(t, "pullheal_services_updated_total"); got != 2 {
		t.Errorf("pullheal_services_updated_total = %v, want 2 (web and shop)", got)
	}
}
