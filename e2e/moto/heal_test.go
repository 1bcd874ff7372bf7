//go:build e2emoto

package moto

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

// TestHealsAService is the loop against moto: one rate-limited stop of the
// service's task; the agent registers a corrected revision that keeps
// every other field, rolls the service onto it, deletes the message and
// reports the heal on its review bus, whose rule delivers it to a queue.
// The agent coordinates through a DynamoDB lease table, as replicas do.
func TestHealsAService(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "heal", worldConfig{})
	pushCached(t, "library/nginx", "1.27")
	// The team redeployed with the short FAMILY:REVISION form the CLI
	// takes; moto then reports the service's revision in that form.
	if _, err := w.c.ECS.UpdateService(ctxT(t), &ecs.UpdateServiceInput{Cluster: aws.String(w.cluster), Service: aws.String(w.service),
		TaskDefinition: aws.String(ecsarn.Name(w.source)), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	table := w.leaseTable(t)
	a := w.startAgent(t, "agent", "--lock-table", table, "--holder", "agent-1")
	w.send(t, w.stopEvent("stopped-rate-limited.json"))

	healed := w.waitServiceMoved(t)
	w.waitDrained(t)

	if got := w.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Fatalf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	src, dst := w.describe(t, w.source), w.describe(t, healed)
	want := target("library/nginx", "1.27")
	if got := aws.ToString(dst.TaskDefinition.ContainerDefinitions[0].Image); got != want {
		t.Errorf("corrected web image %q, want %q", got, want)
	}
	checkRich(t, src.TaskDefinition)
	if diff := cmp.Diff(fieldsOf(t, src.TaskDefinition, ""), fieldsOf(t, dst.TaskDefinition, w.image)); diff != "" {
		t.Errorf("the corrected revision changed more than the web image (-source +corrected):\n%s", diff)
	}
	tags := tagMap(dst.Tags)
	for k, v := range tagMap(src.Tags) {
		if tags[k] != v {
			t.Errorf("tag %s = %q on the corrected revision, want the source's %q", k, tags[k], v)
		}
	}
	if tags["pullheal:source-revision"] != w.source || tags["pullheal:generation"] != "1" || tags["pullheal:rewrite-id"] == "" {
		t.Errorf("corrected revision's tags %v lack pullheal's provenance", tags)
	}
	if n := len(tags) - len(src.Tags); n != 4 {
		t.Errorf("corrected revision has %d tags more than its source, want the 4 pullheal tags: %v", n, tags)
	}

	corrected := w.reviewsOf(t, agent.DetailCorrected)
	if len(corrected) != 1 {
		t.Fatalf("%d %q review events, want 1 (all: %+v)", len(corrected), agent.DetailCorrected, w.reviews)
	}
	rv := corrected[0]
	if rv.TaskDefinitionArn != healed || rv.SourceTaskDefinitionArn != w.source || !rv.ServiceUpdated || rv.Service != w.service ||
		rv.RewriteID != tags["pullheal:rewrite-id"] || len(rv.Images) != 1 || rv.Images[0].Route != "pull-through" || rv.Images[0].To != want {
		t.Errorf("review %+v does not describe the heal of %s to %s", rv, w.source, healed)
	}
	for name, want := range map[string]float64{"pullheal_revisions_registered_total": 1, "pullheal_services_updated_total": 1} {
		if got := a.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if v, f := w.depth(t, w.dlqURL); v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue", v+f)
	}
	lease, err := w.c.Dynamo.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: rv.RewriteID}}})
	if err != nil {
		t.Fatal(err)
	}
	if phase, rev := lease.Item["phase"], lease.Item["revision"]; !reflect.DeepEqual(phase, &ddbtypes.AttributeValueMemberS{Value: "done"}) ||
		!reflect.DeepEqual(rev, &ddbtypes.AttributeValueMemberS{Value: healed}) {
		t.Errorf("lease %s: phase %v, revision %v; want done and %s", rv.RewriteID, phase, rev, healed)
	}
}

