package fleet_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/fleetbed"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

// bed is the test bed with a Docker Hub pull-through rule (and its
// account) and a fleet on it. The scheduler does not run: a scan reads
// services and task definitions only.
type bed struct {
	srv   *localaws.Server
	ecs   *ecs.Client
	reg   *agent.ECRAccount
	plan  plan.Config
	fleet *fleetbed.Fleet
	want  map[string][]fleetbed.Expect
}

func newBed(t testing.TB, clusters, services int) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, c, _ := bedtest.Start(t, ctx, localaws.Config{}, scenario.Options{NoService: true, HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	transport := srv.Endpoints().Transport(http.DefaultTransport)
	ref, err := name.ParseReference("docker.io/library/nginx:1.27")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(transport))
	if err != nil {
		t.Fatalf("HEAD nginx:1.27 on the hub: %v", err)
	}
	fams, want := fleetbed.Mixed(srv.RegistryHost(), desc.Digest.String())
	f, err := fleetbed.Build(ctx, c.ECS, fleetbed.Spec{Prefix: "team", Clusters: clusters, Services: services, Families: fams,
		Desired: func(i int) int32 { return int32(1 + i%3) }})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := agent.NewECRAccount(agent.ECRConfig{DiscoverRules: true, Transport: transport}, ecr.NewFromConfig(srv.AWSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	pc, _, err := reg.PlanConfig(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &bed{srv: srv, ecs: c.ECS, reg: reg, plan: pc, fleet: f, want: want}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestScanReportsEachKindOfImage scans a fleet with an image from every
// kind of registry and checks every service against the fixture's
// expectation.
func TestScanReportsEachKindOfImage(t *testing.T) {
	t.Parallel()
	b := newBed(t, 4, 40)
	rep, _, _, err := fleet.Scan(ctxT(t), b.ecs, nil, fleet.Config{Plan: b.plan})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Services) != 40 {
		t.Fatalf("%d services reported, want 40", len(rep.Services))
	}
	byName := map[string]fleetbed.Service{}
	for _, s := range b.fleet.Services {
		byName[s.Cluster+"/"+s.Name] = s
	}
	wantPulls, wantExposed := 0, 0
	for _, got := range rep.Services {
		s, ok := byName[got.Cluster+"/"+got.Service]
		if !ok {
			t.Errorf("reported service %s/%s is not part of the fleet", got.Cluster, got.Service)
			continue
		}
		var gotC []fleetbed.Expect
		limited := 0
		for _, c := range got.Containers {
			gotC = append(gotC, fleetbed.Expect{Container: c.Name, RateLimited: c.RateLimited, Route: c.Route, Target: c.Target})
			if c.RateLimited {
				limited++
			}
		}
		if diff := cmp.Diff(b.want[s.Family.Name], gotC); diff != "" {
			t.Errorf("%s (%s) containers (-want +got):\n%s", got.Service, s.Family.Name, diff)
		}
		if want := int(s.Desired) * limited; got.Pulls != want {
			t.Errorf("%s: pulls %d, want desired %d x %d images = %d", got.Service, got.Pulls, s.Desired, limited, want)
		}
		wantPulls += int(s.Desired) * limited
		if limited > 0 {
			wantExposed++
		}
		wantECR := fleet.ECRPullUnknown
		if s.Family.NoExecutionRole {
			wantECR = fleet.ECRPullNo
		}
		if got.ECRPull != wantECR {
			t.Errorf("%s: ecrPull %q, want %q (%s)", got.Service, got.ECRPull, wantECR, got.ECRPullReason)
		}
		if got.Generated != (s.Family.Name == "healed") {
			t.Errorf("%s: generated %v", got.Service, got.Generated)
		}
	}
	tot := rep.Total
	if tot.Pulls != wantPulls || tot.ExposedServices != wantExposed || tot.Services != 40 {
		t.Errorf("total %+v, want %d pulls over %d exposed services of 40", tot, wantPulls, wantExposed)
	}
	if tot.OverAnonymous != (wantPulls > 100) || tot.OverAuthenticated != (wantPulls > 200) {
		t.Errorf("total %+v: over-limit flags wrong for %d pulls", tot, wantPulls)
	}
}

// TestApplyProposeRegistersOncePerRevision: one corrected revision per
// source revision that needs one, none on a second run, nothing deployed;
// then update mode rolls the services onto them, except where a guard says
// no.
func TestApplyProposeRegistersOncePerRevision(t *testing.T) {
	t.Parallel()
	b := newBed(t, 3, 30)
	ctx := ctxT(t)
	apply := func(mode string) []fleet.Applied {
		t.Helper()
		rep, svcs, revs, err := fleet.Scan(ctx, b.ecs, nil, fleet.Config{Plan: b.plan})
		if err != nil {
			t.Fatal(err)
		}
		got, err := fleet.Apply(ctx, b.ecs, rep, svcs, revs, fleet.ApplyConfig{Mode: mode, Preflight: b.reg.Preflight, Batch: 4})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := apply(fleet.ApplyPropose)
	registered := map[string]string{}
	for _, a := range first {
		if a.Family == fleetbed.CannotPullFromECR {
			if a.Action != "skipped" {
				t.Errorf("first run: %s: %s (%s), want skipped: it has no execution role", a.Family, a.Action, a.Reason)
			}
			continue
		}
		if a.Action != "registered" {
			t.Errorf("first run: %s: %s (%s), want registered", a.Family, a.Action, a.Reason)
		}
		registered[a.Family] = a.TaskDefinitionArn
	}
	if diff := cmp.Diff(fleetbed.NeedingRevision, keys(registered)); diff != "" {
		t.Errorf("families given a revision (-want +got):\n%s", diff)
	}
	for fam, arn := range registered {
		if arn != "arn:aws:ecs:us-east-1:123456789012:task-definition/"+fam+":2" {
			t.Errorf("%s: registered %s, want its revision 2", fam, arn)
		}
	}
	for _, a := range apply(fleet.ApplyPropose) {
		if a.Family == fleetbed.CannotPullFromECR {
			continue
		}
		if a.Action != "exists" || a.TaskDefinitionArn != registered[a.Family] {
			t.Errorf("second run: %s: %s %s, want exists %s", a.Family, a.Action, a.TaskDefinitionArn, registered[a.Family])
		}
	}
	for _, s := range b.fleet.Services {
		if got := serviceRevision(t, b, s); got != s.TaskDefinitionArn {
			t.Fatalf("propose moved %s to %s", s.Name, got)
		}
	}

	// A person reverted the hub-user revision, and one hub-official
	// service moved on: update mode leaves both alone.
	if _, err := b.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(registered["hub-user"]),
		Tags: []ecstypes.Tag{{Key: aws.String(agent.TagReverted), Value: aws.String("someone")}}}); err != nil {
		t.Fatal(err)
	}
	var moved fleetbed.Service
	for _, s := range b.fleet.Services {
		if s.Family.Name == "hub-official" {
			moved = s
			break
		}
	}
	if _, err := b.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(moved.Cluster), Service: aws.String(moved.Name),
		TaskDefinition: aws.String(b.fleet.Revisions["ecr"])}); err != nil {
		t.Fatal(err)
	}
	apply(fleet.ApplyUpdate)
	for _, s := range b.fleet.Services {
		got := serviceRevision(t, b, s)
		want := s.TaskDefinitionArn
		switch {
		case s.Name == moved.Name:
			want = b.fleet.Revisions["ecr"]
		case s.Family.Name == "hub-user":
		case registered[s.Family.Name] != "":
			want = registered[s.Family.Name]
		}
		if got != want {
			t.Errorf("%s (%s) runs %s, want %s", s.Name, s.Family.Name, got, want)
		}
	}
}

