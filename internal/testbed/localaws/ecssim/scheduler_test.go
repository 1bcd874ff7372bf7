package ecssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
)

const (
	ecrHost   = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	ecrDenied = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
	ecrToken  = "AWS:ecr-token"
)

// dockerHub429 is Docker Hub's answer when the pull rate limit is reached.
var dockerHub429 = fault{
	On:      "digest",
	Status:  429,
	Headers: map[string]string{"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"},
	Body:    `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}`,
}

// pullBed is a test bed whose tasks pull from two in-process registries:
// one standing in for Docker Hub (anonymous) and one for ECR (Basic auth
// with the token the execution role would get).
type pullBed struct {
	*bed
	hub, ecr *testRegistry
	digests  map[string]string // "registry/repo:tag" -> digest
}

func newPullBed(t *testing.T) *pullBed {
	t.Helper()
	hub := newTestRegistry(t, "")
	ecrReg := newTestRegistry(t, ecrToken)
	puller, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{
		Hosts: map[string]string{"docker.io": hub.srv.URL, ecrHost: ecrReg.srv.URL, ecrDenied: ecrReg.srv.URL},
		ECRCredentials: func(_ context.Context, host, _ string) (string, string, error) {
			if host == ecrDenied {
				return "", "", errors.New("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/task is not authorized to perform: ecr:GetAuthorizationToken on resource: *")
			}
			user, pass, _ := strings.Cut(ecrToken, ":")
			return user, pass, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pb := &pullBed{bed: newBed(t, puller), hub: hub, ecr: ecrReg, digests: map[string]string{}}
	pb.createCluster(t, "prod")
	for _, rt := range []string{"library/nginx:1.27", "bitnami/redis:7.2", "myorg/private-app:3", "library/busybox:1.36", "library/busybox:1.37"} {
		img, err := random.Image(256, 2)
		if err != nil {
			t.Fatal(err)
		}
		pb.digests["hub/"+rt] = hub.push(t, rt, img)
	}
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
	})
	pb.digests["hub/library/amd64only:1"] = hub.push(t, "library/amd64only:1", idx)
	img, err = random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	pb.digests["ecr/docker-hub/library/nginx:1.27"] = ecrReg.push(t, "docker-hub/library/nginx:1.27", img)
	return pb
}

