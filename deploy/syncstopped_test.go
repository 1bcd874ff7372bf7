package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
)

// The deployment the sample events of testdata/sync-events come from: the
// module with name "ops", the stack named "ops" (not the module's default
// name, so that a fixed family "pullheal-sync" shows), both in cluster prod
// of account 123456789012 in us-east-1 (the account, region and cluster of
// the ECS samples in testdata/events).
const (
	samplePartition = "aws"
	sampleRegion    = "us-east-1"
	sampleAccount   = "123456789012"
	sampleCluster   = "prod"
	sampleName      = "ops"
	sampleLogGroup  = "SYNC-LOG-GROUP"
	syncEventsDir   = "testdata/sync-events"
)

// renderJSON rebuilds v (a decoded JSON document), replacing each value
// that node answers for (ok) with what it returns, and walking the rest.
func renderJSON(v any, node func(any) (any, bool)) any {
	if r, ok := node(v); ok {
		return r
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = renderJSON(e, node)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = renderJSON(e, node)
		}
		return out
	}
	return v
}

// renderStrings applies fn to every string in v (a decoded JSON document).
func renderStrings(v any, fn func(string) any) any {
	return renderJSON(v, func(n any) (any, bool) {
		if s, ok := n.(string); ok {
			return fn(s), true
		}
		return nil, false
	})
}

// tfSample evaluates the module for the sample deployment: the references
// the test's evaluator leaves symbolic (data sources, locals it cannot
// compute, other resources' attributes) become the sample's values.
type tfSample struct {
	t    *testing.T
	e    *tfEval
	repl *strings.Replacer
}

func newTFSample(t *testing.T, m *tfModule) *tfSample {
	t.Helper()
	e := newEval(m, map[string]cty.Value{
		"name":    cty.StringVal(sampleName),
		"cluster": cty.StringVal(sampleCluster),
	})
	family, ok := e.attr(t, "aws_ecs_task_definition.sync.family")
	if !ok {
		t.Fatal("aws_ecs_task_definition.sync has no family")
	}
	logGroupArn := "arn:" + samplePartition + ":logs:" + sampleRegion + ":" + sampleAccount + ":log-group:" + sampleLogGroup
	return &tfSample{t: t, e: e, repl: strings.NewReplacer(
		"${data.aws_partition.current.partition}", samplePartition,
		"${data.aws_region.current.id}", sampleRegion,
		"${data.aws_caller_identity.current.account_id}", sampleAccount,
		"${local.cluster_name}", sampleCluster,
		"${aws_ecs_task_definition.sync[0].family}", family.(string),
		"${aws_cloudwatch_log_group.sync[0].arn}", logGroupArn,
	)}
}

func (s *tfSample) render(v any) any {
	return renderStrings(v, func(x string) any {
		r := s.repl.Replace(x)
		if strings.Contains(r, "${") {
			s.t.Errorf("Terraform: %q names something the sample deployment does not set", r)
		}
		return r
	})
}

func (s *tfSample) attr(addr string) any {
	s.t.Helper()
	v, ok := s.e.attr(s.t, addr)
	if !ok {
		s.t.Fatalf("%s is not set", addr)
	}
	return s.render(v)
}

func (s *tfSample) jsonAttr(addr string) any {
	s.t.Helper()
	return s.render(s.e.jsonAttr(s.t, addr))
}

// cfnSample renders the template's Fn::Sub and Ref for the sample
// deployment (the stack named sampleName).
func cfnSample(t *testing.T, v any) any {
	t.Helper()
	values := map[string]string{
		"AWS::Partition": samplePartition,
		"AWS::Region":    sampleRegion,
		"AWS::AccountId": sampleAccount,
		"AWS::StackName": sampleName,
		"Cluster":        sampleCluster,
		"SyncLogGroup":   sampleLogGroup,
	}
	name := func(n string) string {
		r, ok := values[n]
		if !ok {
			t.Errorf("CloudFormation: %s is not set in the sample deployment", n)
		}
		return r
	}
	return renderJSON(v, func(n any) (any, bool) {
		x, ok := n.(map[string]any)
		if !ok || len(x) != 1 {
			return nil, false
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return subVar.ReplaceAllStringFunc(s, func(m string) string { return name(m[2 : len(m)-1]) }), true
		}
		if s, ok := x["Ref"].(string); ok {
			return name(s), true
		}
		return nil, false
	})
}

func cfnProperty(t *testing.T, tmpl cfnTemplate, path string) any {
	t.Helper()
	v, ok := lookup(map[string]any(tmpl), "Resources/"+path)
	if !ok {
		t.Fatalf("%s: no Resources/%s", cfnPath, path)
	}
	return v
}

