package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// answerEvents answers every PutEvents with out.
type answerEvents struct{ out *eventbridge.PutEventsOutput }

func (a answerEvents) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return a.out, nil
}

// TestPublishReportsAFailedEntry reads both signs of a failed entry, so
// that an answer which shows only one of them still fails the publish.
func TestPublishReportsAFailedEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     *eventbridge.PutEventsOutput
		wantErr string
	}{
		{"accepted", &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("e1")}}}, ""},
		{"counted and named", &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{
			{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")}}}, "InternalFailure: try again"},
		{"counted, no entries", &eventbridge.PutEventsOutput{FailedEntryCount: 1}, "no entry in the answer"},
		{"named, not counted", &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{
			{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")}}}, "ThrottlingException: slow down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newReviewer(answerEvents{tc.out}, "").Publish(context.Background(), Review{
				Outcome: "corrected", SourceTaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Publish: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Publish: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
