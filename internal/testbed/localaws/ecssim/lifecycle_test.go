package ecssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func TestSnapshotRestoreSurvivesRestart(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	pb.hub.setFault("library/nginx", dockerHub429)
	td := register(t, pb.client, fargateTaskDef("web", "nginx:1.27"))
	if _, err := pb.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc, Tags: []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}); err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	var snap bytes.Buffer
	if err := pb.ecs.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	_, beforeBody := pb.raw(t, "DescribeServices", []byte(`{"cluster":"prod","services":["web"],"include":["TAGS"]}`))

	// A new stand-in on the same clock, restored from the snapshot.
	e, err := ecssim.New(ecssim.Config{Clock: pb.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored := bedFor(t, e, pb.clock, &recorder{})
	_, afterBody := restored.raw(t, "DescribeServices", []byte(`{"cluster":"prod","services":["web"],"include":["TAGS"]}`))
	if diff := cmp.Diff(string(beforeBody), string(afterBody)); diff != "" {
		t.Errorf("DescribeServices differs after restore (-before +after):\n%s", diff)
	}
	// Revisions continue where they were.
	if arn := register(t, restored.client, fargateTaskDef("web", "nginx:1.28")); !strings.HasSuffix(arn, "task-definition/web:2") {
		t.Errorf("next revision after restore: %s", arn)
	}
	// The stopped task is still there.
	stopped, err := restored.client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(stopped.TaskArns) != 1 {
		t.Errorf("stopped tasks after restore: %v %v", err, stopped)
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	e, err := ecssim.New(ecssim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	good := func(state string) string {
		return `{"version":1,"account":"123456789012","region":"us-east-1","state":` + state + `}`
	}
	cases := []struct{ name, in, want string }{
		{"not JSON", `{"version":`, "restore ecs: decode snapshot"},
		{"other version", `{"version":7,"account":"123456789012","region":"us-east-1","state":{}}`, "snapshot version 7, want 1"},
		{"other account", `{"version":1,"account":"210987654321","region":"us-east-1","state":{}}`, "snapshot is of account 210987654321 in us-east-1"},
		{"no state", `{"version":1,"account":"123456789012","region":"us-east-1"}`, "snapshot has no state"},
		{"null family", good(`{"families":{"web":null}}`), `family "web": missing or misnamed`},
		{"revisions out of order", good(`{"families":{"web":{"name":"web","revisions":[{"family":"web","revision":2,"doc":{}}]}}}`), `family "web": revision 1 is missing or out of order`},
		{"service without deployment", good(`{"clusters":{"prod":{"name":"prod","services":{"web":{"name":"web","cluster":"prod","deployments":[]}}}}}`), "service prod/web: missing, misnamed or without a deployment"},
		{"task without its id", good(`{"clusters":{"prod":{"name":"prod","tasks":{"abc":{"id":"xyz","cluster":"prod"}}}}}`), "task prod/abc: missing or misnamed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Restore(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("restore: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  ecssim.Config
		want string
	}{
		{"short account", ecssim.Config{Account: "1234"}, `ecssim config: account "1234" is not 12 digits`},
		{"bad region", ecssim.Config{Region: "Mars"}, `ecssim config: region "Mars" is not a region name such as us-east-1`},
		{"negative delay", ecssim.Config{RestartDelay: -time.Second}, "ecssim config: durations must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ecssim.New(tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{Hosts: map[string]string{"docker.io": "127.0.0.1:5000"}}); err == nil ||
		err.Error() != `registry puller: host "docker.io" maps to "127.0.0.1:5000", which is not an http(s) base URL` {
		t.Errorf("puller with a bare address: %v", err)
	}
}

func TestRunLoopSchedulesUntilCancelled(t *testing.T) {
	pb := newPullBed(t)
	td := register(t, pb.client, fargateTaskDef("web", "busybox:1.36"))
	run, err := pb.client.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pb.ecs.Run(ctx, 5*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for aws.ToString(pb.describeTask(t, aws.ToString(run.Tasks[0].TaskArn)).LastStatus) != "RUNNING" {
		if time.Now().After(deadline) {
			t.Fatal("the run loop did not start the task")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if err := pb.ecs.Run(context.Background(), 0); err == nil {
		t.Error("run with a zero interval did not fail")
	}
}

// TestConcurrentAPICallsAndTicks exercises the locking under the race
// detector: API calls from many goroutines while rounds run.
func TestConcurrentAPICallsAndTicks(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	td := register(t, pb.client, fargateTaskDef("web", "busybox:1.36"))
	if _, err := pb.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2), NetworkConfiguration: awsvpc,
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := pb.client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc}); err != nil {
					errs <- err
				}
				if _, err := pb.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(int32(1 + (w+i)%3))}); err != nil {
					errs <- err
				}
				if _, err := pb.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}); err != nil {
					errs <- err
				}
				var snap bytes.Buffer
				if err := pb.ecs.Snapshot(&snap); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := pb.ecs.Tick(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pb.tick(t)
	pb.tick(t)
	svc := pb.service(t, "web")
	if svc.RunningCount != svc.DesiredCount {
		t.Errorf("after settling: running %d, desired %d", svc.RunningCount, svc.DesiredCount)
	}
}

// failingPublisher fails every delivery.
type failingPublisher struct{}

func (failingPublisher) PublishEvent(context.Context, wire.Event) error {
	return fmt.Errorf("bus unavailable")
}

func TestTickReportsEventDeliveryFailures(t *testing.T) {
	e, err := ecssim.New(ecssim.Config{Events: failingPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	b := bedFor(t, e, nil, nil)
	b.createCluster(t, "prod")
	in := fargateTaskDef("web", "127.0.0.1:1/nothing:1")
	td := register(t, b.client, in)
	// RunTask succeeds although its event cannot be delivered.
	if _, err := b.client.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc}); err != nil {
		t.Fatalf("run task: %v", err)
	}
	err = e.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), "publish ECS Task State Change for arn:aws:ecs:us-east-1:123456789012:task/prod/") || !strings.Contains(err.Error(), "bus unavailable") {
		t.Errorf("tick: %v", err)
	}
}

func TestEventDetailMatchesFixtureShape(t *testing.T) {
	// The members of a real Fargate STOPPED event (FACTS.md samples) are
	// all present in the stand-in's event for the same situation.
	pb := newPullBed(t)
	pb.hub.setFault("library/nginx", dockerHub429)
	td := register(t, pb.client, fargateTaskDef("web", "nginx:1.27"))
	run, err := pb.client.RunTask(context.Background(), &ecs.RunTaskInput{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc, StartedBy: aws.String("events-rule/nightly"),
	})
	if err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	evs := pb.events.forResource(aws.ToString(run.Tasks[0].TaskArn))
	var got map[string]any
	if err := json.Unmarshal(evs[len(evs)-1].Detail, &got); err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Detail map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(readFile(t, "fargate-rate-limited.event.json"), &sample); err != nil {
		t.Fatal(err)
	}
	for k, v := range sample.Detail {
		if _, ok := got[k]; !ok {
			t.Errorf("event detail lacks %s (sample: %v)", k, v)
		}
	}
	gotC := got["containers"].([]any)[0].(map[string]any)
	for k := range sample.Detail["containers"].([]any)[0].(map[string]any) {
		if _, ok := gotC[k]; !ok {
			t.Errorf("event container lacks %s", k)
		}
	}
}
