package fleet_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/testbed/fleetbed"
	"github.com/pullheal/pullheal/internal/testbed/tamper"
)

// TestApplySkipsARevisionWithAFieldTheSDKDropped: ECS describes one
// family's revision with a member this build's SDK does not model (a proxy
// in front of the test bed adds it). The scan still reports the family,
// but --apply must skip it, naming the member, rather than register a
// corrected revision without it; the other families are registered.
func TestApplySkipsARevisionWithAFieldTheSDKDropped(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, 12)
	ctx := ctxT(t)
	const lossy = "hub-user"
	proxy := tamper.DescribeTaskDefinition(t, aws.ToString(b.srv.AWSConfig().BaseEndpoint), func(td map[string]any) {
		if td["family"] == lossy {
			td["containerDefinitions"].([]any)[0].(map[string]any)["shutdownHooks"] = []any{map[string]any{"command": []any{"sh", "-c", "sleep 5"}}}
		}
	})
	api := ecs.NewFromConfig(b.srv.AWSConfig(), func(o *ecs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })

	rep, svcs, revs, err := fleet.Scan(ctx, api, nil, fleet.Config{Plan: b.plan})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	got, err := fleet.Apply(ctx, api, rep, svcs, revs, fleet.ApplyConfig{Mode: fleet.ApplyPropose, Preflight: b.reg.Preflight})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.Family] = true
		switch {
		case a.Family == lossy:
			if a.Action != "skipped" || a.TaskDefinitionArn != "" || !strings.Contains(a.Reason, "containerDefinitions[0].shutdownHooks: field not known to the ECS SDK") {
				t.Errorf("%s: %s %q (%s), want skipped naming containerDefinitions[0].shutdownHooks", a.Family, a.Action, a.TaskDefinitionArn, a.Reason)
			}
		case a.Family == fleetbed.CannotPullFromECR:
		case a.Action != "registered":
			t.Errorf("%s: %s (%s), want registered", a.Family, a.Action, a.Reason)
		}
	}
	if !seen[lossy] {
		t.Errorf("no entry for %s among %d applied", lossy, len(got))
	}
}