// checkRich fails the test if moto dropped a field of testdata/taskdef.json
// from the source revision: the comparison with the corrected revision would
// then prove nothing about that field.
func checkRich(t *testing.T, td *ecstypes.TaskDefinition) {
	t.Helper()
	web := td.ContainerDefinitions[0]
	for what, ok := range map[string]bool{
		"taskRoleArn": td.TaskRoleArn != nil, "executionRoleArn": td.ExecutionRoleArn != nil,
		"pidMode": td.PidMode != "", "ipcMode": td.IpcMode != "", "runtimePlatform": td.RuntimePlatform != nil,
		"placementConstraints": len(td.PlacementConstraints) == 1, "volumes": len(td.Volumes) == 2,
		"proxyConfiguration": td.ProxyConfiguration != nil, "cpu and memory": td.Cpu != nil && td.Memory != nil,
		"three containers": len(td.ContainerDefinitions) == 3, "web healthCheck": web.HealthCheck != nil,
		"web secrets": len(web.Secrets) == 1, "web logConfiguration": web.LogConfiguration != nil,
		"web dependsOn": len(web.DependsOn) == 1, "web ulimits": len(web.Ulimits) == 1,
		"web linuxParameters": web.LinuxParameters != nil, "web mountPoints": len(web.MountPoints) == 2,
	} {
		if !ok {
			t.Errorf("the source revision as moto describes it lacks %s", what)
		}
	}
}

// fieldsOf is a revision as JSON, without what every registration sets
// anew, and with the web container's image set to image when given.
func fieldsOf(t *testing.T, td *ecstypes.TaskDefinition, image string) map[string]any {
	t.Helper()
	c := *td
	c.ContainerDefinitions = append([]ecstypes.ContainerDefinition(nil), td.ContainerDefinitions...)
	if image != "" {
		c.ContainerDefinitions[0].Image = aws.String(image)
	}
	c.TaskDefinitionArn, c.Revision, c.RegisteredAt, c.RegisteredBy = nil, 0, nil, nil
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDuplicateDeliveriesYieldOneRevision delivers the stops of two tasks
// of the service several times, shuffled, as SQS's at-least-once delivery
// may; then delivers one again to a new agent process that remembers
// nothing, which must find the corrected revision among the family's
// instead of registering another.
func TestDuplicateDeliveriesYieldOneRevision(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "duplicates", worldConfig{})
	pushCached(t, "library/nginx", "1.27")
	first, second := w.stopEvent("stopped-rate-limited.json"), w.stopEvent("stopped-rate-limited.json")
	copies := []string{first, first, first, second, second}
	rand.Shuffle(len(copies), func(i, j int) { copies[i], copies[j] = copies[j], copies[i] })
	a1 := w.startAgent(t, "agent-1")
	w.send(t, copies...)

	healed := w.waitServiceMoved(t)
	w.waitDrained(t)
	if got := w.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Fatalf("corrected revisions %v, want exactly [%s]", got, healed)
	}
	if got := a1.metric(t, "pullheal_revisions_registered_total"); got != 1 {
		t.Errorf("agent-1 registered %v revisions, want 1", got)
	}
	// At least: SQS may deliver a copy more than once.
	if got, want := a1.metric(t, "pullheal_events_total", "cause", "rate-limit", "outcome", "duplicate"), float64(len(copies)-1); got < want {
		t.Errorf("agent-1 recognised %v duplicates, want at least %v", got, want)
	}

	a1.Kill()
	a2 := w.startAgent(t, "agent-2")
	w.send(t, first)
	eventually(t, healTimeout, "agent-2 handling the late copy", func() (bool, string) {
		n := a2.metric(t, "pullheal_events_total", "cause", "rate-limit")
		return n >= 1, "none"
	})
	w.waitDrained(t)

	if got := w.correctedRevisions(t); len(got) != 1 || got[0] != healed {
		t.Errorf("corrected revisions after the late copy %v, want still exactly [%s]", got, healed)
	}
	if got := w.serviceRevision(t); !sameRevision(got, healed) {
		t.Errorf("service on %s, want %s", got, healed)
	}
	if got := a2.metric(t, "pullheal_revisions_registered_total") + a2.metric(t, "pullheal_services_updated_total"); got != 0 {
		t.Errorf("agent-2 registered or updated %v times, want 0", got)
	}
	if regs := a2.Logs(func(l proctest.LogLine) bool { return l.Msg() == "registered corrected revision" }); len(regs) != 0 {
		t.Errorf("agent-2 registered a revision: %v", regs)
	}
	updates := 0
	for _, rv := range w.reviewsOf(t, agent.DetailCorrected) {
		if rv.TaskDefinitionArn != healed {
			t.Errorf("a review names %s, want %s", rv.TaskDefinitionArn, healed)
		}
		if rv.ServiceUpdated {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("%d reviews report a service update, want 1", updates)
	}
}

