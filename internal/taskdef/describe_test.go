package taskdef_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// TestCheckDescribedFindsWhatTheSDKDropped describes a revision over HTTP
// with the real SDK client, as the agent and scan --apply do, with answers
// (testdata/wire-*.json) that hold members this build's SDK does not
// model. The SDK drops them without a word, so FromSDK's document lacks
// them; CheckDescribed must name each one from the recorded body, and
// accept an answer whose only extra members are outside the task
// definition.
func TestCheckDescribedFindsWhatTheSDKDropped(t *testing.T) {
	tests := []struct {
		file    string
		dropped string // a member name FromSDK's document lacks; "" for none
		want    string // CheckDescribed's error; "" for none
	}{
		{"wire-describe.json", "", ""},
		{"ec2-describe.json", "", ""},
		{"wire-describe-new-envelope-member.json", "", ""},
		{"wire-describe-new-top-field.json", "taskIsolation",
			"task definition shop-frontend: taskIsolation: field not known to the ECS SDK: a corrected revision registered through this build's SDK would lose it (update pullheal)"},
		{"wire-describe-new-container-field.json", "shutdownHooks",
			"task definition shop-frontend: containerDefinitions[1].shutdownHooks: field not known to the ECS SDK: a corrected revision registered through this build's SDK would lose it (update pullheal)"},
		{"wire-describe-new-volume-field.json", "throughputMode",
			"task definition shop-frontend: volumes[0].efsVolumeConfiguration.throughputMode: field not known to the ECS SDK: a corrected revision registered through this build's SDK would lose it (update pullheal)"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			stub := &ecsStub{describe: readFile(t, tt.file)}
			client := stub.client(t, "us-east-1")
			var body []byte
			out, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{
				TaskDefinition: aws.String("shop-frontend:17"),
				Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
			}, taskdef.RecordBody(&body))
			if err != nil {
				t.Fatalf("DescribeTaskDefinition: %v", err)
			}
			if !bytes.Equal(body, stub.describe) {
				t.Fatalf("recorded body is not the answer sent (%d bytes recorded, %d sent)", len(body), len(stub.describe))
			}
			// Recording must leave the SDK's own reading intact.
			doc, err := taskdef.FromSDK(out.TaskDefinition, out.Tags)
			if err != nil {
				t.Fatalf("FromSDK: %v", err)
			}
			if doc.Family() == "" || len(doc.Containers()) == 0 || len(out.Tags) == 0 {
				t.Fatalf("the SDK read an empty answer: family %q, %d containers, %d tags", doc.Family(), len(doc.Containers()), len(out.Tags))
			}
			enc, err := doc.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if tt.dropped != "" && bytes.Contains(enc, []byte(`"`+tt.dropped+`"`)) {
				t.Fatalf("FromSDK kept %s: the SDK models it now, pick a member it does not", tt.dropped)
			}

			err = taskdef.CheckDescribed(body)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckDescribed: %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("CheckDescribed:\n got %v\nwant %s", err, tt.want)
			case tt.want != "" && !errors.Is(err, taskdef.ErrUnknownField):
				t.Errorf("CheckDescribed: %v does not wrap ErrUnknownField", err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	if err := taskdef.CheckDescribed(nil); err != nil {
		t.Errorf("CheckDescribed(nil) = %v: a client that ignored RecordBody must not be refused", err)
	}
}