func (pb *pullBed) describeTask(t *testing.T, arn string) ecstypes.Task {
	t.Helper()
	out, err := pb.client.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}})
	if err != nil {
		t.Fatalf("describe tasks: %v", err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("describe %s: %d tasks, failures %v", arn, len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

func (pb *pullBed) listTasks(t *testing.T, in *ecs.ListTasksInput) []string {
	t.Helper()
	in.Cluster = aws.String("prod")
	out, err := pb.client.ListTasks(context.Background(), in)
	if err != nil {
		t.Fatalf("list tasks: %v", err)
	}
	return out.TaskArns
}

func (pb *pullBed) service(t *testing.T, name string) ecstypes.Service {
	t.Helper()
	out, err := pb.client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name}})
	if err != nil {
		t.Fatalf("describe services: %v", err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("describe service %s: failures %v", name, out.Failures)
	}
	return out.Services[0]
}

func TestPullFailuresStopTasksWithECSText(t *testing.T) {
	var cases []struct {
		Name                string `json:"name"`
		Registry            string `json:"registry"`
		Repo                string `json:"repo"`
		Image               string `json:"image"`
		LaunchType          string `json:"launchType"`
		ExecutionRole       bool   `json:"executionRole"`
		NotRequiresFargate  bool   `json:"notRequiresFargate"`
		Arch                string `json:"arch"`
		Fault               *fault `json:"fault"`
		WantContainerReason string `json:"wantContainerReason"`
		WantTaskReason      string `json:"wantTaskReason"`
	}
	if err := json.Unmarshal(readFile(t, "pull-failures.json"), &cases); err != nil {
		t.Fatal(err)
	}
	pb := newPullBed(t)
	ctx := context.Background()
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			reg := map[string]*testRegistry{"hub": pb.hub, "ecr": pb.ecr}[tc.Registry]
			if tc.Fault != nil {
				reg.setFault(tc.Repo, *tc.Fault)
				t.Cleanup(func() { reg.setFault(tc.Repo, fault{}) })
			}
			in := &ecs.RegisterTaskDefinitionInput{
				Family:               aws.String("case" + string(rune('a'+i))),
				ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(tc.Image), Memory: aws.Int32(256)}},
				NetworkMode:          ecstypes.NetworkModeBridge,
			}
			run := &ecs.RunTaskInput{Cluster: aws.String("prod"), LaunchType: ecstypes.LaunchType(tc.LaunchType)}
			if tc.LaunchType == "FARGATE" {
				in.NetworkMode, in.Cpu, in.Memory = ecstypes.NetworkModeAwsvpc, aws.String("256"), aws.String("512")
				if !tc.NotRequiresFargate {
					in.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
				}
				run.NetworkConfiguration = awsvpc
			}
			if tc.ExecutionRole {
				in.ExecutionRoleArn = aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
			}
			if tc.Arch != "" {
				in.RuntimePlatform = &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitecture(tc.Arch), OperatingSystemFamily: ecstypes.OSFamilyLinux}
			}
			run.TaskDefinition = aws.String(register(t, pb.client, in))
			out, err := pb.client.RunTask(ctx, run)
			if err != nil {
				t.Fatalf("run task: %v", err)
			}
			arn := aws.ToString(out.Tasks[0].TaskArn)
			pb.tick(t)

			task := pb.describeTask(t, arn)
			digest := pb.digests[tc.Registry+"/"+tc.Repo+":"+tc.Image[strings.LastIndex(tc.Image, ":")+1:]]
			wantContainer := strings.ReplaceAll(tc.WantContainerReason, "{digest}", digest)
			wantTask := wantContainer
			if tc.WantTaskReason != "" {
				wantTask = tc.WantTaskReason
			}
			got := map[string]string{
				"lastStatus": aws.ToString(task.LastStatus), "desiredStatus": aws.ToString(task.DesiredStatus),
				"stopCode": string(task.StopCode), "stoppedReason": aws.ToString(task.StoppedReason),
				"containerStatus": aws.ToString(task.Containers[0].LastStatus), "containerReason": aws.ToString(task.Containers[0].Reason),
			}
			want := map[string]string{
				"lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "TaskFailedToStart", "stoppedReason": wantTask,
				"containerStatus": "STOPPED", "containerReason": wantContainer,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stopped task (-want +got):\n%s", diff)
			}
		})
	}
}

var isoRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

