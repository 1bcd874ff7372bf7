package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

// eventSamples are the sample events of cmd, the agent and the event
// parser.
func eventSamples(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, glob := range []string{"testdata/events/*.json", "../../agent/testdata/events/*.json", "../../internal/ecsevent/testdata/events/*.json"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".expect.json") && !strings.HasSuffix(f, ".golden.json") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("found %d sample events; the globs are wrong", len(files))
	}
	return files
}

// variant is a failing revision the test bed holds for an event: the
// event is pointed at family+suffix.
type variant struct {
	suffix string
	tags   map[string]string
	noRole bool
	// sidecar adds a container on Docker Hub whose pull did not fail, to
	// the task and its revision: heal.containers all-docker-hub covers it.
	sidecar string
}

var variants = []variant{
	{suffix: ""},
	{suffix: "-generated", tags: map[string]string{taskdef.TagGeneration: "1"}},
	{suffix: "-norole", noRole: true},
	{suffix: "-outofscope"},
	{suffix: "-sidecar", sidecar: "redis:7.2"},
}

// TestExplainDiscoverIsTheAgentsDecision runs every sample event, against
// each kind of failing revision and with and without a policy, through the
// agent on the test bed and through `explain --discover` against the same
// test bed, and requires the same decision: what the agent published (or
// that it published nothing) is what explain said.
func TestExplainDiscoverIsTheAgentsDecision(t *testing.T) {
	seen := map[string]int{}
	for _, file := range eventSamples(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := ecsevent.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		where := "cmd"
		switch {
		case strings.Contains(file, "ecsevent"):
			where = "ecsevent"
		case strings.Contains(file, "agent"):
			where = "agent"
		}
		t.Run(where+"/"+filepath.Base(file), func(t *testing.T) {
			srv, sc, c := startDecisionBed(t, ev)
			for _, v := range variants {
				body := raw
				if ev.Task != nil {
					if v.noRole && pullsFromECR(ev.Task) {
						continue // ECS registers no such revision
					}
					body = registerVariant(t, c, withSidecar(t, raw, v.sidecar), v)
				}
				for _, pol := range []string{"", "testdata/decision-policy.yaml"} {
					name := nonEmpty(strings.TrimPrefix(v.suffix, "-"), "plain") + "/" + strings.TrimSuffix(nonEmpty(filepath.Base(pol), "no-policy"), ".yaml")
					t.Run(name, func(t *testing.T) {
						seen[compareDecisions(t, srv, sc, c, body, pol)]++
					})
				}
				if ev.Task == nil {
					break
				}
			}
		})
	}
	// The samples and variants must reach every verdict, or the test
	// compares less than it claims.
	for _, v := range []plan.Verdict{plan.Heal, plan.Ignore, plan.Skip, plan.Refuse} {
		if seen[string(v)] == 0 {
			t.Errorf("no case reached verdict %s (seen: %v)", v, seen)
		}
	}
	t.Logf("verdicts: %v", seen)
}

func startDecisionBed(t *testing.T, ev *ecsevent.Event) (*localaws.Server, *scenario.Scenario, scenario.Clients) {
	t.Helper()
	// The scenario brings the pull-through rule and the review queue; its
	// own workload has a family no sample uses.
	srv, c, sc := bedtest.Start(t, context.Background(), localaws.Config{Account: ev.Account, Region: ev.Region},
		scenario.Options{Service: "decision-bed", NoService: true, HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	useOnlyBed(t, srv)
	return srv, sc, c
}

// withSidecar adds a container that did not fail to the event's task.
func withSidecar(t *testing.T, raw []byte, image string) []byte {
	t.Helper()
	if image == "" {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	detail := m["detail"].(map[string]any)
	ctrs, _ := detail["containers"].([]any)
	detail["containers"] = append(ctrs, map[string]any{"name": "sidecar", "image": image, "lastStatus": "STOPPED"})
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pullsFromECR: a container's image is in a private ECR registry, so
// that ECS refuses a Fargate revision without an execution role.
func pullsFromECR(task *ecsevent.Task) bool {
	for _, c := range task.Containers {
		if ref, err := imageref.Parse(c.Image); err == nil && ref.Kind == imageref.ECRPrivate {
			return true
		}
	}
	return false
}

// registerVariant registers the event's family+suffix up to the event's
// revision, with the event's containers, and returns the event pointed at
// it.
func registerVariant(t *testing.T, c scenario.Clients, raw []byte, v variant) []byte {
	t.Helper()
	ev, err := ecsevent.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	task := ev.Task
	family, rev, ok := ecsarn.TaskDefinition(task.TaskDefinitionArn)
	if !ok {
		t.Fatalf("event task definition %q is not an ARN", task.TaskDefinitionArn)
	}
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family + v.suffix), Cpu: aws.String("256"), Memory: aws.String("512")}
	if task.LaunchType == "FARGATE" || task.LaunchType == "" {
		in.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityFargate}
		in.NetworkMode = ecstypes.NetworkModeAwsvpc
	}
	if !v.noRole {
		in.ExecutionRoleArn = aws.String("arn:aws:iam::" + ev.Account + ":role/ecsTaskExecutionRole")
	}
	for _, ctr := range task.Containers {
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String(ctr.Name), Image: aws.String(ctr.Image), Essential: aws.Bool(true)})
	}
	for k, val := range v.tags {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(val)})
	}
	ctx := context.Background()
	for {
		out, err := c.ECS.RegisterTaskDefinition(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, _ := ecsarn.TaskDefinition(aws.ToString(out.TaskDefinition.TaskDefinitionArn)); got >= rev {
			break
		}
	}
	if v.suffix == "" {
		return raw
	}
	return []byte(strings.ReplaceAll(string(raw), "task-definition/"+family+":", "task-definition/"+family+v.suffix+":"))
}

