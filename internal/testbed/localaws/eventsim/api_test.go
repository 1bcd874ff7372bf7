package eventsim_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
)

func TestEventBuses(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	created, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("pullheal-review"), Description: aws.String("review events")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(created.EventBusArn), "arn:aws:events:us-east-1:123456789012:event-bus/pullheal-review"; got != want {
		t.Fatalf("EventBusArn = %s, want %s", got, want)
	}
	_, err = e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("pullheal-review")})
	var exists *types.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second CreateEventBus: %v, want ResourceAlreadyExistsException", err)
	}
	for _, name := range []string{"pullheal-review", "arn:aws:events:us-east-1:123456789012:event-bus/pullheal-review"} {
		d, err := e.eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(d.Name) != "pullheal-review" || aws.ToString(d.Description) != "review events" || !d.CreationTime.Equal(e.clock.Now()) {
			t.Errorf("DescribeEventBus(%s) = %s %q %v", name, aws.ToString(d.Name), aws.ToString(d.Description), d.CreationTime)
		}
	}
	def, err := e.eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(def.Arn) != "arn:aws:events:us-east-1:123456789012:event-bus/default" {
		t.Errorf("default bus ARN = %s", aws.ToString(def.Arn))
	}

	for _, name := range []string{"a-bus", "b-bus"} {
		if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var token *string
	for {
		page, err := e.eb.ListEventBuses(ctx, &eventbridge.ListEventBusesInput{Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.EventBuses {
			names = append(names, aws.ToString(b.Name))
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	if diff := cmp.Diff([]string{"a-bus", "b-bus", "default", "pullheal-review"}, names); diff != "" {
		t.Errorf("ListEventBuses (-want +got):\n%s", diff)
	}
	prefixed, err := e.eb.ListEventBuses(ctx, &eventbridge.ListEventBusesInput{NamePrefix: aws.String("pull")})
	if err != nil {
		t.Fatal(err)
	}
	if len(prefixed.EventBuses) != 1 || aws.ToString(prefixed.EventBuses[0].Name) != "pullheal-review" {
		t.Errorf("ListEventBuses with prefix = %v", prefixed.EventBuses)
	}

	_, err = e.eb.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String("default")})
	if got := errorCode(t, err); got != "ValidationException" {
		t.Fatalf("deleting the default bus: %v, want ValidationException", err)
	}
	if _, err := e.eb.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String("a-bus")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String("a-bus")}); err != nil {
		t.Fatalf("deleting a missing bus: %v, want success", err)
	}
	_, err = e.eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("a-bus")})
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("DescribeEventBus of a deleted bus: %v, want ResourceNotFoundException", err)
	}
	for _, bad := range []string{"has space", "aws.partner/x", strings.Repeat("b", 257)} {
		if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bad)}); errorCode(t, err) != "ValidationException" {
			t.Errorf("CreateEventBus(%q): %v, want ValidationException", bad, err)
		}
	}
}

