package ecsevent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/pullheal/pullheal/internal/ecsevent"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/events")

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// sampleEvents lists the event samples in testdata/events (the files that
// are neither expectations nor golden output).
func sampleEvents(t testing.TB) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".expect.json") && !strings.HasSuffix(p, ".golden.json") {
			out = append(out, p)
		}
	}
	if len(out) < 5 {
		t.Fatalf("found %d event samples, want at least the 5 shared ones", len(out))
	}
	return out
}

// decision is what the golden files record for one sample event.
type decision struct {
	Source     string
	DetailType string
	Time       time.Time
	TaskArn    string `json:",omitempty"`
	Version    int64  `json:",omitempty"`
	Service    string `json:",omitempty"`
	Failures   []ecsevent.Failure
}

func TestSampleEvents(t *testing.T) {
	for _, path := range sampleEvents(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			e, err := ecsevent.Parse(readFile(t, path))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := decision{Source: e.Source, DetailType: e.DetailType, Time: e.Time}
			if e.Task != nil {
				got.TaskArn, got.Version = e.Task.TaskArn, e.Task.Version
				got.Service, _ = e.Task.Service()
				got.Failures = ecsevent.Classify(e.Task)
			}

			// The shared expectation: "heal" names the containers to rewrite,
			// which must be exactly the rate-limited ones.
			var expect struct {
				Action     string            `json:"action"`
				Containers map[string]string `json:"containers"`
			}
			loadJSON(t, strings.TrimSuffix(path, ".json")+".expect.json", &expect)
			limited := map[string]bool{}
			for _, f := range got.Failures {
				if f.Cause == ecsevent.RateLimit {
					limited[f.Container] = true
				}
			}
			want := map[string]bool{}
			for c := range expect.Containers {
				want[c] = true
			}
			if diff := cmp.Diff(want, limited); diff != "" {
				t.Errorf("action %s: rate-limited containers mismatch (-want +got):\n%s", expect.Action, diff)
			}
			if (expect.Action == "heal") != (len(limited) > 0) {
				t.Errorf("action %s, but %d containers are rate-limited", expect.Action, len(limited))
			}

			golden := strings.TrimSuffix(path, ".json") + ".golden.json"
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(string(readFile(t, golden)), string(out)); diff != "" {
				t.Errorf("classification differs from %s (-golden +got; run with -update if intended):\n%s", golden, diff)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	var cases []struct {
		Name  string `json:"name"`
		Input string `json:"input"`
		Err   string `json:"err"`
	}
	loadJSON(t, "testdata/malformed.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			e, err := ecsevent.Parse([]byte(tc.Input))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error containing %q", tc.Input, e, tc.Err)
			}
			if !errors.Is(err, ecsevent.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.Err) {
				t.Errorf("error %q does not contain %q", err, tc.Err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans several lines", err)
			}
		})
	}
}

