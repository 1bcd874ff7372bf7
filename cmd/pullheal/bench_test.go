package main

import (
	"os"
	"testing"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

func benchEvent(b *testing.B) (*ecsevent.Event, []byte, plan.Config) {
	b.Helper()
	raw, err := os.ReadFile("testdata/events/fargate-rate-limited.json")
	if err != nil {
		b.Fatal(err)
	}
	ev, err := ecsevent.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	rule, err := plan.ParsePullThrough("docker.io=docker-hub")
	if err != nil {
		b.Fatal(err)
	}
	return ev, raw, plan.Config{Registry: testRegistry, PullThrough: []plan.PullThroughRule{rule}}
}

// BenchmarkClassifyPlan is the decision for one parsed event: classify
// every container and plan the rate-limited ones' routes.
func BenchmarkClassifyPlan(b *testing.B) {
	ev, _, cfg := benchEvent(b)
	subj := policy.Subject{Cluster: "prod", Service: "web", Family: "web"}
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range ecsevent.Classify(ev.Task) {
			if f.Cause != ecsevent.RateLimit {
				b.Fatal("not a rate limit")
			}
			if st := plan.For(cfg, f.Image, subj); st.Route != plan.PullThrough {
				b.Fatal(st.Reason)
			}
		}
	}
}

// BenchmarkExplain is explain's whole decision, output included.
func BenchmarkExplain(b *testing.B) {
	ev, _, cfg := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if ex := explanation(plan.Decide(plan.Input{Event: ev, Config: cfg})); ex.Action != "heal" {
			b.Fatal(ex.Reason)
		}
	}
}

// BenchmarkParseClassifyPlan adds decoding the event's JSON.
func BenchmarkParseClassifyPlan(b *testing.B) {
	_, raw, cfg := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := ecsevent.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if ex := explanation(plan.Decide(plan.Input{Event: ev, Config: cfg})); ex.Action != "heal" {
			b.Fatal(ex.Reason)
		}
	}
}
