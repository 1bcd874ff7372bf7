package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/pullheal/pullheal/internal/policysource"
)

// EventsAPI lists the EventBridge call the reviewer makes.
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Review detail-types, one per outcome.
const (
	DetailCorrected = "Task Definition Corrected"
	DetailSkipped   = "Healing Skipped"
	DetailFailed    = "Healing Failed"
	// DetailRolledBack: a revision pullheal generated failed to pull from
	// ECR and its service went back to the source revision (rollback.go).
	DetailRolledBack = "Healing Rolled Back"
	// ReviewSource is the source of every review event.
	ReviewSource = "pullheal"
)

// ImageChange is one container's image decision.
type ImageChange struct {
	Container string `json:"container"`
	From      string `json:"from"`
	To        string `json:"to,omitempty"`
	Route     string `json:"route"`
	Rule      string `json:"rule,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Review is the detail of a review event: everything an engineer needs to
// review a generated revision without opening the console.
type Review struct {
	Outcome                 string        `json:"outcome"`
	Reason                  string        `json:"reason"`
	Cluster                 string        `json:"cluster"`
	Service                 string        `json:"service,omitempty"`
	Group                   string        `json:"group,omitempty"`
	TaskArn                 string        `json:"taskArn"`
	SourceTaskDefinitionArn string        `json:"sourceTaskDefinitionArn"`
	TaskDefinitionArn       string        `json:"taskDefinitionArn,omitempty"`
	RewriteID               string        `json:"rewriteId,omitempty"`
	Images                  []ImageChange `json:"images"`
	ServiceAction           string        `json:"serviceAction,omitempty"`
	ServiceUpdated          bool          `json:"serviceUpdated"`
	Diff                    string        `json:"diff,omitempty"`
	// StopReason is, for a rollback, why the generated revision's task
	// stopped, as ECS reported it.
	StopReason string `json:"stopReason,omitempty"`
	// ProvenanceNotTagged names the provenance tags that did not fit under
	// ECS's 50 tags per revision (the user's own tags are always kept).
	ProvenanceNotTagged []string `json:"provenanceNotTagged,omitempty"`
	// Policy names the policy the heal decided with; absent when the
	// agent runs without one.
	Policy *policysource.Info `json:"policy,omitempty"`
	// PullPermission says whether the healed tasks' role may pull the new
	// images from ECR, as far as the agent could tell.
	PullPermission *PullPermission `json:"pullPermission,omitempty"`
}

// done is what a finished heal records in its lease, so that a duplicate
// handled later (on any replica) can report what was done.
func (r Review) done() *doneRecord {
	return &doneRecord{TaskDefinitionArn: r.TaskDefinitionArn, ServiceUpdated: r.ServiceUpdated, ServiceAction: r.ServiceAction}
}

// doneRecord is the record of a finished heal.
type doneRecord struct {
	TaskDefinitionArn string `json:"taskDefinitionArn"`
	ServiceUpdated    bool   `json:"serviceUpdated"`
	ServiceAction     string `json:"serviceAction"`
}

func (d *doneRecord) merge(r Review) Review {
	r.TaskDefinitionArn = d.TaskDefinitionArn
	r.ServiceAction = "already healed: " + d.ServiceAction
	r.Reason = "duplicate of a failure already healed"
	return r
}

// reviewer publishes review events to an EventBridge bus.
type reviewer struct {
	events EventsAPI
	bus    string
}

// newReviewer publishes to bus ("" for the default bus).
func newReviewer(events EventsAPI, bus string) *reviewer {
	return &reviewer{events: events, bus: bus}
}

// Publish sends one review event.
func (r *reviewer) Publish(ctx context.Context, rv Review) error {
	detailType := map[string]string{outcomeCorrected: DetailCorrected, outcomeSkipped: DetailSkipped, outcomeFailed: DetailFailed, outcomeRolledBack: DetailRolledBack}[rv.Outcome]
	if detailType == "" {
		return fmt.Errorf("no review event for outcome %q", rv.Outcome)
	}
	if rv.Images == nil {
		rv.Images = []ImageChange{}
	}
	detail, err := json.Marshal(rv)
	if err != nil {
		return fmt.Errorf("encode review: %w", err)
	}
	resources := []string{rv.SourceTaskDefinitionArn}
	if rv.TaskDefinitionArn != "" {
		resources = append(resources, rv.TaskDefinitionArn)
	}
	entry := ebtypes.PutEventsRequestEntry{
		Source: aws.String(ReviewSource), DetailType: aws.String(detailType), Detail: aws.String(string(detail)), Resources: resources,
	}
	if r.bus != "" {
		entry.EventBusName = aws.String(r.bus)
	}
	out, err := r.events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put review event: %w", err)
	}
	// Either sign of a failed entry counts: a count without entries, or an
	// entry with an error code under a zero count, is still a lost review.
	failed := out.FailedEntryCount > 0
	code, msg := "unknown error", "no entry in the answer"
	for _, e := range out.Entries {
		if e.ErrorCode != nil || e.ErrorMessage != nil {
			failed, code, msg = true, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)
			break
		}
	}
	if failed {
		return fmt.Errorf("put review event: %s: %s", code, msg)
	}
	return nil
}