func TestParseTolerance(t *testing.T) {
	e, err := ecsevent.Parse(readFile(t, "testdata/events/fargate-two-containers-task-reason.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.IsZero() {
		t.Errorf("missing time parsed as %v, want zero", e.Time)
	}
	type containerView struct {
		Name, Image, Reason string
		ExitCode            *int
	}
	var cs []containerView
	for _, c := range e.Task.Containers {
		cs = append(cs, containerView{c.Name, c.Image, c.Reason, c.ExitCode})
	}
	want := []containerView{
		{Name: "envoy", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/envoy:v1.31"},
		{Name: "web", Image: "index.docker.io/library/nginx:1.27"},
	}
	if diff := cmp.Diff(want, cs); diff != "" {
		t.Errorf("containers (null fields, unknown fields) mismatch (-want +got):\n%s", diff)
	}
	if e.Task.Version != 6 {
		t.Errorf("version sent as string \"6\" parsed as %d", e.Task.Version)
	}
	if got := e.Task.StoppedAt; !got.Equal(time.Date(2026, 6, 2, 10, 15, 42, 984e6, time.UTC)) {
		t.Errorf("stoppedAt = %v", got)
	}

	e, err = ecsevent.Parse(readFile(t, "testdata/events/service-action.json"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Task != nil || !e.Time.IsZero() || e.IsTaskStateChange() {
		t.Errorf("service action: Task %v, Time %v, IsTaskStateChange %v; want nil, zero, false", e.Task, e.Time, e.IsTaskStateChange())
	}
	if !bytes.Contains(e.Detail, []byte("SERVICE_TASK_START_IMPAIRED")) {
		t.Errorf("service action detail not kept: %s", e.Detail)
	}
}

func TestParseTaskDescribeTasksWire(t *testing.T) {
	task, err := ecsevent.ParseTask(readFile(t, "testdata/tasks/describe-tasks-wire.json"))
	if err != nil {
		t.Fatal(err)
	}
	code := 137
	want := ecsevent.Task{
		TaskArn:           "arn:aws:ecs:us-east-1:123456789012:task/prod/5f1c0d2e9b7a4c3d8e6f0a1b2c3d4e5f",
		ClusterArn:        "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
		TaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42",
		Group:             "service:web",
		LastStatus:        "STOPPED",
		DesiredStatus:     "STOPPED",
		StopCode:          "TaskFailedToStart",
		LaunchType:        "FARGATE",
		PlatformVersion:   "1.4.0",
		Version:           5,
		CreatedAt:         time.Date(2026, 6, 2, 10, 14, 51, 725e6, time.UTC),
		StoppedAt:         time.Date(2026, 6, 2, 10, 15, 42, 984e6, time.UTC),
	}
	got := *task
	got.StoppedReason, got.Containers = "", nil
	opt := cmp.Comparer(func(a, b time.Time) bool { return a.Sub(b).Abs() < time.Millisecond })
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Errorf("task mismatch (-want +got):\n%s", diff)
	}
	if len(task.Containers) != 1 || task.Containers[0].ExitCode == nil || *task.Containers[0].ExitCode != code {
		t.Fatalf("containers = %+v, want one with exit code %d", task.Containers, code)
	}
	fs := ecsevent.Classify(task)
	if len(fs) != 1 || fs[0].Cause != ecsevent.RateLimit {
		t.Errorf("Classify = %+v, want one rate-limit", fs)
	}
}

// A task from the SDK's DescribeTasks, marshalled with encoding/json, has Go
// field names and RFC 3339 times; ParseTask must read it the same way.
func TestParseTaskSDKMarshalled(t *testing.T) {
	stopped := time.Date(2026, 6, 2, 10, 15, 42, 0, time.UTC)
	sdk := types.Task{
		TaskArn:           aws.String("arn:aws:ecs:us-east-1:123456789012:task/prod/abc"),
		TaskDefinitionArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"),
		Group:             aws.String("service:api"),
		LastStatus:        aws.String("STOPPED"),
		StopCode:          types.TaskStopCodeTaskFailedToStart,
		StoppedReason:     aws.String("Task failed to start"),
		StoppedAt:         &stopped,
		Version:           9,
		Containers: []types.Container{{
			Name:     aws.String("api"),
			Image:    aws.String("bitnami/redis:7.2"),
			ExitCode: aws.Int32(1),
			Reason:   aws.String("CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit."),
		}},
	}
	data, err := json.Marshal(sdk)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ecsevent.ParseTask(data)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := task.Service()
	got := []any{task.TaskArn, task.StopCode, task.Version, task.StoppedAt, svc, ok, len(task.Containers), *task.Containers[0].ExitCode}
	want := []any{"arn:aws:ecs:us-east-1:123456789012:task/prod/abc", "TaskFailedToStart", int64(9), stopped, "api", true, 1, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SDK task mismatch (-want +got):\n%s", diff)
	}
	if fs := ecsevent.Classify(task); len(fs) != 1 || fs[0].Cause != ecsevent.RateLimit {
		t.Errorf("Classify = %+v, want one rate-limit", fs)
	}

	var viaUnmarshal ecsevent.Task
	if err := json.Unmarshal(data, &viaUnmarshal); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*task, viaUnmarshal); diff != "" {
		t.Errorf("json.Unmarshal into Task differs from ParseTask (-ParseTask +Unmarshal):\n%s", diff)
	}
}

func TestParseTaskErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "empty task",
		"[]":                          "got array, want a task object",
		`{"containers":[{"name":1}]}`: "containers.name: got number, want string (line 1, column 24)",
		"{":                           "unexpected end of JSON input",
	} {
		_, err := ecsevent.ParseTask([]byte(in))
		if err == nil || !errors.Is(err, ecsevent.ErrMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTask(%q) error = %v, want ErrMalformed containing %q", in, err, want)
		}
	}
}

func TestService(t *testing.T) {
	tests := []struct {
		group string
		name  string
		ok    bool
	}{
		{"service:web", "web", true},
		{"family:web", "", false},
		{"service:", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		name, ok := (&ecsevent.Task{Group: tc.group}).Service()
		if name != tc.name || ok != tc.ok {
			t.Errorf("Service(%q) = %q, %v; want %q, %v", tc.group, name, ok, tc.name, tc.ok)
		}
	}
	var nilTask *ecsevent.Task
	if _, ok := nilTask.Service(); ok || nilTask.Stopped() {
		t.Error("nil task reports a service or a stop")
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range sampleEvents(f) {
		f.Add(readFile(f, p))
	}
	var cases []struct {
		Input string `json:"input"`
	}
	loadJSON(f, "testdata/malformed.json", &cases)
	for _, c := range cases {
		f.Add([]byte(c.Input))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ecsevent.Parse(data)
		if err != nil {
			if !errors.Is(err, ecsevent.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if e != nil {
				t.Fatalf("Parse returned an event with its error")
			}
			return
		}
		if e.IsTaskStateChange() != (e.Task != nil) {
			t.Fatalf("IsTaskStateChange %v but Task %v", e.IsTaskStateChange(), e.Task)
		}
		if e.Task == nil {
			return
		}
		fs := ecsevent.Classify(e.Task)
		if len(fs) != len(e.Task.Containers) {
			t.Fatalf("Classify returned %d failures for %d containers", len(fs), len(e.Task.Containers))
		}
		for i, f := range fs {
			if f.Container != e.Task.Containers[i].Name {
				t.Fatalf("failure %d is for %q, container is %q", i, f.Container, e.Task.Containers[i].Name)
			}
			if f.Cause != ecsevent.NoFailure && f.Reason == "" {
				t.Fatalf("failure %d has cause %s and no reason", i, f.Cause)
			}
			if !e.Task.Stopped() && f.Cause != ecsevent.NoFailure {
				t.Fatalf("task %q not stopped, container %d has cause %s", e.Task.LastStatus, i, f.Cause)
			}
		}
	})
}

// TestParseByteOrderMark: an event saved with a UTF-8 byte order mark (as
// Windows editors and PowerShell save it) parses as the same event.
func TestParseByteOrderMark(t *testing.T) {
	data := readFile(t, "testdata/events/fargate-two-containers-task-reason.json")
	want, err := ecsevent.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ecsevent.Parse(append([]byte("\uFEFF"), data...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with a byte order mark (-without +with):\n%s", diff)
	}
}