func TestRules(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	pattern := `{"source":["pullheal"]}`
	out, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("on-default"), EventPattern: aws.String(pattern), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.RuleArn), "arn:aws:events:us-east-1:123456789012:rule/on-default"; got != want {
		t.Errorf("RuleArn on the default bus = %s, want %s", got, want)
	}
	if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("custom")}); err != nil {
		t.Fatal(err)
	}
	out, err = e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("on-custom"), EventPattern: aws.String(pattern), EventBusName: aws.String("custom"), State: types.RuleStateDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.RuleArn), "arn:aws:events:us-east-1:123456789012:rule/custom/on-custom"; got != want {
		t.Errorf("RuleArn on a custom bus = %s, want %s", got, want)
	}

	d, err := e.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("on-custom"), EventBusName: aws.String("arn:aws:events:us-east-1:123456789012:event-bus/custom")})
	if err != nil {
		t.Fatal(err)
	}
	want := &eventbridge.DescribeRuleOutput{
		Name: aws.String("on-custom"), Arn: aws.String("arn:aws:events:us-east-1:123456789012:rule/custom/on-custom"),
		EventPattern: aws.String(pattern), State: types.RuleStateDisabled, EventBusName: aws.String("custom"), CreatedBy: aws.String("123456789012"),
	}
	if diff := cmp.Diff(want, d, cmpopts.IgnoreUnexported(eventbridge.DescribeRuleOutput{}), cmpopts.IgnoreFields(eventbridge.DescribeRuleOutput{}, "ResultMetadata")); diff != "" {
		t.Errorf("DescribeRule (-want +got):\n%s", diff)
	}

	for _, name := range []string{"on-default-2", "other"} {
		if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := e.eb.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("on-")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list.Rules {
		names = append(names, aws.ToString(r.Name)+"@"+aws.ToString(r.EventBusName))
	}
	if diff := cmp.Diff([]string{"on-default@default", "on-default-2@default"}, names); diff != "" {
		t.Errorf("ListRules on the default bus (-want +got):\n%s", diff)
	}
	page, err := e.eb.ListRules(ctx, &eventbridge.ListRulesInput{Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rules) != 2 || page.NextToken == nil {
		t.Fatalf("first page: %d rules, token %v", len(page.Rules), page.NextToken)
	}
	page, err = e.eb.ListRules(ctx, &eventbridge.ListRulesInput{Limit: aws.Int32(2), NextToken: page.NextToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rules) != 1 || aws.ToString(page.Rules[0].Name) != "other" || page.NextToken != nil {
		t.Fatalf("second page: %v", page.Rules)
	}

	// State changes.
	if _, err := e.eb.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String("on-custom"), EventBusName: aws.String("custom")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String("on-default")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]types.RuleState{"on-default": types.RuleStateDisabled, "on-custom": types.RuleStateEnabled} {
		bus := "default"
		if name == "on-custom" {
			bus = "custom"
		}
		d, err := e.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name), EventBusName: aws.String(bus)})
		if err != nil {
			t.Fatal(err)
		}
		if d.State != want {
			t.Errorf("%s state %s, want %s", name, d.State, want)
		}
	}

	// PutRule replaces the rule but keeps its targets.
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("other"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("other"), EventPattern: aws.String(`{"source":["elsewhere"]}`)}); err != nil {
		t.Fatal(err)
	}
	targets, err := e.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("other")})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets.Targets) != 1 {
		t.Errorf("targets after PutRule update: %d, want 1", len(targets.Targets))
	}

	// A rule with targets cannot be deleted; without, it can; a missing one
	// is no error.
	_, err = e.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("other")})
	if got := errorCode(t, err); got != "ValidationException" {
		t.Fatalf("DeleteRule with targets: %v, want ValidationException", err)
	}
	if _, err := e.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("other"), Ids: []string{"q", "never-there"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("other")}); err != nil {
		t.Fatalf("deleting a missing rule: %v, want success", err)
	}
	_, err = e.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("other")})
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("DescribeRule of a deleted rule: %v, want ResourceNotFoundException", err)
	}
}

