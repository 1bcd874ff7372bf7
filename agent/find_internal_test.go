package agent

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// listingECS answers ListTaskDefinitions with fixed pages, in whatever order
// a test gives, and DescribeTaskDefinition with a rewrite-ID tag on one
// revision: enough for findCorrected, which must not trust the sort order.
type listingECS struct {
	ECSAPI
	pages     [][]int // revisions of family "web", page by page
	tagged    int     // the revision that carries the rewrite ID
	lists     int
	described []int
}

func (f *listingECS) ListTaskDefinitions(_ context.Context, in *ecs.ListTaskDefinitionsInput, _ ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error) {
	i := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &i)
	}
	f.lists++
	out := &ecs.ListTaskDefinitionsOutput{}
	for _, n := range f.pages[i] {
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task-definition/web:%d", n))
	}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

func (f *listingECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	var n int
	fmt.Sscanf(aws.ToString(in.TaskDefinition), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:%d", &n)
	f.described = append(f.described, n)
	out := &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{
		Family: aws.String("web"), Revision: int32(n),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx:1.27")}},
	}}
	if n == f.tagged {
		out.Tags = []ecstypes.Tag{{Key: aws.String(taskdef.TagRewriteID), Value: aws.String("r1")}}
	}
	return out, nil
}

func TestFindCorrectedOrdersRevisionsItself(t *testing.T) {
	const source = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
	cases := []struct {
		name   string
		pages  [][]int
		tagged int
		want   string
		// lists bounds the ListTaskDefinitions calls (0: no bound).
		lists int
		// described is the order in which revisions are read.
		described []int
	}{
		{name: "sort honoured, stops at the source's page", pages: [][]int{{5, 4}, {3, 2}, {1}}, tagged: 3,
			want: "web:3", lists: 2, described: []int{5, 4, 3}},
		{name: "sort ignored, oldest first (moto)", pages: [][]int{{1, 2, 3, 4}}, tagged: 3,
			want: "web:3", described: []int{4, 3}},
		{name: "sort ignored across pages", pages: [][]int{{1, 2}, {3}, {4}}, tagged: 4,
			want: "web:4", lists: 3, described: []int{4}},
		{name: "nothing newer than the source", pages: [][]int{{1, 2}}, want: ""},
		{name: "newer revisions, none tagged", pages: [][]int{{3, 1, 2, 4}}, want: "", described: []int{4, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &listingECS{pages: tc.pages, tagged: tc.tagged}
			h := &Healer{ecs: f}
			got, err := h.findCorrected(context.Background(), "web", source, "r1")
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want != "" {
				want = "arn:aws:ecs:us-east-1:123456789012:task-definition/" + want
			}
			if got != want {
				t.Errorf("found %q, want %q", got, want)
			}
			if tc.lists > 0 && f.lists != tc.lists {
				t.Errorf("%d ListTaskDefinitions calls, want %d", f.lists, tc.lists)
			}
			if fmt.Sprint(f.described) != fmt.Sprint(tc.described) && !(len(f.described) == 0 && len(tc.described) == 0) {
				t.Errorf("described revisions %v, want %v (newest first)", f.described, tc.described)
			}
		})
	}
}

func TestSameRevision(t *testing.T) {
	const arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{arn, arn, true},
		{arn, "web:3", true},
		{"web:3", arn, true},
		{arn, "web:4", false},
		{arn, "api:3", false},
		{arn, "arn:aws:ecs:us-east-1:123456789012:task-definition/web:30", false},
		{arn, "web", false},
		{"", arn, false},
	} {
		if got := sameRevision(tc.a, tc.b); got != tc.want {
			t.Errorf("sameRevision(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
