package eventsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
)

// TestPatternCorpus runs the pattern/event/expected triples of
// testdata/match.json.
func TestPatternCorpus(t *testing.T) {
	b, err := os.ReadFile("testdata/match.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Events map[string]json.RawMessage `json:"events"`
		Cases  []struct {
			Name    string          `json:"name"`
			Pattern json.RawMessage `json:"pattern"`
			Event   string          `json:"event"`
			Match   bool            `json:"match"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus.Cases) < 100 {
		t.Fatalf("corpus has %d cases; did testdata/match.json load?", len(corpus.Cases))
	}
	seen := map[string]bool{}
	for _, c := range corpus.Cases {
		if seen[c.Name] {
			t.Fatalf("case name %q repeated", c.Name)
		}
		seen[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			event, ok := corpus.Events[c.Event]
			if !ok {
				t.Fatalf("unknown event %q", c.Event)
			}
			p, err := eventsim.ParsePattern(string(c.Pattern))
			if err != nil {
				t.Fatalf("ParsePattern(%s): %v", c.Pattern, err)
			}
			got, err := p.Match(event)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Match {
				t.Fatalf("pattern %s on event %q: match = %v, want %v", c.Pattern, c.Event, got, c.Match)
			}
		})
	}
}

func TestInvalidPatterns(t *testing.T) {
	b, err := os.ReadFile("testdata/invalid_patterns.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name    string `json:"name"`
		Pattern string `json:"pattern"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p, err := eventsim.ParsePattern(c.Pattern)
			if err == nil {
				t.Fatalf("ParsePattern(%s) = %v, want an error", c.Pattern, p)
			}
			if !errors.Is(err, eventsim.ErrInvalidPattern) {
				t.Errorf("error %v does not wrap ErrInvalidPattern", err)
			}
			if !strings.HasPrefix(err.Error(), "event pattern is not valid. Reason: ") || !strings.Contains(err.Error(), c.Reason) {
				t.Errorf("error %q, want the reason %q", err, c.Reason)
			}
		})
	}
}

// TestECSRulePattern checks the rule from FACTS.md ("EventBridge -> SQS")
// against the recorded ECS events: every pull failure of a stopped task is
// delivered (the agent classifies rate limits), a running task is not.
func TestECSRulePattern(t *testing.T) {
	pattern, err := os.ReadFile("testdata/ecs-rule.pattern.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := eventsim.ParsePattern(string(pattern))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/ecs-rule.expect.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]bool
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range files {
		event, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Match(event)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got[filepath.Base(f)] = m
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rule matches (-want +got):\n%s", diff)
	}
	for _, name := range []string{"fargate-rate-limited.json", "ec2-daemon-rate-limited.json"} {
		if !got[name] {
			t.Errorf("the rule does not deliver %s", name)
		}
	}
}

func TestPatternMatchRejectsNonObjects(t *testing.T) {
	p, err := eventsim.ParsePattern(`{"source":["x"]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{"", "[]", `"x"`, "{"} {
		if _, err := p.Match([]byte(event)); err == nil {
			t.Errorf("Match(%q) succeeded, want an error", event)
		}
	}
	if p.String() != `{"source":["x"]}` {
		t.Errorf("String() = %q, want the pattern as given", p.String())
	}
}

func TestPatternTooComplex(t *testing.T) {
	// Eleven parallel two-way $or expand to 2^11 alternatives.
	var parts []string
	for i := range 11 {
		parts = append(parts, `"f`+string(rune('a'+i))+`":{"$or":[{"x":["1"]},{"y":["2"]}]}`)
	}
	sort.Strings(parts)
	_, err := eventsim.ParsePattern("{" + strings.Join(parts, ",") + "}")
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Fatalf("ParsePattern of a 2^11-way pattern = %v, want a too-complex error", err)
	}
}

func FuzzPattern(f *testing.F) {
	b, err := os.ReadFile("testdata/match.json")
	if err != nil {
		f.Fatal(err)
	}
	var corpus struct {
		Events map[string]json.RawMessage `json:"events"`
		Cases  []struct {
			Pattern json.RawMessage `json:"pattern"`
			Event   string          `json:"event"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		f.Fatal(err)
	}
	for _, c := range corpus.Cases {
		f.Add(string(c.Pattern), []byte(corpus.Events[c.Event]))
	}
	f.Fuzz(func(t *testing.T, pattern string, event []byte) {
		p, err := eventsim.ParsePattern(pattern)
		if err != nil {
			if !errors.Is(err, eventsim.ErrInvalidPattern) {
				t.Fatalf("ParsePattern error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		_, _ = p.Match(event)
	})
}

// FuzzOperations feeds arbitrary bodies to the operations of an EventBridge
// whose rule delivers to an SQS queue: nothing may panic, and the resulting
// state must survive a Snapshot/Restore round trip.
func FuzzOperations(f *testing.F) {
	seeds := []struct{ op, body string }{
		{"PutEvents", `{"Entries":[{"Source":"s","DetailType":"d","Detail":"{\"a\":[1,{\"b\":null}]}","Time":1780395342.5,"Resources":["r"]}]}`},
		{"PutRule", `{"Name":"r2","EventPattern":"{\"detail\":{\"$or\":[{\"a\":[{\"numeric\":[\">\",0]}]},{\"b\":[{\"wildcard\":\"x*y\"}]}]}}"}`},
		{"PutTargets", `{"Rule":"r","Targets":[{"Id":"t","Arn":"arn:aws:sqs:us-east-1:123456789012:q","InputPath":"$.detail.a[1]"}]}`},
		{"TestEventPattern", `{"EventPattern":"{\"source\":[\"s\"]}","Event":"{\"id\":\"1\",\"account\":\"1\",\"source\":\"s\",\"time\":\"t\",\"region\":\"r\",\"resources\":[],\"detail-type\":\"d\"}"}`},
		{"ListRules", `{"Limit":1,"NextToken":"cg=="}`},
		{"CreateEventBus", `{"Name":"b"}`},
	}
	for _, s := range seeds {
		f.Add(s.op, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		queues, err := sqssim.New(sqssim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		events, err := eventsim.New(eventsim.Config{Queues: queues})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ops := events.Service().Ops
		for _, step := range []struct{ op, in string }{
			{"PutRule", `{"Name":"r","EventPattern":"{\"source\":[{\"prefix\":\"\"}]}"}`},
			{"PutTargets", `{"Rule":"r","Targets":[{"Id":"q","Arn":"arn:aws:sqs:us-east-1:123456789012:q"}]}`},
		} {
			if _, err := ops[step.op](ctx, []byte(step.in)); err != nil {
				t.Fatalf("%s: %v", step.op, err)
			}
		}
		if _, err := queues.Service().Ops["CreateQueue"](ctx, []byte(`{"QueueName":"q"}`)); err != nil {
			t.Fatal(err)
		}
		if fn, ok := ops[op]; ok {
			_, _ = fn(ctx, body)
		}
		var buf bytes.Buffer
		if err := events.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := eventsim.New(eventsim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Restore(&buf); err != nil {
			t.Fatalf("Restore of a fresh snapshot: %v", err)
		}
	})
}