func TestPutRuleInvalid(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("custom")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   eventbridge.PutRuleInput
		code string
	}{
		{"invalid pattern", eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":"aws.ecs"}`)}, "InvalidEventPatternException"},
		{"pattern not JSON", eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`source`)}, "InvalidEventPatternException"},
		{"neither pattern nor schedule", eventbridge.PutRuleInput{Name: aws.String("r")}, "ValidationException"},
		{"bad name", eventbridge.PutRuleInput{Name: aws.String("has space"), EventPattern: aws.String(`{"a":["b"]}`)}, "ValidationException"},
		{"bad state", eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"a":["b"]}`), State: "SOMETIMES"}, "ValidationException"},
		{"missing bus", eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"a":["b"]}`), EventBusName: aws.String("nope")}, "ResourceNotFoundException"},
		{"bus ARN of another account", eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"a":["b"]}`), EventBusName: aws.String("arn:aws:events:us-east-1:999999999999:event-bus/custom")}, "ValidationException"},
		{"schedule on a custom bus", eventbridge.PutRuleInput{Name: aws.String("r"), ScheduleExpression: aws.String("rate(5 minutes)"), EventBusName: aws.String("custom")}, "ValidationException"},
		{"bad schedule", eventbridge.PutRuleInput{Name: aws.String("r"), ScheduleExpression: aws.String("every day")}, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eb.PutRule(ctx, &tt.in)
			if err == nil {
				t.Fatal("PutRule succeeded, want an error")
			}
			if got := errorCode(t, err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	_, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"detail":{"n":[{"numeric":[">",5,"<",1]}]}}`)})
	var invalid *types.InvalidEventPatternException
	if !errors.As(err, &invalid) {
		t.Fatalf("PutRule with a bad range: %v, want InvalidEventPatternException", err)
	}
	if msg := aws.ToString(invalid.Message); msg != `Event pattern is not valid. Reason: Bottom must be less than top (at "detail.n")` {
		t.Errorf("message %q", msg)
	}
	rules, err := e.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 0 {
		t.Errorf("refused PutRule calls left rules: %v", rules.Rules)
	}
	// A scheduled rule on the default bus is accepted.
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("tick"), ScheduleExpression: aws.String("rate(5 minutes)")}); err != nil {
		t.Fatal(err)
	}
}