// TestSyncStoppedRule holds the rule that watches the scheduled sync's
// stops to what it is for, in both deploys: the same pattern once each is
// rendered for one deployment, naming the family of that deployment's sync
// task definition (which the stack now names after itself, as the module
// does after var.name), and run by the local EventBridge's matcher over a
// sync killed for memory, one that never started, one that succeeded, and
// the stops of other tasks, families, deployments and clusters.
func TestSyncStoppedRule(t *testing.T) {
	m := loadTerraform(t)
	tmpl := loadCFN(t)
	tf := newTFSample(t, m)

	// Family and group: the module's, the stack's, the scheduler's.
	wantFamily := sampleName + "-sync"
	for _, c := range []struct {
		source string
		got    any
	}{
		{"Terraform sync family", tf.attr("aws_ecs_task_definition.sync.family")},
		{"Terraform sync group", tf.attr("aws_scheduler_schedule.sync.target.ecs_parameters.group")},
		{"CloudFormation sync family", cfnSample(t, cfnProperty(t, tmpl, "SyncTaskDefinition/Properties/Family"))},
		{"CloudFormation sync group", cfnSample(t, cfnProperty(t, tmpl, "SyncSchedule/Properties/Target/EcsParameters/Group"))},
	} {
		if c.got != wantFamily {
			t.Errorf("%s for a deployment named %s: %v, want %s", c.source, sampleName, c.got, wantFamily)
		}
	}
	for _, c := range []struct {
		source string
		got    any
	}{
		{"Terraform agent family", tf.attr("aws_ecs_task_definition.agent.family")},
		{"CloudFormation agent family", cfnSample(t, cfnProperty(t, tmpl, "TaskDefinition/Properties/Family"))},
	} {
		if want := sampleName + "-agent"; c.got != want {
			t.Errorf("%s for a deployment named %s: %v, want %s", c.source, sampleName, c.got, want)
		}
	}
	runTask := "arn:aws:ecs:us-east-1:123456789012:task-definition/" + wantFamily + ":*"
	cfnPolicy := cfnSample(t, cfnProperty(t, tmpl, "SchedulerRole/Properties/Policies/0/PolicyDocument"))
	statements, _ := lookup(cfnPolicy, "Statement")
	found := false
	for _, s := range statements.([]any) {
		if sid, _ := lookup(s, "Sid"); sid == "RunSyncTask" {
			found = true
			if res, _ := lookup(s, "Resource"); res != runTask {
				t.Errorf("CloudFormation: the scheduler may run %v, want %s (this stack's sync family only)", res, runTask)
			}
		}
	}
	if !found {
		t.Error("CloudFormation: the scheduler role has no RunSyncTask statement")
	}

	tfPattern := asJSON(t, tf.jsonAttr("aws_cloudwatch_event_rule.sync_stopped.event_pattern"))
	cfnPattern := asJSON(t, cfnSample(t, cfnProperty(t, tmpl, "SyncStoppedRule/Properties/EventPattern")))
	if diff := cmp.Diff(cfnPattern, tfPattern); diff != "" {
		t.Errorf("stopped-sync rule pattern (-CloudFormation +Terraform):\n%s", diff)
	}
	if prefix, _ := lookup(tfPattern, "detail/taskDefinitionArn/0/prefix"); prefix != strings.TrimSuffix(runTask, "*") {
		t.Errorf("the rule takes task definitions %v, want the sync family's revisions %s", prefix, strings.TrimSuffix(runTask, "*"))
	}

	var expect map[string]bool
	readJSON(t, filepath.Join(syncEventsDir, "expect.json"), &expect)
	// The ECS samples of other tasks (the agent's rule's) never match.
	others, err := filepath.Glob("testdata/events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range others {
		if filepath.Base(f) != "expect.json" {
			expect[f] = false
		}
	}
	for source, pattern := range map[string]any{"Terraform": tfPattern, "CloudFormation": cfnPattern} {
		b, err := json.Marshal(pattern)
		if err != nil {
			t.Fatal(err)
		}
		p, err := eventsim.ParsePattern(string(b))
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		for name, want := range expect {
			path := name
			if !strings.Contains(name, "/") {
				path = filepath.Join(syncEventsDir, name)
			}
			got, err := p.Match(readFile(t, path))
			if err != nil {
				t.Fatalf("%s: %s: %v", source, path, err)
			}
			if got != want {
				t.Errorf("%s: the stopped-sync rule matches %s: %v, want %v", source, path, got, want)
			}
		}
	}
	entries, err := os.ReadDir(syncEventsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := expect[e.Name()]; !ok && e.Name() != "expect.json" {
			t.Errorf("%s/%s has no expectation in expect.json", syncEventsDir, e.Name())
		}
	}
}

