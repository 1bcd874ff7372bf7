package agent_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// bed is a running test bed with the scenario set up and its tasks failed.
type bed struct {
	srv *localaws.Server
	c   scenario.Clients
	sc  *scenario.Scenario
}

func newBed(t *testing.T, o scenario.Options) *bed {
	t.Helper()
	return newBedWith(t, localaws.Config{}, o)
}

// newBedWith is newBed on a test bed configured by cfg (EnforceIAM, ...).
func newBedWith(t *testing.T, cfg localaws.Config, o scenario.Options) *bed {
	t.Helper()
	cfg.RestartDelay = 20 * time.Millisecond
	if o.HubUser == "" {
		o.HubUser, o.HubToken = localaws.HubUser, localaws.HubToken
	}
	srv, c, sc := bedtest.Start(t, context.Background(), cfg, o)
	srv.Hub.Exhaust("127.0.0.1")
	return &bed{srv: srv, c: c, sc: sc}
}

func (b *bed) options(holder string) agent.Options {
	return agent.Options{
		Intake:        agent.Intake{QueueURL: b.sc.QueueURL, WaitTime: time.Second, Visibility: 10 * time.Second, ShutdownGrace: 5 * time.Second},
		DiscoverRules: true,
		Endpoints:     b.srv.Endpoints(),
		LockTable:     b.sc.LockTable,
		Holder:        holder,
		Lease:         30 * time.Second,
	}
}

// runAgents starts agents and a scheduler loop; stop ends them all.
func (b *bed) runAgents(t *testing.T, opts ...agent.Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, o := range opts {
		a, err := agent.FromConfig(b.srv.AWSConfig(), o, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				t.Errorf("agent: %v", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = b.srv.Tick(ctx)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// waitHealed waits until the service is steady on a revision other than
// the scenario's first, and returns it.
func (b *bed) waitHealed(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	var st scenario.ServiceState
	for time.Now().Before(deadline) {
		var err error
		st, err = b.sc.ServiceState(ctx, b.c)
		if err != nil {
			t.Fatal(err)
		}
		if st.Steady && st.TaskDefinition != b.sc.TaskDefinitionArn {
			return st.TaskDefinition
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("service not healed in time: %+v", st)
	return ""
}

func TestHealsThroughPullThrough(t *testing.T) {
	b := newBed(t, scenario.Options{})
	ctx := context.Background()
	stop := b.runAgents(t, b.options("replica-1"))
	healed := b.waitHealed(t)
	stop()

	revs, err := b.sc.Revisions(ctx, b.c)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 {
		t.Fatalf("revisions %v, want the original and one corrected", revs)
	}
	td, err := b.c.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(healed), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	want := b.srv.RegistryHost() + "/docker-hub/library/nginx:1.27"
	if got := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); got != want {
		t.Errorf("image %q, want %q", got, want)
	}
	// Every other field survives: the environment and the team tag.
	if env := td.TaskDefinition.ContainerDefinitions[0].Environment; len(env) != 1 || aws.ToString(env[0].Value) != "hello" {
		t.Errorf("environment lost: %+v", env)
	}
	tags := map[string]string{}
	for _, tg := range td.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["team"] != "storefront" || tags["pullheal:source-revision"] != b.sc.TaskDefinitionArn || tags["pullheal:generation"] != "1" || tags["pullheal:rewrite-id"] == "" {
		t.Errorf("tags %v", tags)
	}

	reviews, err := b.sc.Reviews(ctx, b.c)
	if err != nil {
		t.Fatal(err)
	}
	var corrected []agent.Review
	for _, r := range reviews {
		if r.DetailType == agent.DetailCorrected {
			var rv agent.Review
			if err := json.Unmarshal(r.Detail, &rv); err != nil {
				t.Fatal(err)
			}
			corrected = append(corrected, rv)
		}
	}
	if len(corrected) != 1 {
		t.Fatalf("%d correction reviews, want 1 (all: %+v)", len(corrected), reviews)
	}
	rv := corrected[0]
	if rv.TaskDefinitionArn != healed || !rv.ServiceUpdated || len(rv.Images) != 1 || rv.Images[0].Route != "pull-through" || !strings.Contains(rv.Diff, "docker-hub/library/nginx:1.27") {
		t.Errorf("review %+v", rv)
	}
	// The cache pulled once upstream, with its own credentials.
	pulls := b.srv.Hub.Pulls()
	if got := pulls.ByRepository["library/nginx"][localaws.HubUser]; got == 0 || got > 2 {
		t.Errorf("the cache made %d upstream manifest GETs, want 1 or 2 (index and platform)", got)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