func serviceRevision(t *testing.T, b *bed, s fleetbed.Service) string {
	t.Helper()
	svc, err := fleet.DescribeService(ctxT(t), b.ecs, s.Cluster, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	return svc.TaskDefinitionArn()
}

// keys are m's keys, NeedingRevision's first in its order, then the rest.
func keys(m map[string]string) []string {
	var out []string
	for _, f := range fleetbed.NeedingRevision {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	for f := range m {
		if !slices.Contains(fleetbed.NeedingRevision, f) {
			out = append(out, f)
		}
	}
	return out
}

// BenchmarkScan1000Services50Clusters scans a fleet of 1,000 services in
// 50 clusters on the in-process test bed: every call goes over loopback
// HTTP through the SDK, as against ECS.
func BenchmarkScan1000Services50Clusters(b *testing.B) {
	bd := newBed(b, 50, 1000)
	ctx := context.Background()
	var calls atomic.Int64
	counted := ecs.NewFromConfig(bd.srv.AWSConfig(), func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				calls.Add(1)
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
	})
	b.ResetTimer()
	for b.Loop() {
		rep, _, _, err := fleet.Scan(ctx, counted, nil, fleet.Config{Plan: bd.plan})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Services) != 1000 {
			b.Fatalf("%d services", len(rep.Services))
		}
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/scan")
}

// TestApplyUpdateHonoursPolicyScope: services of one revision that the
// policy's scope splits are rolled only where the plan applies.
func TestApplyUpdateHonoursPolicyScope(t *testing.T) {
	t.Parallel()
	b := newBed(t, 2, 30)
	pol, err := policy.Load("testdata/scope.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	cfg, _, err := b.reg.PlanConfig(ctx, pol)
	if err != nil {
		t.Fatal(err)
	}
	rep, svcs, revs, err := fleet.Scan(ctx, b.ecs, nil, fleet.Config{Plan: cfg})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fleet.Apply(ctx, b.ecs, rep, svcs, revs, fleet.ApplyConfig{Mode: fleet.ApplyUpdate, Policy: pol, Preflight: b.reg.Preflight, Batch: 5})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, a := range got {
		if a.Service != "" {
			actions[a.Service] = a.Action
		}
	}
	for _, name := range []string{"svc-0000", "svc-0020"} {
		if actions[name] != "updated" {
			t.Errorf("%s: %q, want updated", name, actions[name])
		}
	}
	if actions["svc-0010"] != "skipped" {
		t.Errorf("svc-0010 (out of scope): %q, want skipped", actions["svc-0010"])
	}
	for _, s := range b.fleet.Services {
		if s.Name == "svc-0010" && serviceRevision(t, b, s) != s.TaskDefinitionArn {
			t.Errorf("the out-of-scope service was moved")
		}
	}
}

// TestProgressCountsEveryStage: a scan reports each cluster, each distinct
// revision, each corrected revision and each guarded service update, one
// call at a time, and ends every stage at its total.
func TestProgressCountsEveryStage(t *testing.T) {
	t.Parallel()
	b := newBed(t, 5, 40)
	ctx := ctxT(t)
	var seen []fleet.Progress
	busy := atomic.Bool{}
	record := func(p fleet.Progress) {
		if !busy.CompareAndSwap(false, true) {
			t.Error("progress called concurrently")
		}
		seen = append(seen, p)
		busy.Store(false)
	}
	rep, svcs, revs, err := fleet.Scan(ctx, b.ecs, nil, fleet.Config{Plan: b.plan, Workers: 4, Progress: record})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.Apply(ctx, b.ecs, rep, svcs, revs, fleet.ApplyConfig{Mode: fleet.ApplyUpdate, Preflight: b.reg.Preflight,
		Batch: 3, Workers: 4, Progress: record}); err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	updates := 0
	for _, s := range rep.Services {
		distinct[s.TaskDefinitionArn] = true
		for _, c := range s.Containers {
			if c.RateLimited && c.Route == string(plan.PullThrough) && s.ECRPull != fleet.ECRPullNo {
				updates++
				break
			}
		}
	}
	last := map[string]fleet.Progress{}
	var order []string
	for _, p := range seen {
		if p.Done > p.Total {
			t.Errorf("%s: %d done of %d", p.Stage, p.Done, p.Total)
		}
		if _, ok := last[p.Stage]; !ok {
			order = append(order, p.Stage)
		}
		last[p.Stage] = p
	}
	clusters, err := fleet.Clusters(ctx, b.ecs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{fleet.StageClusters: len(clusters), fleet.StageTaskDefinitions: len(distinct),
		fleet.StageRevisions: len(fleetbed.NeedingRevision) + 1, fleet.StageUpdates: updates}
	if diff := cmp.Diff([]string{fleet.StageClusters, fleet.StageTaskDefinitions, fleet.StageRevisions, fleet.StageUpdates}, order); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	for stage, n := range want {
		if p := last[stage]; p.Done != n || p.Total != n || p.Services != 40 {
			t.Errorf("%s ended at %+v, want %d of %d and 40 services read", stage, p, n, n)
		}
	}
}

// TestScanAsksWhetherTheRoleMayPull: with the agent's pull check, a
// service whose execution role may pull its ECR targets is "yes"; once the
// role loses the pull-through permissions it is "no", naming what it
// lacks, and --apply propose registers nothing that would fail with a 403.
func TestScanAsksWhetherTheRoleMayPull(t *testing.T) {
	t.Parallel()
	b := newBed(t, 2, 20)
	ctx := ctxT(t)
	c := scenario.NewClients(b.srv.AWSConfig())
	check := func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict {
		return pullcheck.Check(ctx, pullcheck.Clients{IAM: c.IAM, ECR: c.ECR}, r)
	}
	scan := func() (*fleet.Report, []fleet.Service, *fleet.Revisions) {
		t.Helper()
		rep, svcs, revs, err := fleet.Scan(ctx, b.ecs, nil, fleet.Config{Plan: b.plan, PullCheck: check})
		if err != nil {
			t.Fatal(err)
		}
		return rep, svcs, revs
	}
	// wantECR is the answer for a service of family fam when the role may
	// (or may not) pull through the cache.
	wantECR := func(fam fleetbed.Family, may bool) string {
		switch {
		case fam.NoExecutionRole:
			return fleet.ECRPullNo
		case !slices.Contains(fleetbed.NeedingRevision, fam.Name):
			return fleet.ECRPullUnknown // nothing rate-limited to move: nothing asked
		case may:
			return fleet.ECRPullYes
		}
		return fleet.ECRPullNo
	}
	byName := map[string]fleetbed.Service{}
	for _, s := range b.fleet.Services {
		byName[s.Cluster+"/"+s.Name] = s
	}
	rep, _, _ := scan()
	for _, s := range rep.Services {
		if want := wantECR(byName[s.Cluster+"/"+s.Service].Family, true); s.ECRPull != want {
			t.Errorf("%s: ecrPull %s (%s), want %s", s.Service, s.ECRPull, s.ECRPullReason, want)
		}
	}

	// The role keeps only AmazonECSTaskExecutionRolePolicy, as one that
	// only ever pulled from Docker Hub.
	if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(scenario.ExecutionRoleName),
		PolicyName: aws.String("pull-through-cache"), PolicyDocument: aws.String(
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:CreateLogStream","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	rep, svcs, revs := scan()
	for _, s := range rep.Services {
		fam := byName[s.Cluster+"/"+s.Service].Family
		want := wantECR(fam, false)
		if s.ECRPull != want || (want == fleet.ECRPullNo && !fam.NoExecutionRole && !strings.Contains(s.ECRPullReason, "ecr:BatchImportUpstreamImage")) {
			t.Errorf("%s: ecrPull %s (%s), want %s naming ecr:BatchImportUpstreamImage", s.Service, s.ECRPull, s.ECRPullReason, want)
		}
	}
	applied, err := fleet.Apply(ctx, b.ecs, rep, svcs, revs, fleet.ApplyConfig{Mode: fleet.ApplyPropose, Preflight: b.reg.Preflight})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applied {
		if a.Action != "skipped" || a.TaskDefinitionArn != "" {
			t.Errorf("apply propose with a role that cannot pull: %+v, want skipped", a)
		}
	}
}

// TestApplyUpdatePausesBetweenBatches: a batch starts BatchInterval after
// the one before it ended, so that a fleet is rolled at a bounded rate.
func TestApplyUpdatePausesBetweenBatches(t *testing.T) {
	t.Parallel()
	b := newBed(t, 2, 30)
	ctx := ctxT(t)
	rep, svcs, revs, err := fleet.Scan(ctx, b.ecs, nil, fleet.Config{Plan: b.plan})
	if err != nil {
		t.Fatal(err)
	}
	const batch, interval = 4, 150 * time.Millisecond
	var updated []time.Time
	record := func(p fleet.Progress) {
		if p.Stage == fleet.StageUpdates && p.Done > 0 {
			updated = append(updated, time.Now())
		}
	}
	got, err := fleet.Apply(ctx, b.ecs, rep, svcs, revs, fleet.ApplyConfig{Mode: fleet.ApplyUpdate, Preflight: b.reg.Preflight,
		Batch: batch, BatchInterval: interval, Progress: record})
	if err != nil {
		t.Fatal(err)
	}
	if len(updated) <= batch {
		t.Fatalf("%d services rolled (%d applied), want more than one batch of %d", len(updated), len(got), batch)
	}
	for i := batch; i < len(updated); i += batch {
		if gap := updated[i].Sub(updated[i-1]); gap < interval {
			t.Errorf("batch %d began %v after batch %d ended, want at least %v", i/batch+1, gap, i/batch, interval)
		}
	}
}

// TestScanJudgesContainerInstanceRoles: an EC2 service without an
// execution role pulls with the role of the container instances its tasks
// run on. The scan finds them from its tasks, looks each instance's role up
// once as the agent does, and judges each role once per repository: no
// when the role lacks the cache's import, yes when it has it, unknown when
// the instance has no profile or the service runs no task.
func TestScanJudgesContainerInstanceRoles(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, 1)
	ctx := ctxT(t)
	c := scenario.NewClients(b.srv.AWSConfig())
	td, err := c.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("ec2-web"),
		NetworkMode: ecstypes.NetworkModeBridge, RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2}, Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx:1.27"), Essential: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	const denied, allowed = "ec2-pull-only", "ec2-pull-through"
	onEC2(t, c, "ec2-denied", denied, "", 2, td.TaskDefinition.TaskDefinitionArn)
	onEC2(t, c, "ec2-allowed", allowed, scenario.DefaultExecutionRolePolicy, 2, td.TaskDefinition.TaskDefinitionArn)
	onEC2(t, c, "ec2-allowed-too", allowed, scenario.DefaultExecutionRolePolicy, 1, td.TaskDefinition.TaskDefinitionArn)
	onEC2(t, c, "ec2-no-profile", "", "", 1, td.TaskDefinition.TaskDefinitionArn)
	onEC2(t, c, "ec2-idle", allowed, scenario.DefaultExecutionRolePolicy, 0, td.TaskDefinition.TaskDefinitionArn)
	if err := b.srv.Tick(ctx); err != nil {
		t.Fatal(err)
	}

	clients := pullcheck.Clients{IAM: c.IAM, ECR: c.ECR, ECS: c.ECS, EC2: c.EC2, Profiles: c.IAM}
	var lookups, roleChecks atomic.Int64
	cfg := fleet.Config{Plan: b.plan,
		PullCheck: func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict {
			if r.InstanceRoleArn != "" {
				roleChecks.Add(1)
			}
			return pullcheck.Check(ctx, clients, r)
		},
		InstanceRole: func(ctx context.Context, cluster, ci string) (string, string, error) {
			lookups.Add(1)
			return pullcheck.InstanceRole(ctx, clients, cluster, ci)
		}}
	rep, _, _, err := fleet.Scan(ctx, b.ecs, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	role := func(name string) string { return "arn:aws:iam::123456789012:role/" + name }
	want := map[string]struct {
		answer string
		reason []string
	}{
		"ec2-denied":      {fleet.ECRPullNo, []string{"container instance role " + role(denied), "ecr:BatchImportUpstreamImage"}},
		"ec2-allowed":     {fleet.ECRPullYes, []string{allowed, "docker-hub/library/nginx"}},
		"ec2-allowed-too": {fleet.ECRPullYes, []string{allowed}},
		"ec2-no-profile":  {fleet.ECRPullUnknown, []string{"has no IAM instance profile (ec2:DescribeInstances)"}},
		"ec2-idle":        {fleet.ECRPullUnknown, []string{"ecs:ListTasks finds no running task"}},
	}
	seen := 0
	for _, s := range rep.Services {
		w, ok := want[s.Cluster]
		if !ok {
			continue
		}
		seen++
		if s.ECRPull != w.answer {
			t.Errorf("%s: ecrPull %s (%s), want %s", s.Cluster, s.ECRPull, s.ECRPullReason, w.answer)
		}
		for _, part := range w.reason {
			if !strings.Contains(s.ECRPullReason, part) {
				t.Errorf("%s: reason %q does not say %q", s.Cluster, s.ECRPullReason, part)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d EC2 services reported", seen, len(want))
	}
	// Four container instances run tasks (the idle service runs none):
	// each is looked up once, and the two roles with a profile are judged
	// once each for the one repository.
	if n := lookups.Load(); n != 4 {
		t.Errorf("%d container instance lookups, want 4", n)
	}
	if n := roleChecks.Load(); n != 2 {
		t.Errorf("%d instance role checks, want 2", n)
	}

	// Without the lookup, those services stay unknown, as before.
	cfg.InstanceRole = nil
	if rep, _, _, err = fleet.Scan(ctx, b.ecs, nil, cfg); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Services {
		if _, ok := want[s.Cluster]; ok && s.ECRPull != fleet.ECRPullUnknown {
			t.Errorf("%s without the instance lookup: %s (%s), want unknown", s.Cluster, s.ECRPull, s.ECRPullReason)
		}
	}
}

// onEC2 creates the cluster, an EC2 instance with the instance profile of
// role (none when role is ""; the role has the ECS console's managed
// policy, plus inline when given), registers it as a container instance
// and starts service web of taskDef on it with desired tasks.
func onEC2(t *testing.T, c scenario.Clients, cluster, role, inline string, desired int32, taskDef *string) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	run := &ec2.RunInstancesInput{ImageId: aws.String("ami-0ecs0ptimized0000"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if role != "" {
		var exists *iamtypes.EntityAlreadyExistsException
		_, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(scenario.ContainerInstanceTrust)})
		switch {
		case errors.As(err, &exists):
		case err != nil:
			t.Fatal(err)
		default:
			if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role),
				PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role")}); err != nil {
				t.Fatal(err)
			}
			if inline != "" {
				if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("extra"),
					PolicyDocument: aws.String(inline)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.IAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(role)}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.IAM.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(role), RoleName: aws.String(role)}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(role)})
		if err != nil {
			t.Fatal(err)
		}
		run.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Arn: p.InstanceProfile.Arn}
	}
	out, err := c.EC2.RunInstances(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"instanceId":"` + aws.ToString(out.Instances[0].InstanceId) + `"}`
	if _, err := c.ECS.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(cluster),
		InstanceIdentityDocument: aws.String(doc), InstanceIdentityDocumentSignature: aws.String("unsigned")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("web"),
		TaskDefinition: taskDef, DesiredCount: aws.Int32(desired), LaunchType: ecstypes.LaunchTypeEc2}); err != nil {
		t.Fatal(err)
	}
}