var timestampMembers = []string{"createdAt", "connectivityAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "executionStoppedAt", "stoppedAt"}

func TestRateLimitedServiceStopsTasksAndPublishesEvents(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	pb.hub.setFault("library/nginx", dockerHub429)
	tdArn := register(t, pb.client, fargateTaskDef("web", "nginx:1.27"))
	_, err := pb.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(tdArn),
		DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc,
	})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	gets := pb.hub.gets()
	pb.tick(t)
	if n := pb.hub.gets() - gets; n != 1 {
		t.Errorf("a failed launch made %d manifest GETs, want 1 (the HEAD is free)", n)
	}

	stopped := pb.listTasks(t, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped, ServiceName: aws.String("web")})
	if len(stopped) != 1 {
		t.Fatalf("stopped tasks: %v", stopped)
	}
	arn := stopped[0]
	task := pb.describeTask(t, arn)
	svc := pb.service(t, "web")
	wantReason := "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/" +
		pb.digests["hub/library/nginx:1.27"] + ": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
	if got := aws.ToString(task.StoppedReason); got != wantReason {
		t.Errorf("stoppedReason\n got %s\nwant %s", got, wantReason)
	}
	if got := aws.ToString(task.Containers[0].Reason); got != wantReason {
		t.Errorf("container reason\n got %s\nwant %s", got, wantReason)
	}
	if got, want := aws.ToString(task.Group), "service:web"; got != want {
		t.Errorf("group = %s, want %s", got, want)
	}
	if got, want := aws.ToString(task.StartedBy), aws.ToString(svc.Deployments[0].Id); got != want || !regexp.MustCompile(`^ecs-svc/\d{19}$`).MatchString(got) {
		t.Errorf("startedBy = %s, want the deployment id %s", got, want)
	}
	if !regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:task/prod/[0-9a-f]{32}$`).MatchString(arn) {
		t.Errorf("task ARN %s", arn)
	}
	if task.Version != 4 || aws.ToString(task.PlatformVersion) != "1.4.0" || task.LaunchType != ecstypes.LaunchTypeFargate {
		t.Errorf("version %d platform %s launch %s, want 4 1.4.0 FARGATE", task.Version, aws.ToString(task.PlatformVersion), task.LaunchType)
	}
	if d := svc.Deployments[0]; d.FailedTasks != 1 || d.RunningCount != 0 || d.RolloutState != ecstypes.DeploymentRolloutStateInProgress {
		t.Errorf("deployment failed %d running %d rollout %s, want 1 0 IN_PROGRESS", d.FailedTasks, d.RunningCount, d.RolloutState)
	}

	// One event per state change, versions growing, the last one STOPPED.
	events := pb.events.forResource(arn)
	var seq []string
	for _, ev := range events {
		var d struct {
			LastStatus    string `json:"lastStatus"`
			DesiredStatus string `json:"desiredStatus"`
			Version       int    `json:"version"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if ev.Source != "aws.ecs" || ev.DetailType != "ECS Task State Change" || ev.Account != "123456789012" || ev.Region != "us-east-1" {
			t.Errorf("event envelope %+v", ev)
		}
		seq = append(seq, d.LastStatus+"/"+d.DesiredStatus+"/"+string(rune('0'+d.Version)))
	}
	wantSeq := []string{"PROVISIONING/RUNNING/1", "PENDING/RUNNING/2", "DEPROVISIONING/STOPPED/3", "STOPPED/STOPPED/4"}
	if diff := cmp.Diff(wantSeq, seq); diff != "" {
		t.Errorf("event sequence (-want +got):\n%s", diff)
	}

	// The last event's detail is DescribeTasks's Task with ISO timestamps.
	_, body := pb.raw(t, "DescribeTasks", mustJSON(t, map[string]any{"cluster": "prod", "tasks": []string{arn}}))
	var described struct {
		Tasks []map[string]any `json:"tasks"`
	}
	if err := json.Unmarshal(body, &described); err != nil {
		t.Fatal(err)
	}
	var detail map[string]any
	if err := json.Unmarshal(events[len(events)-1].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	wire := described.Tasks[0]
	for _, k := range timestampMembers {
		if v, ok := wire[k].(float64); ok {
			wire[k] = time.UnixMilli(int64(math.Round(v * 1000))).UTC().Format("2006-01-02T15:04:05.000Z")
			if s, _ := detail[k].(string); !isoRe.MatchString(s) {
				t.Errorf("event %s = %v, want ISO-8601 with milliseconds", k, detail[k])
			}
		}
	}
	if s, _ := detail["updatedAt"].(string); !isoRe.MatchString(s) {
		t.Errorf("event updatedAt = %v", detail["updatedAt"])
	}
	delete(detail, "updatedAt") // events carry it, the API's Task does not
	if diff := cmp.Diff(wire, detail); diff != "" {
		t.Errorf("event detail differs from DescribeTasks (-describe +event):\n%s", diff)
	}

	// The service keeps relaunching, throttled on the clock.
	pb.tick(t)
	if n := len(pb.listTasks(t, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped})); n != 1 {
		t.Errorf("relaunched within the restart delay: %d stopped tasks", n)
	}
	pb.clock.Advance(ecssim.DefaultRestartDelay)
	pb.tick(t)
	if n := len(pb.listTasks(t, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped})); n != 2 {
		t.Errorf("%d stopped tasks after the restart delay, want 2", n)
	}
	pb.clock.Advance(ecssim.DefaultRestartDelay) // the second failure doubled the delay
	pb.tick(t)
	if n := len(pb.listTasks(t, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped})); n != 2 {
		t.Errorf("%d stopped tasks before the doubled delay, want 2", n)
	}
	pb.clock.Advance(ecssim.DefaultRestartDelay)
	pb.tick(t)
	svc = pb.service(t, "web")
	if svc.Deployments[0].FailedTasks != 3 {
		t.Errorf("failedTasks = %d, want 3", svc.Deployments[0].FailedTasks)
	}
	if msg := aws.ToString(svc.Events[0].Message); msg != "(service web) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide." {
		t.Errorf("latest service event %q", msg)
	}

	// Stopped tasks are forgotten after an hour, as in ECS.
	pb.clock.Advance(2 * time.Hour)
	pb.hub.setFault("library/nginx", fault{})
	pb.tick(t)
	if _, err := pb.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}}); err != nil {
		t.Fatal(err)
	}
	out, _ := pb.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}})
	if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("a task stopped two hours ago: tasks %d failures %v", len(out.Tasks), out.Failures)
	}
}

