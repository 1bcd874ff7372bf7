package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testRegistry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"pullheal"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// expectation is the shape of the sample events' .expect.json files: the
// action, and for a heal the rewritten image of each healed container.
type expectation struct {
	Action     string            `json:"action"`
	Containers map[string]string `json:"containers"`
}

func TestExplainEvents(t *testing.T) {
	files, err := filepath.Glob("testdata/events/*.expect.json")
	if err != nil || len(files) < 5 {
		t.Fatalf("want the sample events in testdata/events, got %d (%v)", len(files), err)
	}
	for _, exp := range files {
		event := strings.TrimSuffix(exp, ".expect.json") + ".json"
		t.Run(filepath.Base(event), func(t *testing.T) {
			var want expectation
			readJSON(t, exp, &want)
			code, stdout, stderr := runCLI(t, "", "explain", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "--output", "json", event)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got Explanation
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			healed := map[string]string{}
			for _, c := range got.Containers {
				if c.Target != "" {
					healed[c.Name] = c.Target
				}
			}
			if want.Containers == nil {
				want.Containers = map[string]string{}
			}
			if diff := cmp.Diff(want, expectation{Action: got.Action, Containers: healed}); diff != "" {
				t.Errorf("decision (-want +got):\n%s\nreason: %s", diff, got.Reason)
			}
			if got.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestExplainContract pins the JSON field names scripts rely on: the
// contract's (docs/commands.md) and the ones added since (verdict, unchecked,
// selected, why).
func TestExplainContract(t *testing.T) {
	_, stdout, _ := runCLI(t, "", "explain", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "--output", "json", "testdata/events/fargate-rate-limited.json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		return sortStrings(ks)
	}
	if diff := cmp.Diff([]string{"action", "containers", "reason", "taskDefinitionArn", "unchecked", "verdict"}, keys(raw)); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	c := raw["containers"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]string{"cause", "image", "name", "route", "selected", "target", "why"}, keys(c)); diff != "" {
		t.Errorf("container keys (-want +got):\n%s", diff)
	}
}

func TestExplainFromStdinAndEnvironment(t *testing.T) {
	event, err := os.ReadFile("testdata/events/ec2-daemon-rate-limited.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULLHEAL_REGISTRY", "210987654321.dkr.ecr.eu-west-1.amazonaws.com")
	t.Setenv("PULLHEAL_PULL_THROUGH", "docker-hub=hub")
	t.Setenv("PULLHEAL_OUTPUT", "json")
	code, stdout, stderr := runCLI(t, string(event), "explain", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got Explanation
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if want := "210987654321.dkr.ecr.eu-west-1.amazonaws.com/hub/bitnami/redis:7.2"; got.Containers[0].Target != want {
		t.Errorf("target %q, want %q", got.Containers[0].Target, want)
	}
}

func TestExplainText(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "explain", "--pull-through", "docker.io=docker-hub", "testdata/events/fargate-rate-limited.json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Without --registry, the event's account and region name the registry.
	for _, want := range []string{"action: heal", "container web", "cause:  rate-limit", "target: " + testRegistry + "/docker-hub/library/nginx:1.27"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRewriteGolden(t *testing.T) {
	for _, tc := range []struct {
		name, golden string
		args         []string
	}{
		{"fargate", "testdata/taskdefs/fargate-describe.golden", []string{"rewrite", "--pull-through", "docker.io=docker-hub", "testdata/taskdefs/fargate-describe.json"}},
		{"fargate-diff", "testdata/taskdefs/fargate-describe.diff.golden", []string{"rewrite", "--pull-through", "docker.io=docker-hub", "--diff", "testdata/taskdefs/fargate-describe.json"}},
		{"ec2-one-container", "testdata/taskdefs/ec2-describe.golden", []string{"rewrite", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "--container", "worker", "testdata/taskdefs/ec2-describe.json"}},
		{"policy", "testdata/taskdefs/fargate-policy.golden", []string{"rewrite", "--policy", "testdata/policy.yaml", "--pull-through", "docker.io=docker-hub", "--diff", "testdata/taskdefs/fargate-describe.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			golden(t, tc.golden, stdout)
		})
	}
}

func TestRewriteKeepsDigestsAndFields(t *testing.T) {
	in, err := os.ReadFile("testdata/taskdefs/fargate-describe.json")
	if err != nil {
		t.Fatal(err)
	}
	_, stdout, _ := runCLI(t, "", "rewrite", "--pull-through", "docker.io=docker-hub", "testdata/taskdefs/fargate-describe.json")
	var before struct {
		TaskDefinition map[string]any `json:"taskDefinition"`
	}
	var after map[string]any
	readJSONBytes(t, in, &before)
	readJSONBytes(t, []byte(stdout), &after)
	for _, ro := range []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt", "registeredBy", "deregisteredAt"} {
		delete(before.TaskDefinition, ro)
	}
	for _, m := range []map[string]any{before.TaskDefinition, after} {
		delete(m, "tags")
		for _, c := range m["containerDefinitions"].([]any) {
			c := c.(map[string]any)
			img := c["image"].(string)
			if i := strings.Index(img, "@sha256:"); i >= 0 {
				c["digest"] = img[i:]
			}
			delete(c, "image")
		}
	}
	if diff := cmp.Diff(before.TaskDefinition, after); diff != "" {
		t.Errorf("fields other than images and tags changed, or a digest was dropped (-before +after):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := write("big.json", bytes.Repeat([]byte(" "), 50<<20))
	garbage := write("garbage.bin", []byte{0x7f, 'E', 'L', 'F', 0, 1, 2, 0xff, 0xfe})
	noNUL := write("noise.txt", []byte("\xff\xfe\x80 not json at all ]]"))
	empty := write("empty.json", nil)
	badJSON := write("bad.json", []byte(`{"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"containers": [}`))
	badYAML := write("bad.yaml", []byte("version: 1\nimages:\n  - match: [\n"))
	// Reading a FIFO used to block forever (and ignore SIGTERM) waiting
	// for a writer; every input path refuses it at once.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, want string
		args       []string
	}{
		{"explain missing", "no such file", []string{"explain", filepath.Join(dir, "nope.json")}},
		{"explain directory", "is a directory", []string{"explain", dir}},
		{"explain empty", "empty", []string{"explain", empty}},
		{"explain fifo", "named pipe (FIFO)", []string{"explain", fifo}},
		{"explain policy fifo", "named pipe (FIFO)", []string{"explain", "--policy", fifo, "testdata/events/running.json"}},
		{"explain device", "character device", []string{"explain", "/dev/zero"}},
		{"rewrite fifo", "named pipe (FIFO)", []string{"rewrite", "--registry", testRegistry, fifo}},
		{"policy validate fifo", "named pipe (FIFO)", []string{"policy", "validate", fifo}},
		{"explain big", "limit", []string{"explain", big}},
		{"explain binary", "binary", []string{"explain", garbage}},
		{"explain noise", noNUL, []string{"explain", noNUL}},
		{"explain bad json", "line 1", []string{"explain", badJSON}},
		{"explain no args", "one event file", []string{"explain"}},
		{"explain bad output", "--output", []string{"explain", "--output", "xml", badJSON}},
		{"explain bad pull-through", "--pull-through", []string{"explain", "--pull-through", "nonsense", "testdata/events/running.json"}},
		{"explain bad registry", "--registry", []string{"explain", "--registry", "not a host", "testdata/events/running.json"}},
		{"explain bad policy", "bad.yaml", []string{"explain", "--policy", badYAML, "testdata/events/running.json"}},
		{"rewrite missing", "no such file", []string{"rewrite", "--registry", testRegistry, filepath.Join(dir, "nope.json")}},
		{"rewrite big", "limit", []string{"rewrite", big}},
		{"rewrite binary", "binary", []string{"rewrite", garbage}},
		{"rewrite bad json", "bad.json", []string{"rewrite", "--registry", testRegistry, badJSON}},
		{"rewrite no registry", "registry", []string{"rewrite", "testdata/taskdefs/register-minimal.json"}},
		{"rewrite not a task definition", "invalid task definition", []string{"rewrite", "--registry", testRegistry, "testdata/events/running.json"}},
		{"rewrite wrong type", "register-cpu-number.json: invalid task definition: line 5, column 10: cpu: want a string, found number 512", []string{"rewrite", "--registry", testRegistry, "--pull-through", "docker.io=docker-hub", "testdata/taskdefs/register-cpu-number.json"}},
		{"rewrite unknown container", "no such container", []string{"rewrite", "--pull-through", "docker.io=docker-hub", "--container", "nope", "testdata/taskdefs/fargate-describe.json"}},
		{"policy validate missing", "nope.yaml", []string{"policy", "validate", filepath.Join(dir, "nope.yaml")}},
		{"policy validate directory", dir, []string{"policy", "validate", dir}},
		{"policy validate empty", "empty", []string{"policy", "validate", empty}},
		{"policy validate big", "big.json", []string{"policy", "validate", big}},
		{"policy validate binary", "garbage.bin", []string{"policy", "validate", garbage}},
		{"policy validate bad yaml", "bad.yaml", []string{"policy", "validate", badYAML}},
		{"policy test bad image", "not valid references", []string{"policy", "test", "--policy", "testdata/policy.yaml", "Not/Valid"}},
		{"policy test no policy", "policy", []string{"policy", "test", "nginx"}},
		{"unknown flag", "bogus", []string{"explain", "--bogus"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			last := lastLine(stderr)
			if !strings.HasPrefix(last, "pullheal: ") || !strings.Contains(last, tc.want) {
				t.Errorf("last stderr line %q, want pullheal: ... naming %q", last, tc.want)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stack trace on stderr:\n%s", stderr)
			}
		})
	}
}

func TestPolicyValidateReportsEveryProblem(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "policy", "validate", "testdata/broken-policy.yaml")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	golden(t, "testdata/broken-policy.golden", stdout+stderr)
}

func TestPolicyTest(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "policy", "test", "--policy", "testdata/policy.yaml", "--output", "json", "nginx:1.27", "docker.io/library/ngnix:1.27", "bitnami/redis:7.2", "quay.io/someone/else:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "testdata/policy-test.golden", stdout)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readJSONBytes(t, data, v)
}

func readJSONBytes(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDemoHeals(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "demo", "--tasks", "4")
	if code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"STOPPED (TaskFailedToStart)", "429 Too Many Requests", "Task Definition Corrected", "task-definition/web:2", "steady on the corrected revision", "avoided: 4 task pulls"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}