// TestRegisteredButNotDeployed covers the two ways a heal stops at the
// revision: the policy's propose mode, and a service that CodeDeploy
// deploys. The revision is registered and proposed; the service is left
// on the failing one.
func TestRegisteredButNotDeployed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    worldConfig
		action string
	}{
		{"propose", worldConfig{propose: true}, "the policy's update mode is propose"},
		{"codedeploy", worldConfig{controller: ecstypes.DeploymentControllerTypeCodeDeploy}, "deployment controller is CODE_DEPLOY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.name, tc.cfg)
			pushCached(t, "library/nginx", "1.27")
			a := w.startAgent(t, "agent")
			w.send(t, w.stopEvent("stopped-rate-limited.json"))

			rv := w.waitReview(t, agent.DetailCorrected)
			w.waitDrained(t)
			gen := w.correctedRevisions(t)
			if len(gen) != 1 || rv.TaskDefinitionArn != gen[0] {
				t.Fatalf("corrected revisions %v, want exactly the reviewed %q", gen, rv.TaskDefinitionArn)
			}
			if got := aws.ToString(w.describe(t, gen[0]).TaskDefinition.ContainerDefinitions[0].Image); got != target("library/nginx", "1.27") {
				t.Errorf("proposed revision's web image %q", got)
			}
			if got := w.serviceRevision(t); !sameRevision(got, w.source) {
				t.Errorf("service moved to %s, want it left on %s", got, w.source)
			}
			if rv.ServiceUpdated || !strings.HasPrefix(rv.ServiceAction, "proposed:") || !strings.Contains(rv.ServiceAction, tc.action) {
				t.Errorf("review says serviceUpdated=%v, %q; want a proposal because %s", rv.ServiceUpdated, rv.ServiceAction, tc.action)
			}
			if got := a.metric(t, "pullheal_services_updated_total"); got != 0 {
				t.Errorf("pullheal_services_updated_total = %v, want 0", got)
			}
		})
	}
}

// TestPreflightFailureRegistersNothing stops a task of an image the cache
// cannot serve (the registry has no docker-hub/library/redis): no revision,
// the service untouched, a "Healing Failed" review that says why, and the
// message deleted, since another delivery would fail the same way.
func TestPreflightFailureRegistersNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "preflight", worldConfig{image: "redis:7.2"})
	a := w.startAgent(t, "agent")
	w.send(t, w.stopEvent("stopped-rate-limited.json"))

	rv := w.waitReview(t, agent.DetailFailed)
	w.waitDrained(t)
	if got := w.correctedRevisions(t); len(got) != 0 {
		t.Errorf("revisions registered: %v", got)
	}
	if got := w.serviceRevision(t); !sameRevision(got, w.source) {
		t.Errorf("service moved to %s", got)
	}
	if !strings.Contains(rv.Reason, "could not serve redis:7.2") || len(rv.Images) != 1 || rv.Images[0].To != target("library/redis", "7.2") ||
		!strings.Contains(rv.Images[0].Reason, "preflight") {
		t.Errorf("review %+v does not say that the preflight of %s failed", rv, target("library/redis", "7.2"))
	}
	if got := a.metric(t, "pullheal_events_total", "cause", "rate-limit", "outcome", "failed"); got != 1 {
		t.Errorf("failed heals %v, want 1", got)
	}
	if v, f := w.depth(t, w.dlqURL); v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue", v+f)
	}
}

// TestOtherStopIsLeftAlone delivers a stop that is a pull failure but not a
// rate limit (access denied): the agent deletes the message and touches
// nothing.
func TestOtherStopIsLeftAlone(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "other", worldConfig{})
	a := w.startAgent(t, "agent")
	w.send(t, w.stopEvent("stopped-access-denied.json"))

	eventually(t, healTimeout, "the agent ignoring the stop", func() (bool, string) {
		n := a.metric(t, "pullheal_events_total", "cause", "other", "outcome", "ignored")
		return n >= 1, "not yet"
	})
	w.waitDrained(t)
	if got := w.correctedRevisions(t); len(got) != 0 {
		t.Errorf("revisions registered: %v", got)
	}
	if got := w.serviceRevision(t); !sameRevision(got, w.source) {
		t.Errorf("service moved to %s", got)
	}
	if got := a.metric(t, "pullheal_events_total", "cause", "rate-limit"); got != 0 {
		t.Errorf("%v events taken for rate limits", got)
	}
	if n := len(w.reviewsOf(t, agent.DetailCorrected)) + len(w.reviewsOf(t, agent.DetailSkipped)) + len(w.reviewsOf(t, agent.DetailFailed)); n != 0 || len(w.reviews) != 0 {
		t.Errorf("review events for a stop left alone: %+v", w.reviews)
	}
	if v, f := w.depth(t, w.dlqURL); v+f != 0 {
		t.Errorf("%d messages in the dead-letter queue", v+f)
	}
}