func serviceEvents(svc ecstypes.Service) []string {
	var out []string
	for i := len(svc.Events) - 1; i >= 0; i-- { // oldest first
		out = append(out, aws.ToString(svc.Events[i].Message))
	}
	return out
}

func TestServiceReachesSteadyState(t *testing.T) {
	pb := newPullBed(t)
	tdArn := register(t, pb.client, fargateTaskDef("web", "busybox:1.36"))
	_, err := pb.client.CreateService(context.Background(), &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(tdArn),
		DesiredCount: aws.Int32(2), NetworkConfiguration: awsvpc,
	})
	if err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	running := pb.listTasks(t, &ecs.ListTasksInput{ServiceName: aws.String("web")})
	if len(running) != 2 {
		t.Fatalf("running tasks %v, want 2", running)
	}
	for _, arn := range running {
		task := pb.describeTask(t, arn)
		if aws.ToString(task.LastStatus) != "RUNNING" || task.StartedAt == nil || aws.ToString(task.Containers[0].LastStatus) != "RUNNING" {
			t.Errorf("task %s: %s started %v", arn, aws.ToString(task.LastStatus), task.StartedAt)
		}
		if task.Version != 3 {
			t.Errorf("task version %d, want 3 (PROVISIONING, PENDING, RUNNING)", task.Version)
		}
		// A service's awsvpc task has its interface in the service's
		// subnet, attached while it runs and listed by its container.
		if len(task.Attachments) != 1 || aws.ToString(task.Attachments[0].Status) != "ATTACHED" ||
			len(task.Containers[0].NetworkInterfaces) != 1 || aws.ToString(task.Containers[0].NetworkInterfaces[0].AttachmentId) != aws.ToString(task.Attachments[0].Id) {
			t.Errorf("task %s: attachments %+v, container interfaces %+v", arn, task.Attachments, task.Containers[0].NetworkInterfaces)
		} else if d := task.Attachments[0].Details; len(d) == 0 || aws.ToString(d[0].Name) != "subnetId" || aws.ToString(d[0].Value) != "subnet-0a1b2c3d" {
			t.Errorf("task %s: attachment details %+v, want the service's subnet first", arn, d)
		}
	}
	svc := pb.service(t, "web")
	d := svc.Deployments[0]
	if svc.RunningCount != 2 || d.RunningCount != 2 || d.RolloutState != ecstypes.DeploymentRolloutStateCompleted || aws.ToString(d.Status) != "PRIMARY" {
		t.Errorf("service running %d, deployment %s running %d rollout %s", svc.RunningCount, aws.ToString(d.Status), d.RunningCount, d.RolloutState)
	}
	if got, want := aws.ToString(svc.ServiceArn), "arn:aws:ecs:us-east-1:123456789012:service/prod/web"; got != want {
		t.Errorf("service ARN %s, want %s", got, want)
	}
	ids := []string{running[0][strings.LastIndex(running[0], "/")+1:], running[1][strings.LastIndex(running[1], "/")+1:]}
	got := serviceEvents(svc)
	wantStarted := regexp.MustCompile(`^\(service web\) has started 2 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$`)
	if len(got) != 3 || !wantStarted.MatchString(got[0]) || !strings.Contains(got[0], ids[0]) || !strings.Contains(got[0], ids[1]) ||
		got[1] != "(service web) (deployment "+aws.ToString(d.Id)+") deployment completed." || got[2] != "(service web) has reached a steady state." {
		t.Errorf("service events:\n%s", strings.Join(got, "\n"))
	}
	// A steady service stays quiet.
	pb.tick(t)
	if n := len(pb.service(t, "web").Events); n != 3 {
		t.Errorf("%d events after an idle round, want 3", n)
	}
}

