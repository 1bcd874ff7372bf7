package conformance_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
)

// The rule pattern pullheal ships, and the sample events it is meant to
// deliver or not (deploy/testdata/events/expect.json, derived from
// EventBridge's documented matching).
const (
	shippedPattern = "../../../deploy/testdata/event-pattern.json"
	sampleEvents   = "../../../deploy/testdata/events"
)

// testSource stands in for aws.ecs on both sides: an account may not put
// events with an aws. source (PutEvents answers NotAuthorizedForSource on
// AWS and on the test bed), so the pattern and the events are renamed
// alike, which leaves every other field's matching as it was.
const testSource = "conformance.ecs"

// patternDeviation is a sample on which moto's matching differs from what
// AWS documents, with the page that says so.
type patternDeviation struct {
	Event string `json:"event"`
	Moto  bool   `json:"moto"` // what moto delivers
	Doc   string `json:"doc"`
	Why   string `json:"why"`
}

// TestShippedPatternMatching puts every sample event to a bus whose rule
// has the shipped pattern and an SQS target, on the test bed and on moto,
// and compares what arrives with what AWS's documentation says should.
// The test bed must agree with the documentation; where moto does not,
// testdata/pattern-deviations.json must say so.
func TestShippedPatternMatching(t *testing.T) {
	pattern, err := os.ReadFile(shippedPattern)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]bool
	readJSON(t, filepath.Join(sampleEvents, "expect.json"), &want)
	var deviations []patternDeviation
	readJSON(t, "testdata/pattern-deviations.json", &deviations)
	events := map[string]map[string]any{}
	for name := range want {
		var ev map[string]any
		readJSON(t, filepath.Join(sampleEvents, name), &ev)
		if ev["source"] != "aws.ecs" {
			t.Fatalf("%s: source %v, want aws.ecs", name, ev["source"])
		}
		events[name] = ev
	}
	renamed := strings.ReplaceAll(string(pattern), `"aws.ecs"`, `"`+testSource+`"`)
	if renamed == string(pattern) {
		t.Fatalf("%s does not name the aws.ecs source", shippedPattern)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	bed := startTestBed(t)
	got := map[string]map[string]bool{
		"test bed": deliveredSamples(ctx, t, newTarget("test bed", bed.APIURL(), region), renamed, events),
		"moto":     deliveredSamples(ctx, t, newTarget("moto", moto.URL, region), renamed, events),
	}
	if diff := cmp.Diff(want, got["test bed"]); diff != "" {
		t.Errorf("the test bed delivers other samples than AWS documents (-documented +test bed):\n%s", diff)
	}
	listed := map[string]patternDeviation{}
	for _, d := range deviations {
		if !docURL.MatchString(d.Doc) || d.Why == "" {
			t.Errorf("pattern-deviations.json: %s needs an AWS documentation URL and a why", d.Event)
		}
		listed[d.Event] = d
	}
	for name, w := range want {
		m := got["moto"][name]
		d, ok := listed[name]
		switch {
		case m != w && !ok:
			t.Errorf("moto delivers %s: %v, AWS documents %v; fix the samples or list it in testdata/pattern-deviations.json", name, m, w)
		case m == w && ok:
			t.Errorf("pattern-deviations.json lists %s, but moto now matches it as documented; remove it", name)
		case ok && d.Moto != m:
			t.Errorf("pattern-deviations.json says moto delivers %s: %v, it delivers %v", name, d.Moto, m)
		}
	}
}

// deliveredSamples sets up the rule and its queue on one side, puts every
// sample and reports which arrived (told apart by their detail).
func deliveredSamples(ctx context.Context, t *testing.T, side *target, pattern string, events map[string]map[string]any) map[string]bool {
	t.Helper()
	q := side.clients["sqs"].(*sqs.Client)
	eb := side.clients["events"].(*eventbridge.Client)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pattern-check")})
	if err != nil {
		t.Fatalf("%s: %v", side.name, err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("%s: %v", side.name, err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stopped-pulls"), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatalf("%s: put the shipped pattern: %v", side.name, err)
	}
	out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stopped-pulls"),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("%s: put target: %v %+v", side.name, err, out)
	}
	names := make([]string, 0, len(events))
	for name := range events {
		names = append(names, name)
	}
	sort.Strings(names)
	details := map[string]any{}
	for _, name := range names {
		ev := events[name]
		detail, _ := json.Marshal(ev["detail"])
		var resources []string
		for _, r := range ev["resources"].([]any) {
			resources = append(resources, r.(string))
		}
		res, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(testSource), DetailType: aws.String(ev["detail-type"].(string)),
			Detail: aws.String(string(detail)), Resources: resources,
		}}})
		if err != nil || res.FailedEntryCount != 0 {
			t.Fatalf("%s: put %s: %v %+v", side.name, name, err, res)
		}
		details[name] = ev["detail"]
	}
	got := map[string]bool{}
	for _, name := range names {
		got[name] = false
	}
	// Deliveries may lag the PutEvents answer; an empty long poll after
	// the last arrival ends the wait (bounded either way).
	for range 10 {
		msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("%s: receive: %v", side.name, err)
		}
		if len(msgs.Messages) == 0 {
			break
		}
		for _, m := range msgs.Messages {
			var body struct {
				Source string `json:"source"`
				Detail any    `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil {
				t.Fatalf("%s: a delivered body is not an event: %v", side.name, err)
			}
			found := false
			for name, d := range details {
				if reflect.DeepEqual(d, body.Detail) {
					got[name], found = true, true
				}
			}
			if !found || body.Source != testSource {
				t.Errorf("%s delivered an event that is none of the samples (source %s)", side.name, body.Source)
			}
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("%s: %v", side.name, err)
			}
		}
	}
	return got
}