// TestSyncStoppedAlarm compares what the rule feeds in both deploys: the
// alarm on its matches (TriggeredRules of that rule, notifying where the
// sync failure alarm does), the rule's target (the sync's log group) and
// the log group's resource policy that lets EventBridge write there.
func TestSyncStoppedAlarm(t *testing.T) {
	m := loadTerraform(t)
	tmpl := loadCFN(t)
	tf := newTFSample(t, m)

	for _, f := range []struct{ tf, cfn string }{
		{"namespace", "Namespace"}, {"metric_name", "MetricName"}, {"statistic", "Statistic"},
		{"period", "Period"}, {"evaluation_periods", "EvaluationPeriods"}, {"threshold", "Threshold"},
		{"comparison_operator", "ComparisonOperator"}, {"treat_missing_data", "TreatMissingData"},
	} {
		tv := asJSON(t, tf.attr("aws_cloudwatch_metric_alarm.sync_stopped."+f.tf))
		cv := asJSON(t, cfnProperty(t, tmpl, "SyncStoppedAlarm/Properties/"+f.cfn))
		if !cmp.Equal(tv, cv) {
			t.Errorf("stopped-sync alarm %s: CloudFormation %v, Terraform %v", f.tf, cv, tv)
		}
	}
	if ns, name := tf.attr("aws_cloudwatch_metric_alarm.sync_stopped.namespace"), tf.attr("aws_cloudwatch_metric_alarm.sync_stopped.metric_name"); ns != "AWS/Events" || name != "TriggeredRules" {
		t.Errorf("the stopped-sync alarm watches %v %v, want AWS/Events TriggeredRules (the rule's matches)", ns, name)
	}
	dims, ok, err := m.attrExpr("aws_cloudwatch_metric_alarm.sync_stopped.dimensions")
	if err != nil {
		t.Fatal(err)
	}
	if !ok || m.exprText(dims) != "{ RuleName = aws_cloudwatch_event_rule.sync_stopped[0].name }" {
		t.Errorf("Terraform: the stopped-sync alarm's dimensions are not the rule's name as RuleName")
	}
	wantDims := []any{map[string]any{"Name": "RuleName", "Value": map[string]any{"Ref": "SyncStoppedRule"}}}
	if diff := cmp.Diff(wantDims, cfnProperty(t, tmpl, "SyncStoppedAlarm/Properties/Dimensions")); diff != "" {
		t.Errorf("CloudFormation: the stopped-sync alarm's dimensions (-want +got):\n%s", diff)
	}
	for _, a := range []string{"alarm_actions", "ok_actions"} {
		got, _ := tf.e.attr(t, "aws_cloudwatch_metric_alarm.sync_stopped."+a)
		want, _ := tf.e.attr(t, "aws_cloudwatch_metric_alarm.sync_failed."+a)
		if got == nil || !cmp.Equal(got, want) {
			t.Errorf("Terraform: the stopped-sync alarm's %s are %v, the sync failure alarm's %v", a, got, want)
		}
	}
	for _, a := range []string{"AlarmActions", "OKActions"} {
		got := asJSON(t, cfnProperty(t, tmpl, "SyncStoppedAlarm/Properties/"+a))
		want := asJSON(t, cfnProperty(t, tmpl, "SyncFailedAlarm/Properties/"+a))
		if !cmp.Equal(got, want) {
			t.Errorf("CloudFormation: the stopped-sync alarm's %s are %v, the sync failure alarm's %v", a, got, want)
		}
	}

	// The target: the sync's log group.
	logGroupArn := "arn:aws:logs:us-east-1:123456789012:log-group:" + sampleLogGroup
	if got := tf.attr("aws_cloudwatch_event_target.sync_stopped.arn"); got != logGroupArn {
		t.Errorf("Terraform: the stopped-sync rule's target is %v, want the sync's log group", got)
	}
	targets, _ := cfnProperty(t, tmpl, "SyncStoppedRule/Properties/Targets").([]any)
	if len(targets) != 1 {
		t.Fatalf("CloudFormation: the stopped-sync rule has %d targets, want 1", len(targets))
	}
	if got, _ := lookup(cfnSample(t, targets[0]), "Arn"); got != logGroupArn {
		t.Errorf("CloudFormation: the stopped-sync rule's target is %v, want the sync's log group", got)
	}

	// The log group's resource policy: the same statement, on that group.
	tfPolicy := tf.jsonAttr("aws_cloudwatch_log_resource_policy.sync_events.policy_document")
	doc, _ := cfnSample(t, cfnProperty(t, tmpl, "SyncStoppedEventsPolicy/Properties/PolicyDocument")).(string)
	var cfnPolicy any
	if err := json.Unmarshal([]byte(doc), &cfnPolicy); err != nil {
		t.Fatalf("CloudFormation: the log resource policy is not JSON: %v", err)
	}
	if diff := cmp.Diff(cfnPolicy, tfPolicy); diff != "" {
		t.Errorf("log resource policy (-CloudFormation +Terraform):\n%s", diff)
	}
	if res, _ := lookup(tfPolicy, "Statement/0/Resource"); res != logGroupArn+":*" {
		t.Errorf("the log resource policy covers %v, want only the sync's log group %s:*", res, logGroupArn)
	}
}