func TestUpdateServiceRollsToNewRevisionAndDrainsOld(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	rev1 := register(t, pb.client, fargateTaskDef("web", "busybox:1.36"))
	rev2 := register(t, pb.client, fargateTaskDef("web", "busybox:1.37"))
	if _, err := pb.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(rev1),
		DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc,
	}); err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	old := pb.listTasks(t, &ecs.ListTasksInput{ServiceName: aws.String("web")})

	out, err := pb.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String("web:2")})
	if err != nil {
		t.Fatalf("update service: %v", err)
	}
	var states []string
	for _, d := range out.Service.Deployments {
		states = append(states, aws.ToString(d.Status)+" "+aws.ToString(d.TaskDefinition)+" "+string(d.RolloutState))
	}
	if diff := cmp.Diff([]string{"PRIMARY " + rev2 + " IN_PROGRESS", "ACTIVE " + rev1 + " COMPLETED"}, states); diff != "" {
		t.Errorf("deployments after update (-want +got):\n%s", diff)
	}

	pb.tick(t)
	svc := pb.service(t, "web")
	if len(svc.Deployments) != 1 || aws.ToString(svc.Deployments[0].TaskDefinition) != rev2 || svc.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		t.Fatalf("deployments after the rollout: %+v", svc.Deployments)
	}
	if aws.ToString(svc.TaskDefinition) != rev2 || svc.RunningCount != 1 {
		t.Errorf("service runs %s with %d tasks", aws.ToString(svc.TaskDefinition), svc.RunningCount)
	}
	drained := pb.describeTask(t, old[0])
	if aws.ToString(drained.LastStatus) != "STOPPED" || drained.StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
		aws.ToString(drained.StoppedReason) != "Scaling activity initiated by (deployment "+aws.ToString(svc.Deployments[0].Id)+")" {
		t.Errorf("old task: %s %s %q", aws.ToString(drained.LastStatus), drained.StopCode, aws.ToString(drained.StoppedReason))
	}
	now := pb.listTasks(t, &ecs.ListTasksInput{ServiceName: aws.String("web")})
	if len(now) != 1 || pb.describeTask(t, now[0]).TaskDefinitionArn == nil || aws.ToString(pb.describeTask(t, now[0]).TaskDefinitionArn) != rev2 {
		t.Errorf("running tasks %v, want one of %s", now, rev2)
	}
	events := serviceEvents(svc)
	tail := events[len(events)-4:]
	if !strings.HasPrefix(tail[0], "(service web) has started 1 tasks: (task ") ||
		tail[1] != "(service web) has stopped 1 running tasks: (task "+old[0][strings.LastIndex(old[0], "/")+1:]+")." ||
		!strings.HasSuffix(tail[2], "deployment completed.") || tail[3] != "(service web) has reached a steady state." {
		t.Errorf("rollout events:\n%s", strings.Join(tail, "\n"))
	}

	// forceNewDeployment replaces the tasks with the same revision.
	prevID := aws.ToString(svc.Deployments[0].Id)
	if _, err := pb.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	svc = pb.service(t, "web")
	if len(svc.Deployments) != 1 || aws.ToString(svc.Deployments[0].Id) == prevID || aws.ToString(svc.Deployments[0].TaskDefinition) != rev2 {
		t.Errorf("after forceNewDeployment: %+v", svc.Deployments)
	}
	replaced := pb.listTasks(t, &ecs.ListTasksInput{ServiceName: aws.String("web")})
	if len(replaced) != 1 || replaced[0] == now[0] || aws.ToString(pb.describeTask(t, replaced[0]).StartedBy) != aws.ToString(svc.Deployments[0].Id) {
		t.Errorf("tasks after forceNewDeployment %v (before %v)", replaced, now)
	}
}