// reviewDetail is the part of a review event the comparison reads.
type reviewDetail struct {
	Reason string `json:"reason"`
	Images []struct {
		Container string `json:"container"`
		From      string `json:"from"`
		To        string `json:"to"`
		Route     string `json:"route"`
	} `json:"images"`
}

// imageLine is one container's decision as both sides state it.
type imageLine struct{ Container, From, To, Route string }

// compareDecisions returns explain's verdict.
func compareDecisions(t *testing.T, srv *localaws.Server, sc *scenario.Scenario, c scenario.Clients, body []byte, policyFile string) string {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"explain", "--discover", "--output", "json"}
	o := agent.Options{DiscoverRules: true, Endpoints: srv.Endpoints()}
	if policyFile != "" {
		args = append(args, "--policy", policyFile)
		p, err := policy.Load(policyFile)
		if err != nil {
			t.Fatal(err)
		}
		o.Policy = p
	}
	code, stdout, stderr := runCLI(t, "", append(args, file)...)
	if code != exitOK {
		t.Fatalf("explain --discover exit %d: %s", code, stderr)
	}
	var ex Explanation
	if err := json.Unmarshal([]byte(stdout), &ex); err != nil {
		t.Fatalf("explain output: %v\n%s", err, stdout)
	}
	for _, u := range ex.Unchecked {
		if u != plan.UncheckedFullReason {
			t.Errorf("explain --discover could not check %q", u)
		}
	}

	// The agent, on the same test bed, handles the event for real.
	h, err := agent.NewHealerFromConfig(srv.AWSConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	herr := h.HandleMessage(ctx, body, slog.New(slog.DiscardHandler))
	if herr != nil && !errors.Is(herr, agent.ErrPermanent) {
		t.Fatalf("agent: %v", herr)
	}
	reviews, err := sc.Reviews(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Verdict == string(plan.Ignore) {
		if len(reviews) != 0 {
			t.Fatalf("explain says ignore (%s); the agent published %s", ex.Reason, reviews[0].Detail)
		}
		return ex.Verdict
	}
	if herr != nil {
		t.Fatalf("explain says %s (%s); the agent dropped the event: %v", ex.Verdict, ex.Reason, herr)
	}
	if len(reviews) != 1 {
		t.Fatalf("explain says %s (%s); the agent published %d review events", ex.Verdict, ex.Reason, len(reviews))
	}
	var got reviewDetail
	if err := json.Unmarshal(reviews[0].Detail, &got); err != nil {
		t.Fatal(err)
	}
	kind := reviews[0].DetailType
	switch plan.Verdict(ex.Verdict) {
	case plan.Skip, plan.Refuse:
		want := map[plan.Verdict]string{plan.Skip: agent.DetailSkipped, plan.Refuse: agent.DetailFailed}[plan.Verdict(ex.Verdict)]
		if kind != want || got.Reason != ex.Reason {
			t.Errorf("explain says %s: %s\nthe agent published %q: %s", ex.Verdict, ex.Reason, kind, got.Reason)
		}
	case plan.Heal:
		// Preflight is the agent's first act, not part of the decision: a
		// cache that cannot serve the image fails the heal after it.
		preflightFailed := kind == agent.DetailFailed && strings.HasPrefix(got.Reason, "the pull-through cache could not serve")
		if kind != agent.DetailCorrected && !preflightFailed {
			t.Errorf("explain says heal: %s\nthe agent published %q: %s", ex.Reason, kind, got.Reason)
		}
		if preflightFailed {
			t.Logf("preflight failed in the test bed: %s", got.Reason)
		}
	default:
		t.Fatalf("explain verdict %q", ex.Verdict)
	}
	if plan.Verdict(ex.Verdict) == plan.Refuse {
		// A refusal names no image: nothing was tried.
		return ex.Verdict
	}
	var want, have []imageLine
	for _, ctr := range ex.Containers {
		if ctr.Selected {
			want = append(want, imageLine{ctr.Name, ctr.Image, ctr.Target, ctr.Route})
		}
	}
	for _, im := range got.Images {
		have = append(have, imageLine{im.Container, im.From, digestless(im.To, im.Route), im.Route})
	}
	if kind == agent.DetailFailed && plan.Verdict(ex.Verdict) == plan.Heal {
		// The agent stops at the first image its cache cannot serve.
		want = want[:min(len(want), len(have))]
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("images (-explain +agent):\n%s", diff)
	}
	return ex.Verdict
}

var mirrorDigest = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// digestless drops the digest the mirror route pins after copying, which
// a decision cannot know.
func digestless(to, route string) string {
	if route == string(plan.Mirror) {
		return mirrorDigest.ReplaceAllString(to, "")
	}
	return to
}
