package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestConfigServed: /config is the configuration in force as JSON: the
// registry, each pull-through rule with where it came from, the intake's
// settings and the queue the start-up check read; and no secret.
func TestConfigServed(t *testing.T) {
	t.Parallel()
	b := newBed(t, scenario.Options{})
	o := b.options("replica-1")
	o.PullThrough = []plan.PullThroughRule{{Upstream: "quay.io", Prefix: "quay-cache"}}
	o.Account = "123456789012"
	_, health, stop := runOne(t, b, o)
	defer stop()

	resp, err := http.Get(health.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
		t.Fatalf("/config: %d %s", resp.StatusCode, ct)
	}
	var got agent.RunningConfig
	if err := json.Unmarshal(raw.Bytes(), &got); err != nil {
		t.Fatalf("/config is not JSON: %v\n%s", err, raw.String())
	}
	if got.Registry != b.srv.RegistryHost() || got.QueueURL != b.sc.QueueURL || got.Account != "123456789012" || got.Region == "" {
		t.Errorf("registry %q queue %q account %q region %q", got.Registry, got.QueueURL, got.Account, got.Region)
	}
	sources := map[string]string{}
	for _, r := range got.PullThrough {
		sources[r.Upstream+"="+r.Prefix] = r.Source
	}
	if sources["quay.io=quay-cache"] != "flag" || sources["docker.io=docker-hub"] != "discovered" {
		t.Errorf("pull-through rules %+v, want quay.io from the flag and docker.io discovered", got.PullThrough)
	}
	if got.Workers != 10 || got.Visibility != "10s" || got.MessageBudget != "5m0s" || got.UnhealthyAfter != "1m0s" ||
		got.ServiceUpdate != "update" || got.Containers != "failed" || !got.DiscoverRules || got.LockTable != b.sc.LockTable {
		t.Errorf("settings %+v", got)
	}
	if got.Queue == nil || got.Queue.ARN != b.sc.QueueArn || !strings.HasSuffix(got.Queue.DeadLetterQueue, "-dlq") || got.Queue.MaxReceiveCount < 1 {
		t.Errorf("queue %+v, want the start-up check's reading", got.Queue)
	}
	if len(got.Errors) > 0 {
		t.Errorf("errors %v", got.Errors)
	}
	for _, secret := range []string{localaws.HubToken, localaws.SecretKey, localaws.AccessKey} {
		if strings.Contains(raw.String(), secret) {
			t.Errorf("/config shows a secret: %s", raw.String())
		}
	}
}

// TestEventsOfOtherAccountsAndRegionsAreDropped: a rate-limit failure of
// another account or region than the agent's is deleted with one log line,
// healed nowhere and reviewed never; an event that needs nothing (a task
// running) is logged at debug with its reason.
func TestEventsOfOtherAccountsAndRegionsAreDropped(t *testing.T) {
	t.Parallel()
	b := newBed(t, scenario.Options{})
	body := b.failTasks(t, 1)[0]
	var ev map[string]any
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	account, region := ev["account"].(string), ev["region"].(string)
	if account == "" || region == "" {
		t.Fatalf("the test bed's event names no account or region: %s", body)
	}
	elsewhere := func(k, v string) string {
		cp := map[string]any{}
		for kk, vv := range ev {
			cp[kk] = vv
		}
		cp[k] = v
		out, _ := json.Marshal(cp)
		return string(out)
	}
	running, err := os.ReadFile("testdata/events/running.json")
	if err != nil {
		t.Fatal(err)
	}
	b.send(t, elsewhere("account", "999999999999"), elsewhere("region", "eu-west-3"), string(running))

	var logs proctest.LogSink
	o := b.options("replica-1")
	o.Account, o.Region = account, region
	o.Registerer = prometheus.NewRegistry()
	a, err := agent.FromConfig(b.srv.AWSConfig(), o, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		visible, inFlight, err := scenario.QueueDepth(context.Background(), b.c, b.sc.QueueURL)
		if err != nil {
			t.Fatal(err)
		}
		if visible+inFlight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d+%d messages left; want all three deleted", visible, inFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dropped := logs.Lines(proctest.Msg("dropping event of another account or region"))
	if len(dropped) != 2 {
		t.Fatalf("%d drop lines, want 2: %+v", len(dropped), dropped)
	}
	reasons := dropped[0]["reason"].(string) + " | " + dropped[1]["reason"].(string)
	if !strings.Contains(reasons, "account 999999999999") || !strings.Contains(reasons, "region eu-west-3") {
		t.Errorf("drop reasons %q", reasons)
	}
	ignored := logs.Lines(proctest.Msg("ignored"))
	if len(ignored) != 1 || ignored[0]["level"] != "DEBUG" || ignored[0]["reason"] == "" {
		t.Errorf("ignored lines %+v, want one at DEBUG with its reason", ignored)
	}
	reviews, err := b.sc.Reviews(context.Background(), b.c)
	if err != nil || len(reviews) != 0 {
		t.Errorf("reviews %+v (%v), want none", reviews, err)
	}
	revs, err := b.sc.Revisions(context.Background(), b.c)
	if err != nil || len(revs) != 1 {
		t.Errorf("revisions %v (%v), want only the original", revs, err)
	}
}

// TestFailedHealLogsAtWarn: a heal that fails (Fargate without an
// execution role cannot pull from ECR: refused) logs its outcome at WARN
// with the reason; people filter on that level.
func TestFailedHealLogsAtWarn(t *testing.T) {
	t.Parallel()
	b := newBed(t, scenario.Options{NoExecutionRole: true})
	b.send(t, b.failTasks(t, 1)[0])
	var logs proctest.LogSink
	o := b.options("replica-1")
	o.Registerer = prometheus.NewRegistry()
	a, err := agent.FromConfig(b.srv.AWSConfig(), o, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for len(logs.Lines(proctest.Msg("healing failed"))) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no \"healing failed\" line within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := logs.Lines(proctest.Msg("healing failed"))[0]
	if l["level"] != "WARN" || !strings.Contains(l["reason"].(string), "execution") {
		t.Errorf("outcome line %v, want WARN with the reason", l)
	}
}
