package agent_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestFiftyUserTagsHeal: a task definition already at ECS's 50 tags (the
// test bed refuses a 51st with ECS's "Too many tags") heals, keeps every
// user tag, writes no provenance tag, and names the provenance left out in
// the review event.
func TestFiftyUserTagsHeal(t *testing.T) {
	tags := map[string]string{}
	for i := range taskdef.MaxTags - 1 { // the scenario adds team=storefront
		tags[fmt.Sprintf("cost-center-%02d", i)] = fmt.Sprint(i)
	}
	b := newBed(t, scenario.Options{Tags: tags})
	ctx := context.Background()
	stop := b.runAgents(t, b.options("replica-1"))
	healed := b.waitHealed(t)
	rv := b.waitReview(t, agent.DetailCorrected)
	stop()

	td, err := b.c.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(healed), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range td.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if len(got) != taskdef.MaxTags {
		t.Errorf("%d tags on the healed revision, want the user's %d", len(got), taskdef.MaxTags)
	}
	for k, v := range tags {
		if got[k] != v {
			t.Errorf("user tag %s = %q, want %q", k, got[k], v)
		}
	}
	if len(rv.ProvenanceNotTagged) != 4 || rv.RewriteID == "" || rv.SourceTaskDefinitionArn != b.sc.TaskDefinitionArn {
		t.Errorf("review names %v as not tagged (want all four), rewrite id %q, source %q", rv.ProvenanceNotTagged, rv.RewriteID, rv.SourceTaskDefinitionArn)
	}
}