func TestTargets(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["x"]}`)}); err != nil {
		t.Fatal(err)
	}
	put := []types.Target{
		{Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), InputPath: aws.String("$.detail"), SqsParameters: &types.SqsParameters{MessageGroupId: aws.String("g")}},
		{Id: aws.String("lambda"), Arn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f"), Input: aws.String(`{"constant":true}`), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")},
	}
	out, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: put})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.FailedEntries) != 0 {
		t.Fatalf("PutTargets failed entries: %v", out.FailedEntries)
	}
	list, err := e.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by ID, every member as given.
	want := []types.Target{put[1], put[0]}
	if diff := cmp.Diff(want, list.Targets, cmpopts.IgnoreUnexported(types.Target{}, types.SqsParameters{})); diff != "" {
		t.Errorf("ListTargetsByRule (-want +got):\n%s", diff)
	}

	tests := []struct {
		name    string
		rule    string
		targets []types.Target
		code    string
	}{
		{"input and input path", "r", []types.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), Input: aws.String("{}"), InputPath: aws.String("$")}}, "ValidationException"},
		{"input transformer", "r", []types.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), InputTransformer: &types.InputTransformer{InputTemplate: aws.String(`"x"`)}}}, "ValidationException"},
		{"input not JSON", "r", []types.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), Input: aws.String("not json")}}, "ValidationException"},
		{"input path not JSONPath", "r", []types.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), InputPath: aws.String("detail")}}, "ValidationException"},
		{"bad id", "r", []types.Target{{Id: aws.String("a b"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")}}, "ValidationException"},
		{"bad arn", "r", []types.Target{{Id: aws.String("t"), Arn: aws.String("queue")}}, "ValidationException"},
		{"missing rule", "nope", []types.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")}}, "ResourceNotFoundException"},
		{"too many targets", "r", []types.Target{
			{Id: aws.String("t1"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")},
			{Id: aws.String("t2"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")},
			{Id: aws.String("t3"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")},
			{Id: aws.String("t4"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:q")},
		}, "LimitExceededException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The SDK retries LimitExceededException as throttling; one
			// attempt shows the error at once.
			_, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(tt.rule), Targets: tt.targets}, func(o *eventbridge.Options) { o.RetryMaxAttempts = 1 })
			if err == nil {
				t.Fatal("PutTargets succeeded, want an error")
			}
			if got := errorCode(t, err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	list, err = e.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Targets) != 2 {
		t.Errorf("refused PutTargets calls changed the targets: %d", len(list.Targets))
	}
	if _, err := e.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("r"), Ids: []string{"lambda"}}); err != nil {
		t.Fatal(err)
	}
	list, err = e.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Targets) != 1 || aws.ToString(list.Targets[0].Id) != "queue" {
		t.Errorf("targets after RemoveTargets: %v", list.Targets)
	}
}

func TestPutEventsEntryErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	entry := func(source, detailType, detail string) types.PutEventsRequestEntry {
		en := types.PutEventsRequestEntry{}
		if source != "" {
			en.Source = aws.String(source)
		}
		if detailType != "" {
			en.DetailType = aws.String(detailType)
		}
		if detail != "" {
			en.Detail = aws.String(detail)
		}
		return en
	}
	entries := []types.PutEventsRequestEntry{
		entry("pullheal", "Review", `{"ok":true}`),
		entry("", "Review", `{}`),
		entry("pullheal", "", `{}`),
		entry("pullheal", "Review", ""),
		entry("pullheal", "Review", `{"unterminated":`),
		entry("pullheal", "Review", `["an","array"]`),
		entry("aws.ecs", "ECS Task State Change", `{}`),
		{Source: aws.String("pullheal"), DetailType: aws.String("Review"), Detail: aws.String("{}"), EventBusName: aws.String("no-such-bus")},
	}
	out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ok            bool
		code, message string
	}
	var got []result
	for _, r := range out.Entries {
		got = append(got, result{r.EventId != nil && aws.ToString(r.ErrorCode) == "", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)})
	}
	want := []result{
		{ok: true},
		{code: "InvalidArgument", message: "Parameter Source is not valid. Reason: Source is a required argument."},
		{code: "InvalidArgument", message: "Parameter DetailType is not valid. Reason: DetailType is a required argument."},
		{code: "InvalidArgument", message: "Parameter Detail is not valid. Reason: Detail is a required argument."},
		{code: "MalformedDetail", message: "Detail is malformed."},
		{code: "MalformedDetail", message: "Detail is malformed."},
		{code: "NotAuthorizedForSourceException", message: "Not authorized for the source."},
		{ok: true}, // AWS accepts events for a bus that does not exist
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if out.FailedEntryCount != 6 {
		t.Errorf("FailedEntryCount = %d, want 6", out.FailedEntryCount)
	}

	many := make([]types.PutEventsRequestEntry, 11)
	for i := range many {
		many[i] = entry("pullheal", "Review", "{}")
	}
	_, err = e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: many})
	if got := errorCode(t, err); got != "ValidationException" {
		t.Fatalf("11 entries: %v, want ValidationException", err)
	}
}

func TestTestEventPattern(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	pattern, err := os.ReadFile("testdata/ecs-rule.pattern.json")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{"fargate-rate-limited.json": true, "running.json": false} {
		event, err := os.ReadFile("testdata/events/" + file)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.eb.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{EventPattern: aws.String(string(pattern)), Event: aws.String(string(event))})
		if err != nil {
			t.Fatal(err)
		}
		if out.Result != want {
			t.Errorf("TestEventPattern(%s) = %v, want %v", file, out.Result, want)
		}
	}
	_, err = e.eb.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{EventPattern: aws.String(`{"source":[]}`), Event: aws.String(`{}`)})
	var invalid *types.InvalidEventPatternException
	if !errors.As(err, &invalid) {
		t.Fatalf("invalid pattern: %v, want InvalidEventPatternException", err)
	}
	for _, event := range []string{`{"source":"x"}`, `not json`, `{"id":"1","account":"1","source":"x","time":"t","region":"r","detail-type":"d"}`} {
		_, err = e.eb.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{EventPattern: aws.String(`{"source":["x"]}`), Event: aws.String(event)})
		if got := errorCode(t, err); got != "ValidationException" {
			t.Errorf("event %s: %v, want ValidationException", event, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     eventsim.Config
		wantErr string
	}{
		{eventsim.Config{}, ""},
		{eventsim.Config{Account: "000000000000", Region: "eu-central-1"}, ""},
		{eventsim.Config{Account: "12"}, `account "12" is not 12 digits`},
		{eventsim.Config{Region: "moon"}, `region "moon"`},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tt.cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.wantErr)
		}
		if _, err := eventsim.New(tt.cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", tt.cfg)
		}
	}
}
