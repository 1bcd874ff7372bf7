package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/testbed/tamper"
)

// TestAgentRefusesARevisionWithAFieldTheSDKDropped: ECS answers
// DescribeTaskDefinition with a member this build's SDK does not model (a
// proxy in front of the test bed adds it). The SDK drops it silently, so a
// corrected revision would lack it; the agent's decision (explain
// --discover runs the agent's code) must refuse and name the member rather
// than heal.
func TestAgentRefusesARevisionWithAFieldTheSDKDropped(t *testing.T) {
	raw, err := os.ReadFile("testdata/events/fargate-rate-limited.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ecsevent.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, verdict, member string
		inject                func(td map[string]any)
	}{
		{"as described", string(plan.Heal), "", func(map[string]any) {}},
		{"new top-level field", string(plan.Refuse), "taskIsolation", func(td map[string]any) {
			td["taskIsolation"] = map[string]any{"mode": "STRICT"}
		}},
		{"new container field", string(plan.Refuse), "containerDefinitions[0].shutdownHooks", func(td map[string]any) {
			td["containerDefinitions"].([]any)[0].(map[string]any)["shutdownHooks"] = []any{map[string]any{"command": []any{"nginx", "-s", "quit"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, c := startDecisionBed(t, ev)
			registerVariant(t, c, raw, variant{})
			proxy := tamper.DescribeTaskDefinition(t, aws.ToString(srv.AWSConfig().BaseEndpoint), tc.inject)
			t.Setenv("AWS_ENDPOINT_URL_ECS", proxy.URL)

			file := filepath.Join(t.TempDir(), "event.json")
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "", "explain", "--discover", "--output", "json", file)
			if code != exitOK {
				t.Fatalf("explain --discover exit %d: %s", code, stderr)
			}
			var ex Explanation
			if err := json.Unmarshal([]byte(stdout), &ex); err != nil {
				t.Fatalf("explain output: %v\n%s", err, stdout)
			}
			if ex.Verdict != tc.verdict {
				t.Fatalf("verdict %s (%s), want %s", ex.Verdict, ex.Reason, tc.verdict)
			}
			if tc.member != "" && !strings.Contains(ex.Reason, tc.member+": field not known to the ECS SDK") {
				t.Errorf("reason %q does not name %s", ex.Reason, tc.member)
			}
		})
	}
}