func TestHealingRolloutReplacesFailingDeployment(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	pb.hub.setFault("library/nginx", dockerHub429)
	failing := register(t, pb.client, fargateTaskDef("web", "nginx:1.27"))
	if _, err := pb.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(failing),
		DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc,
	}); err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	pb.clock.Advance(time.Minute)
	pb.tick(t)

	healed := register(t, pb.client, fargateTaskDef("web", ecrHost+"/docker-hub/library/nginx:1.27"))
	if _, err := pb.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(healed)}); err != nil {
		t.Fatal(err)
	}
	// The new deployment launches at once, whatever the old one's backoff.
	pb.tick(t)
	svc := pb.service(t, "web")
	if len(svc.Deployments) != 1 || aws.ToString(svc.Deployments[0].TaskDefinition) != healed || svc.RunningCount != 1 {
		t.Fatalf("after healing: deployments %d running %d", len(svc.Deployments), svc.RunningCount)
	}
	if n := len(pb.listTasks(t, &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped})); n != 2 {
		t.Errorf("%d stopped tasks, want the 2 rate-limited ones", n)
	}
}

func TestStopTask(t *testing.T) {
	pb := newPullBed(t)
	ctx := context.Background()
	td := register(t, pb.client, fargateTaskDef("batch", "busybox:1.36"))
	run, err := pb.client.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc,
		StartedBy: aws.String("nightly"), Count: aws.Int32(2),
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("web"), Command: []string{"sh", "-c", "true"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Tasks) != 2 || aws.ToString(run.Tasks[0].LastStatus) != "PROVISIONING" || aws.ToString(run.Tasks[0].Group) != "family:batch" {
		t.Fatalf("run task: %+v", run.Tasks)
	}
	pb.tick(t)
	arn := aws.ToString(run.Tasks[0].TaskArn)
	task := pb.describeTask(t, arn)
	if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.StartedBy) != "nightly" ||
		task.Overrides == nil || len(task.Overrides.ContainerOverrides) != 1 || len(task.Overrides.ContainerOverrides[0].Command) != 3 {
		t.Fatalf("task before stop: %s startedBy %s overrides %+v", aws.ToString(task.LastStatus), aws.ToString(task.StartedBy), task.Overrides)
	}

	stop, err := pb.client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn), Reason: aws.String("maintenance window")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(stop.Task.DesiredStatus) != "STOPPED" || aws.ToString(stop.Task.LastStatus) != "RUNNING" {
		t.Errorf("StopTask answered %s/%s, want RUNNING/STOPPED", aws.ToString(stop.Task.LastStatus), aws.ToString(stop.Task.DesiredStatus))
	}
	pb.tick(t)
	task = pb.describeTask(t, arn)
	if aws.ToString(task.LastStatus) != "STOPPED" || task.StopCode != ecstypes.TaskStopCodeUserInitiated || aws.ToString(task.StoppedReason) != "maintenance window" {
		t.Errorf("stopped task: %s %s %q", aws.ToString(task.LastStatus), task.StopCode, aws.ToString(task.StoppedReason))
	}
	var last struct {
		LastStatus string `json:"lastStatus"`
		StopCode   string `json:"stopCode"`
		Version    int    `json:"version"`
	}
	evs := pb.events.forResource(arn)
	if err := json.Unmarshal(evs[len(evs)-1].Detail, &last); err != nil {
		t.Fatal(err)
	}
	if last.LastStatus != "STOPPED" || last.StopCode != "UserInitiated" || int64(last.Version) != task.Version {
		t.Errorf("last event %+v, task version %d", last, task.Version)
	}
	// The other task keeps running; ListTasks filters.
	if got := pb.listTasks(t, &ecs.ListTasksInput{StartedBy: aws.String("nightly")}); len(got) != 1 || got[0] != aws.ToString(run.Tasks[1].TaskArn) {
		t.Errorf("running nightly tasks %v", got)
	}
	if got := pb.listTasks(t, &ecs.ListTasksInput{Family: aws.String("batch"), DesiredStatus: ecstypes.DesiredStatusStopped}); len(got) != 1 || got[0] != arn {
		t.Errorf("stopped batch tasks %v", got)
	}
	_, err = pb.client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String("0123456789abcdef0123456789abcdef")})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, "The referenced task was not found.")
}

