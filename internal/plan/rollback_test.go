package plan_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
)

// ecrFailedEvent is the Fargate sample with its container's image moved
// to ECR and its pull from there failed with status.
func ecrFailedEvent(t *testing.T, status string) *ecsevent.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events", "fargate-rate-limited.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	image := decideRegistry + "/docker-hub/library/nginx:1.27"
	reason := "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref " + image +
		": unexpected status from HEAD request to https://" + decideRegistry + "/v2/docker-hub/library/nginx/manifests/1.27: " + status
	d := m["detail"].(map[string]any)
	d["stoppedReason"] = reason
	for _, c := range d["containers"].([]any) {
		c.(map[string]any)["image"] = image
		c.(map[string]any)["reason"] = reason
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ecsevent.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestPullFromECRFailed: a pull from ECR that failed rolls back a revision
// pullheal generated, and is none of pullheal's business otherwise; on the
// event alone the verdict is a rollback with the generation unchecked, so
// that the agent reads the revision.
func TestPullFromECRFailed(t *testing.T) {
	ev := ecrFailedEvent(t, "403 Forbidden")
	cases := []struct {
		name, taskdef string
		want          plan.Verdict
		unchecked     bool
	}{
		{"event alone", "", plan.RollBack, true},
		{"generated revision", "web-fargate-generated.json", plan.RollBack, false},
		{"the workload's own revision", "web-fargate.json", plan.Ignore, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan.Decide(plan.Input{Event: ev, TaskDefinition: readTaskDef(t, tc.taskdef)})
			if p.Verdict != tc.want {
				t.Fatalf("verdict %s (%s), want %s", p.Verdict, p.Reason, tc.want)
			}
			if got := strings.Contains(strings.Join(p.Unchecked, "\n"), plan.UncheckedGeneration); got != tc.unchecked {
				t.Errorf("generation unchecked: %v, want %v (%v)", got, tc.unchecked, p.Unchecked)
			}
			if tc.want == plan.RollBack && !strings.Contains(p.Reason, "403") {
				t.Errorf("reason %q does not carry ECS's", p.Reason)
			}
		})
	}
	// The cache's upstream still refusing is a failure from ECR too: the
	// generated revision is rolled back, never healed again.
	limited := ecrFailedEvent(t, "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.")
	if p := plan.Decide(plan.Input{Event: limited, TaskDefinition: readTaskDef(t, "web-fargate-generated.json")}); p.Verdict != plan.RollBack {
		t.Errorf("upstream refusing through the cache: verdict %s (%s), want %s", p.Verdict, p.Reason, plan.RollBack)
	}
}

// TestTransientPullFromECRIsNoRollback: ECR's own throttling, a 5xx or a
// network error says nothing against the generated revision; rolling the
// service back to the rate-limited source for it would undo a heal that
// works. The event is ignored, on its own and with the generated revision.
func TestTransientPullFromECRIsNoRollback(t *testing.T) {
	for _, status := range []string{
		"429 Too Many Requests - Server message: toomanyrequests: Rate exceeded",
		"503 Service Unavailable",
		"dial tcp 10.0.3.7:443: i/o timeout",
	} {
		ev := ecrFailedEvent(t, status)
		for _, td := range []string{"", "web-fargate-generated.json"} {
			p := plan.Decide(plan.Input{Event: ev, TaskDefinition: readTaskDef(t, td)})
			if p.Verdict != plan.Ignore || !strings.Contains(p.Reason, "not a rate limit") {
				t.Errorf("%s, revision %q: verdict %s (%s), want %s", status, td, p.Verdict, p.Reason, plan.Ignore)
			}
		}
	}
}

// TestRelayedLimitIsNotUnattributed: a Fargate task whose one container,
// on a pull-through path, carries Docker Hub's wording relayed by the
// cache (no host in the text) has its task reason given to that container:
// it is a failure from ECR, never taken for a rate limit that names no
// container, even when the revision cannot be read.
func TestRelayedLimitIsNotUnattributed(t *testing.T) {
	ev := ecrFailedEvent(t, "")
	reason := "CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
	ev.Task.StoppedReason = reason
	for i := range ev.Task.Containers {
		ev.Task.Containers[i].Reason = reason
	}
	p := plan.Decide(plan.Input{Event: ev, TaskDefinitionError: errors.New("describe: gone")})
	if p.Verdict != plan.Ignore {
		t.Errorf("verdict %s (%s), want %s", p.Verdict, p.Reason, plan.Ignore)
	}
	if p := plan.Decide(plan.Input{Event: ev, TaskDefinition: readTaskDef(t, "web-fargate-generated.json")}); p.Verdict != plan.RollBack {
		t.Errorf("generated revision: verdict %s (%s), want %s", p.Verdict, p.Reason, plan.RollBack)
	}
}
