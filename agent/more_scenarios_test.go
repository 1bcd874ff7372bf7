package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestTruncatedReasonIsReadAgain: an event whose reasons were cut before
// anything tells the cause is healed after DescribeTasks gives the full
// reason; without that read it would be ignored.
func TestTruncatedReasonIsReadAgain(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1})
	body := b.failTasks(t, 1)[0]
	b.srv.Hub.Reset() // no further failures: the cut event is the only one
	var ev map[string]any
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	const cut = "CannotPullContainerError: ref pull has been retr..."
	detail := ev["detail"].(map[string]any)
	detail["stoppedReason"] = cut
	for _, c := range detail["containers"].([]any) {
		c.(map[string]any)["reason"] = cut
	}
	truncated, _ := json.Marshal(ev)
	b.send(t, string(truncated))
	o := b.options("r1")
	stop := b.runAgents(t, o)
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.TaskArn != detail["taskArn"] {
		t.Errorf("healed task %s, want the truncated event's %s", rv.TaskArn, detail["taskArn"])
	}
}

// TestAllDockerHubContainers: with heal.containers all-docker-hub, the
// sidecar that did not fail yet is moved too; by default only the failed
// container is.
func TestAllDockerHubContainers(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   map[string]bool // container -> moved to ECR
	}{
		{"version: 1\n", map[string]bool{"web": true, "sidecar": false}},
		{"version: 1\nheal:\n  containers: all-docker-hub\n", map[string]bool{"web": true, "sidecar": true}},
	} {
		b := newBed(t, scenario.Options{Desired: 1, Sidecar: "redis:7.2"})
		// The event says only web failed (the sidecar's image was there
		// already); later launches pull fine.
		body := b.failTasks(t, 1)[0]
		b.srv.Hub.Reset()
		var ev map[string]any
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatal(err)
		}
		for _, c := range ev["detail"].(map[string]any)["containers"].([]any) {
			if c := c.(map[string]any); c["name"] == "sidecar" {
				delete(c, "reason")
			}
		}
		edited, _ := json.Marshal(ev)
		b.send(t, string(edited))
		o := b.options("r1")
		o.Policy = loadPolicy(t, tc.policy)
		stop := b.runAgents(t, o)
		rv := b.waitReview(t, agent.DetailCorrected)
		stop()
		td, err := b.c.ECS.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(rv.TaskDefinitionArn)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range td.TaskDefinition.ContainerDefinitions {
			moved := strings.HasPrefix(aws.ToString(c.Image), b.srv.RegistryHost()+"/docker-hub/")
			if moved != tc.want[aws.ToString(c.Name)] {
				t.Errorf("policy %q: container %s image %s, moved %v, want %v", tc.policy, aws.ToString(c.Name), aws.ToString(c.Image), moved, tc.want[aws.ToString(c.Name)])
			}
		}
	}
}

func TestCodeDeployServiceIsProposedNotUpdated(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1, DeploymentController: ecstypes.DeploymentControllerTypeCodeDeploy})
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.ServiceUpdated || !strings.Contains(rv.ServiceAction, "CODE_DEPLOY") || rv.TaskDefinitionArn == "" {
		t.Errorf("review %+v, want a registered revision proposed for CODE_DEPLOY", rv)
	}
}

func TestStandaloneTaskIsRegisteredAndReported(t *testing.T) {
	b := newBed(t, scenario.Options{NoService: true})
	if _, err := b.c.ECS.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String(b.sc.Cluster), TaskDefinition: aws.String(b.sc.TaskDefinitionArn),
		LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: b.sc.Network()}); err != nil {
		t.Fatal(err)
	}
	stop := b.runAgents(t, b.options("r1"))
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.ServiceUpdated || rv.Service != "" || !strings.Contains(rv.ServiceAction, "not started by a service") || rv.TaskDefinitionArn == "" {
		t.Errorf("review %+v, want a registered revision and no service action", rv)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1})
	b.failTasks(t, 1) // and drop them: the next ones are the dry run's
	o := b.options("r1")
	o.DryRun = true
	stop := b.runAgents(t, o)
	time.Sleep(300 * time.Millisecond) // tasks keep failing and events keep coming
	b.waitDrained(t)
	stop()
	if revs := b.revisions(t); len(revs) != 1 {
		t.Errorf("revisions %v, want none added", revs)
	}
	if rs := b.reviews(t); len(rs) != 0 {
		t.Errorf("review events %v, want none", rs)
	}
}