func TestReasonIsCutAt1024Bytes(t *testing.T) {
	pb := newPullBed(t)
	long := strings.Repeat("x", 2000)
	pb.hub.setFault("library/nginx", fault{On: "digest", Status: 429, Body: `{"errors":[{"code":"TOOMANYREQUESTS","message":"` + long + `"}]}`})
	td := register(t, pb.client, fargateTaskDef("web", "nginx:1.27"))
	run, err := pb.client.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc})
	if err != nil {
		t.Fatal(err)
	}
	pb.tick(t)
	task := pb.describeTask(t, aws.ToString(run.Tasks[0].TaskArn))
	for _, r := range []string{aws.ToString(task.StoppedReason), aws.ToString(task.Containers[0].Reason)} {
		if len(r) != 1024 || !strings.HasSuffix(r, "xxx...") || !strings.HasPrefix(r, "CannotPullContainerError: ref pull has been retried") {
			t.Errorf("reason of %d bytes: %.80s...%s", len(r), r, r[len(r)-10:])
		}
	}
}

func TestPullThroughDockerHubTokenFlow(t *testing.T) {
	hub := newTestRegistry(t, "")
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	hub.push(t, "library/nginx:1.27", img)
	hub.setBearer(true)
	puller, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{Hosts: map[string]string{
		"registry-1.docker.io": hub.srv.URL,
		"auth.docker.io":       hub.srv.URL,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := puller.Pull(context.Background(), ecssim.PullRequest{Image: "nginx:1.27", Platform: "linux/amd64"}); err != nil {
		t.Fatalf("pull through the token flow: %v", err)
	}
	hosts := hub.hostHeaders()
	if hosts["registry-1.docker.io"] == 0 || hosts["auth.docker.io"] == 0 {
		t.Errorf("Host headers seen by the registry: %v", hosts)
	}
	for h := range hosts {
		if h != "registry-1.docker.io" && h != "auth.docker.io" && h != hub.host() {
			t.Errorf("unexpected Host header %q", h)
		}
	}
	// Without the realm's host mapped, the token request cannot leave the
	// machine and the pull fails at the resolve step.
	noAuth, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{Hosts: map[string]string{"docker.io": hub.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	err = noAuth.Pull(context.Background(), ecssim.PullRequest{Image: "nginx:1.27"})
	var pe *ecssim.PullError
	if !errors.As(err, &pe) || pe.Stage != ecssim.StageResolve || !strings.Contains(err.Error(), "lookup auth.docker.io: no such host") {
		t.Errorf("pull without the realm mapped: %v", err)
	}
}
