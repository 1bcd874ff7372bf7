package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent/fake"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/policy"
)

const (
	unitRegistry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	unitSource   = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42"
)

// unitDest is the real ECRAccount on a fake ECR, with the preflight (a
// registry call) answered by the test.
type unitDest struct {
	*ECRAccount
	preflight error
	targets   []string
}

func (d *unitDest) Preflight(_ context.Context, target string) error {
	d.targets = append(d.targets, target)
	return d.preflight
}

// stubMirror is the mirror route without a registry: it "copies" to the
// planned target and pins a digest.
type stubMirror struct{ err error }

func (m stubMirror) Mirror(_ context.Context, step plan.Step) (string, error) {
	if m.err != nil {
		return "", m.err
	}
	return step.Target + "@sha256:" + strings.Repeat("ab", 32), nil
}

// unit is one healer on fakes, with the failing revision web:42 registered.
type unit struct {
	ecs    *fake.ECS
	events *fake.Events
	dest   *unitDest
	h      *Healer
}

type unitSetup struct {
	policy    string // YAML; "" for none
	tags      map[string]string
	noRole    bool
	sidecar   string
	service   ecstypes.DeploymentControllerType // "" for no service
	runs      string                            // the service's revision; "" for the failing one
	preflight error
	mirror    mirrorer
	dryRun    bool
	noRules   bool // the account has no pull-through cache rule
}

