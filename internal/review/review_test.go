package review_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/review"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

type bed struct {
	c        scenario.Clients
	sc       *scenario.Scenario
	registry string
}

func newBed(t *testing.T) *bed {
	t.Helper()
	srv, c, sc := bedtest.Start(t, ctxT(t), localaws.Config{}, scenario.Options{NoService: true, NoPullThrough: true})
	return &bed{c: c, sc: sc, registry: srv.RegistryHost()}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// register registers a revision of family with one container "web"
// running image and tags.
func (b *bed) register(t *testing.T, family, image string, tags map[string]string) string {
	t.Helper()
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []ecstypes.ContainerDefinition{
		{Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true), Memory: aws.Int32(128)}}}
	for k, v := range tags {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := b.c.ECS.RegisterTaskDefinition(ctxT(t), in)
	if err != nil {
		t.Fatal(err)
	}
	// Deployment and registration times are compared: keep them apart.
	time.Sleep(5 * time.Millisecond)
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// generated registers a revision pullheal would have generated from src.
func (b *bed) generated(t *testing.T, family, src, image string) string {
	return b.register(t, family, image, map[string]string{
		"pullheal:source-revision": src, "pullheal:rewrite-id": "feedfacecafebeef", "pullheal:reason": "rate-limited pull", "pullheal:generation": "1"})
}

func (b *bed) service(t *testing.T, name, td string, controller ecstypes.DeploymentControllerType) {
	t.Helper()
	in := &ecs.CreateServiceInput{Cluster: aws.String(b.sc.Cluster), ServiceName: aws.String(name), DesiredCount: aws.Int32(1), TaskDefinition: aws.String(td)}
	if controller != "" {
		in.DeploymentController = &ecstypes.DeploymentController{Type: controller}
	}
	if _, err := b.c.ECS.CreateService(ctxT(t), in); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
}

func (b *bed) update(t *testing.T, name, td string) {
	t.Helper()
	if _, err := b.c.ECS.UpdateService(ctxT(t), &ecs.UpdateServiceInput{Cluster: aws.String(b.sc.Cluster), Service: aws.String(name), TaskDefinition: aws.String(td)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
}

func (b *bed) runs(t *testing.T, name string) string {
	t.Helper()
	out, err := b.c.ECS.DescribeServices(ctxT(t), &ecs.DescribeServicesInput{Cluster: aws.String(b.sc.Cluster), Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describe %s: %v", name, err)
	}
	return aws.ToString(out.Services[0].TaskDefinition)
}

func (b *bed) lister() *review.Lister {
	return &review.Lister{ECS: b.c.ECS, Rules: []plan.PullThroughRule{{Upstream: "docker.io", Prefix: "docker-hub"}}}
}

// TestStatuses puts services of one family in every relation to a
// generated revision and checks the status list reports for each.
func TestStatuses(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	healed := b.registry + "/docker-hub/library/nginx:1.27"
	old := b.register(t, "web", "nginx:1.26", nil)
	src := b.register(t, "web", "nginx:1.27", nil)
	b.service(t, "legacy", old, "")     // never ran either: not listed
	b.service(t, "waiting", src, "")    // proposed
	b.service(t, "healed", src, "")     // deployed
	b.service(t, "redeployed", src, "") // moved back to the source by its IaC: drift
	b.service(t, "newimage", src, "")   // moved to a new revision still on Docker Hub: drift
	b.service(t, "moved", src, "")      // moved to a new revision on ECR: superseded
	gen := b.generated(t, "web", src, healed)
	b.update(t, "healed", gen)
	b.update(t, "redeployed", gen)
	b.update(t, "newimage", gen)
	b.update(t, "moved", gen)
	b.update(t, "redeployed", src)
	b.update(t, "newimage", b.register(t, "web", "nginx:1.28", nil))
	b.update(t, "moved", b.register(t, "web", b.registry+"/team/web:3", nil))

	got, err := b.lister().List(ctxT(t), review.Query{Diff: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d generated revisions listed, want 1: %+v", len(got), got)
	}
	r := got[0]
	want := review.Revision{TaskDefinitionArn: gen, SourceTaskDefinitionArn: src, RewriteID: "feedfacecafebeef", Generation: 1, Reason: "rate-limited pull",
		Images: []review.Image{{Container: "web", From: "nginx:1.27", To: healed, Route: "pull-through"}},
		Services: []review.ServiceStatus{
			{Cluster: "prod", Service: "healed", Status: review.Deployed},
			{Cluster: "prod", Service: "moved", Status: review.Superseded},
			{Cluster: "prod", Service: "newimage", Status: review.Drift},
			{Cluster: "prod", Service: "redeployed", Status: review.Drift},
			{Cluster: "prod", Service: "waiting", Status: review.Proposed},
		}}
	if diff := cmp.Diff(want, r, cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".Diff" || f == ".RegisteredAt"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("revision (-want +got):\n%s", diff)
	}
	if r.Diff == "" {
		t.Error("no diff against the source")
	}

	// --service narrows to the revisions that service runs or ran.
	got, err = b.lister().List(ctxT(t), review.Query{Service: "legacy"})
	if err != nil || len(got) != 0 {
		t.Errorf("--service legacy: %+v, %v; want nothing", got, err)
	}
	_, err = b.lister().List(ctxT(t), review.Query{Service: "nope"})
	if !errors.Is(err, review.ErrInput) {
		t.Errorf("--service nope: %v, want an input error", err)
	}
	_, err = b.lister().List(ctxT(t), review.Query{Clusters: []string{"nope"}})
	if !errors.Is(err, review.ErrInput) {
		t.Errorf("--cluster nope: %v, want an input error", err)
	}
}

// TestRevertAndApprove reverts a deployed revision, approves it again, and
// checks each guard refuses without changing anything.
func TestRevertAndApprove(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	src := b.register(t, "api", "nginx:1.27", nil)
	b.service(t, "api", src, "")
	b.service(t, "blue", src, ecstypes.DeploymentControllerTypeCodeDeploy)
	gen := b.generated(t, "api", src, b.registry+"/docker-hub/library/nginx:1.27")
	other := b.generated(t, "worker", src, b.registry+"/docker-hub/library/nginx:1.27")
	b.update(t, "api", gen)
	a := &review.Actor{ECS: b.c.ECS, Events: b.c.Events, Lister: b.lister()}
	ctx := ctxT(t)

	ev, err := a.Revert(ctx, "prod", "api")
	if err != nil {
		t.Fatal(err)
	}
	if b.runs(t, "api") != src || ev.DeployedTaskDefinitionArn != src || ev.TaskDefinitionArn != gen {
		t.Fatalf("after revert the service runs %s (event %+v), want %s", b.runs(t, "api"), ev, src)
	}
	if tags := b.tags(t, gen); tags[agent.TagReverted] != "prod/api" {
		t.Errorf("tags after revert %v, want %s=prod/api", tags, agent.TagReverted)
	}
	list, err := b.lister().List(ctx, review.Query{Service: "api"})
	if err != nil || len(list) != 1 || list[0].Services[0].Status != review.Reverted {
		t.Errorf("after revert: %+v, %v; want api reverted", list, err)
	}

	refusals := []struct {
		name string
		do   func() error
		want error
	}{
		{"revert a source revision", func() error { _, err := a.Revert(ctx, "prod", "api"); return err }, review.ErrRefused},
		{"approve on a CodeDeploy service", func() error { _, err := a.Approve(ctx, "prod", "blue", gen); return err }, review.ErrRefused},
		{"approve a revision pullheal did not generate", func() error { _, err := a.Approve(ctx, "prod", "api", src); return err }, review.ErrInput},
		{"approve on an unknown service", func() error { _, err := a.Approve(ctx, "prod", "nope", gen); return err }, review.ErrInput},
		{"revert in an unknown cluster", func() error { _, err := a.Revert(ctx, "nope", "api"); return err }, review.ErrInput},
		{"approve an unknown revision", func() error { _, err := a.Approve(ctx, "prod", "api", "api:99"); return err }, review.ErrInput},
		{"approve another family's revision", func() error { _, err := a.Approve(ctx, "prod", "api", other); return err }, review.ErrInput},
	}
	for _, r := range refusals {
		if err := r.do(); !errors.Is(err, r.want) {
			t.Errorf("%s: %v, want %v", r.name, err, r.want)
		}
		if got := b.runs(t, "api"); got != src {
			t.Fatalf("%s changed the service to %s", r.name, got)
		}
	}

	ev, err = a.Approve(ctx, "prod", "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.runs(t, "api") != gen || ev.TaskDefinitionArn != gen {
		t.Fatalf("after approve the service runs %s, want %s", b.runs(t, "api"), gen)
	}
	if _, ok := b.tags(t, gen)[agent.TagReverted]; ok {
		t.Error("approve left the reverted tag")
	}
	// The service moved on: neither command touches it.
	next := b.register(t, "api", "nginx:1.28", nil)
	b.update(t, "api", next)
	if _, err := a.Approve(ctx, "prod", "api", gen); !errors.Is(err, review.ErrRefused) {
		t.Errorf("approve after the service moved on: %v, want a refusal", err)
	}
	if _, err := a.Revert(ctx, "prod", "api"); !errors.Is(err, review.ErrRefused) {
		t.Errorf("revert after the service moved on: %v, want a refusal", err)
	}
	if got := b.runs(t, "api"); got != next {
		t.Errorf("a refused command moved the service to %s", got)
	}

	reviews, err := b.sc.Reviews(ctx, b.c)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range reviews {
		types = append(types, r.DetailType)
		var e review.Event
		if err := json.Unmarshal(r.Detail, &e); err != nil || e.TaskDefinitionArn != gen || e.Service != "api" || len(e.Images) != 1 {
			t.Errorf("review event %s: %s (%v)", r.DetailType, r.Detail, err)
		}
	}
	if diff := cmp.Diff([]string{review.DetailReverted, review.DetailApproved}, types); diff != "" {
		t.Errorf("review events (-want +got):\n%s", diff)
	}
}

func (b *bed) tags(t *testing.T, arn string) map[string]string {
	t.Helper()
	out, err := b.c.ECS.ListTagsForResource(ctxT(t), &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// TestNewestFirst: generated revisions are listed newest first, across
// the sources they were generated from.
func TestNewestFirst(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	healed := b.registry + "/docker-hub/library/nginx:"
	src1 := b.register(t, "web", "nginx:1.26", nil)
	src2 := b.register(t, "web", "nginx:1.27", nil)
	b.service(t, "web", src1, "")
	var want []string
	for _, g := range []struct{ src, tag string }{{src1, "1.26"}, {src2, "1.27"}, {src1, "1.26-alpine"}} {
		time.Sleep(5 * time.Millisecond) // registration times to the millisecond, as ECS gives them
		want = append([]string{b.generated(t, "web", g.src, healed+g.tag)}, want...)
	}
	got, err := b.lister().List(ctxT(t), review.Query{Family: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, r := range got {
		arns = append(arns, r.TaskDefinitionArn)
	}
	if diff := cmp.Diff(want, arns); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