func newUnit(t *testing.T, s unitSetup) *unit {
	t.Helper()
	u := &unit{ecs: fake.NewECS(), events: &fake.Events{}}
	in := &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"), RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ExecutionRoleArn:     aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx:1.27"), Essential: aws.Bool(true)}},
	}
	if s.noRole {
		in.ExecutionRoleArn = nil
	}
	if s.sidecar != "" {
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{Name: aws.String("sidecar"), Image: aws.String(s.sidecar)})
	}
	for k, v := range s.tags {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	for range 42 {
		if _, err := u.ecs.RegisterTaskDefinition(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if s.service != "" {
		u.ecs.Service("web", nonEmpty(s.runs, unitSource), s.service)
	}
	var pol *policy.Policy
	if s.policy != "" {
		var err error
		if pol, err = policy.Parse("unit.yaml", []byte(s.policy)); err != nil {
			t.Fatal(err)
		}
	}
	rules := map[string]string{"registry-1.docker.io": "docker-hub"}
	if s.noRules {
		rules = nil
	}
	acct, err := NewECRAccount(ECRConfig{DiscoverRules: true}, &fake.ECR{Host: unitRegistry, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	u.dest = &unitDest{ECRAccount: acct, preflight: s.preflight}
	now := time.Unix(1_800_000_000, 0)
	u.h, err = newHealer(healerConfig{Policy: pol, DryRun: s.dryRun, Now: func() time.Time { return now }}, healerDeps{
		ECS: u.ecs, Dest: u.dest, Review: newReviewer(u.events, ""), Leases: newLocalLeases(nil), Mirror: s.mirror,
		Metrics: NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// sampleEvent is testdata's Fargate rate-limit sample, changed by edit.
func sampleEvent(t *testing.T, edit func(detail map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/events/fargate-rate-limited.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m["detail"].(map[string]any))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reviews are the review events the healer published.
func (u *unit) reviews(t *testing.T) []Review {
	t.Helper()
	var out []Review
	for _, e := range u.events.Put() {
		var rv Review
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &rv); err != nil {
			t.Fatal(err)
		}
		out = append(out, rv)
	}
	return out
}

// TestHealBranches runs each branch of healing on fakes: what is
// registered, whether the service moves, what the review says.
func TestHealBranches(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	tests := []struct {
		name  string
		setup unitSetup
		edit  func(detail map[string]any)
		// fail makes an ECS operation fail.
		fail           string
		failWith       error
		wantErr        string // "" none, "retryable", "permanent"
		wantOutcome    string // "" publishes nothing
		wantRegistered int
		wantUpdated    bool
		wantReason     string // substring of the review's reason
		wantAction     string // substring of the review's serviceAction
		wantTo         string // the first image's target
	}{
		{name: "corrected and rolled", setup: unitSetup{service: ecstypes.DeploymentControllerTypeEcs},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantUpdated: true, wantAction: "updated",
			wantTo: unitRegistry + "/docker-hub/library/nginx:1.27"},
		{name: "generated revision is not rewritten again", setup: unitSetup{service: ecstypes.DeploymentControllerTypeEcs, tags: map[string]string{taskdef.TagGeneration: "1"}},
			wantOutcome: outcomeSkipped, wantReason: "generated by pullheal"},
		{name: "out of scope", setup: unitSetup{policy: "version: 1\nscope:\n  clusters:\n    exclude: [prod]\n"},
			wantOutcome: outcomeSkipped, wantReason: "out of the policy's scope"},
		{name: "no execution role on Fargate", setup: unitSetup{noRole: true},
			wantOutcome: outcomeFailed, wantReason: "executionRoleArn"},
		{name: "CODE_DEPLOY service is proposed to", setup: unitSetup{service: ecstypes.DeploymentControllerTypeCodeDeploy},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantAction: "CODE_DEPLOY"},
		{name: "propose policy", setup: unitSetup{service: ecstypes.DeploymentControllerTypeEcs, policy: "version: 1\nheal:\n  serviceUpdate: propose\n"},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantAction: "proposed"},
		{name: "service moved on", setup: unitSetup{service: ecstypes.DeploymentControllerTypeEcs, runs: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantAction: "moved on"},
		{name: "service gone", wantOutcome: outcomeCorrected, wantRegistered: 1, wantAction: "no longer exists"},
		{name: "standalone task", edit: func(d map[string]any) { d["group"] = "family:web"; d["startedBy"] = "me" },
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantAction: "not started by a service"},
		{name: "all-docker-hub takes the sidecar", setup: unitSetup{sidecar: "redis:7.2", policy: "version: 1\nheal:\n  containers: all-docker-hub\n"},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantTo: unitRegistry + "/docker-hub/library/nginx:1.27"},
		{name: "no rule and no mirror", setup: unitSetup{noRules: true},
			wantOutcome: outcomeSkipped, wantReason: "no rate-limited image has a route"},
		{name: "mirror route without an engine", setup: unitSetup{policy: "version: 1\nimages:\n  - match: nginx\n    action: mirror\n"},
			wantOutcome: outcomeSkipped, wantReason: "no mirror engine"},
		{name: "mirror route", setup: unitSetup{mirror: stubMirror{}, policy: "version: 1\nimages:\n  - match: nginx\n    action: mirror\n"},
			wantOutcome: outcomeCorrected, wantRegistered: 1, wantTo: unitRegistry + "/mirror/library/nginx:1.27@sha256:" + strings.Repeat("ab", 32)},
		{name: "mirror fails for good", setup: unitSetup{mirror: stubMirror{err: errors.New("manifest unknown")}, policy: "version: 1\nimages:\n  - match: nginx\n    action: mirror\n"},
			wantOutcome: outcomeFailed, wantReason: "could not mirror"},
		{name: "preflight refused", setup: unitSetup{preflight: errors.New("preflight: denied")},
			wantOutcome: outcomeFailed, wantReason: "could not serve"},
		{name: "preflight rate-limited may pass", setup: unitSetup{preflight: &transport.Error{StatusCode: 429}},
			wantErr: "retryable"},
		{name: "failing revision deleted", fail: "DescribeTaskDefinition", failWith: &smithy.GenericAPIError{Code: "ClientException", Message: "Unable to describe task definition."},
			wantOutcome: outcomeFailed, wantReason: "cannot read the failing revision"},
		{name: "describe throttled may pass", fail: "DescribeTaskDefinition", failWith: throttled, wantErr: "retryable"},
		{name: "register throttled may pass", fail: "RegisterTaskDefinition", failWith: throttled, wantErr: "retryable"},
		{name: "register refused", fail: "RegisterTaskDefinition", failWith: &smithy.GenericAPIError{Code: "ClientException", Message: "Invalid setting"},
			wantOutcome: outcomeFailed, wantReason: "ECS refused"},
		{name: "dry run", setup: unitSetup{dryRun: true, service: ecstypes.DeploymentControllerTypeEcs}},
		{name: "task still running", edit: func(d map[string]any) { d["lastStatus"] = "RUNNING"; d["desiredStatus"] = "RUNNING" }},
		{name: "not a rate limit", edit: func(d map[string]any) {
			d["stoppedReason"] = "Essential container in task exited"
			for _, c := range d["containers"].([]any) {
				c.(map[string]any)["reason"] = nil
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t, tc.setup)
			if tc.fail != "" {
				u.ecs.Fail(tc.fail, tc.failWith)
			}
			err := u.h.HandleMessage(context.Background(), sampleEvent(t, tc.edit), slog.New(slog.DiscardHandler))
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatalf("error %v", err)
				}
			case "retryable":
				if !isRetryable(err) && !isUpstreamLimited(err) {
					t.Fatalf("error %v, want one that may pass", err)
				}
			}
			rvs := u.reviews(t)
			if tc.wantOutcome == "" {
				if len(rvs) != 0 {
					t.Fatalf("published %+v, want nothing", rvs)
				}
			} else {
				if len(rvs) != 1 || rvs[0].Outcome != tc.wantOutcome {
					t.Fatalf("reviews %+v, want one %s", rvs, tc.wantOutcome)
				}
				rv := rvs[0]
				if !strings.Contains(rv.Reason, tc.wantReason) || !strings.Contains(rv.ServiceAction, tc.wantAction) {
					t.Errorf("review reason %q, service action %q; want %q and %q", rv.Reason, rv.ServiceAction, tc.wantReason, tc.wantAction)
				}
				if tc.wantTo != "" && (len(rv.Images) == 0 || rv.Images[0].To != tc.wantTo) {
					t.Errorf("images %+v, want the first to %s", rv.Images, tc.wantTo)
				}
			}
			if got := len(u.ecs.Revisions("web")) - 42; got != tc.wantRegistered {
				t.Errorf("registered %d revisions, want %d", got, tc.wantRegistered)
			}
			if got := len(u.ecs.Updates) > 0; got != tc.wantUpdated {
				t.Errorf("service updated: %v, want %v", got, tc.wantUpdated)
			}
		})
	}
}

// TestOneHealPerFailure: messages of one failure that arrive together
// share one heal, and a late duplicate costs no AWS call.
func TestOneHealPerFailure(t *testing.T) {
	u := newUnit(t, unitSetup{service: ecstypes.DeploymentControllerTypeEcs})
	body := sampleEvent(t, nil)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- u.h.HandleMessage(context.Background(), body, slog.New(slog.DiscardHandler))
		}()
	}
	for range n {
		if err := <-errs; err != nil && !errors.Is(err, errBusy) {
			t.Fatal(err)
		}
	}
	if got := len(u.ecs.Revisions("web")) - 42; got != 1 {
		t.Errorf("registered %d revisions, want 1", got)
	}
	if got := len(u.reviews(t)); got != 1 {
		t.Errorf("published %d reviews, want 1", got)
	}
	calls := len(u.ecs.Names())
	if err := u.h.HandleMessage(context.Background(), body, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got := len(u.ecs.Names()); got != calls {
		t.Errorf("a late duplicate made %d ECS calls", got-calls)
	}
}

// TestTruncatedReasonIsReadAgainOnFakes: a reason the event cut before it
// tells the cause is read again with DescribeTasks; a task that is gone is
// decided on the cut reason, which names no rate limit.
func TestTruncatedReasonIsReadAgainOnFakes(t *testing.T) {
	const cut = "CannotPullContainerError: ref pull has been retr..."
	var full string
	body := sampleEvent(t, func(d map[string]any) {
		full = d["stoppedReason"].(string)
		d["stoppedReason"] = cut
		for _, c := range d["containers"].([]any) {
			c.(map[string]any)["reason"] = cut
		}
	})
	for _, gone := range []bool{false, true} {
		t.Run(fmt.Sprintf("gone=%v", gone), func(t *testing.T) {
			u := newUnit(t, unitSetup{})
			taskArn := "arn:aws:ecs:us-east-1:123456789012:task/prod/5f1c0d2e9b7a4c3d8e6f0a1b2c3d4e5f"
			if !gone {
				u.ecs.Tasks[taskArn] = ecstypes.Task{TaskArn: aws.String(taskArn), TaskDefinitionArn: aws.String(unitSource),
					ClusterArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/prod"), LastStatus: aws.String("STOPPED"),
					LaunchType: ecstypes.LaunchTypeFargate, StoppedReason: aws.String(full),
					Containers: []ecstypes.Container{{Name: aws.String("web"), Image: aws.String("nginx:1.27"), Reason: aws.String(full), LastStatus: aws.String("STOPPED")}}}
			}
			if err := u.h.HandleMessage(context.Background(), body, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if u.ecs.Count("DescribeTasks") != 1 {
				t.Errorf("calls %v, want one DescribeTasks", u.ecs.Names())
			}
			rvs := u.reviews(t)
			switch {
			case gone && len(rvs) != 0:
				t.Errorf("decided on the cut reason, yet published %+v", rvs)
			case !gone && (len(rvs) != 1 || rvs[0].Outcome != outcomeCorrected):
				t.Errorf("reviews %+v, want one corrected", rvs)
			}
		})
	}
}
