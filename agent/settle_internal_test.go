package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/agent/fake"
)

// TestSettle is the ack rule as a table: what happens to a message for
// each way its handling can end.
func TestSettle(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		receiveCount int
		shuttingDown bool
		wantCalls    []string
		// wantVisibility is the message's new visibility timeout, when
		// the message is left.
		wantVisibility int32
	}{
		{name: "handled", wantCalls: []string{"DeleteMessage"}},
		{name: "handled during shutdown", shuttingDown: true, wantCalls: []string{"DeleteMessage"}},
		{name: "malformed", err: permanent(errors.New("not JSON")), wantCalls: []string{"DeleteMessage"}},
		{name: "not ours during shutdown", err: permanent(errors.New("not a task")), shuttingDown: true, wantCalls: []string{"DeleteMessage"}},
		{name: "may pass, first delivery", err: errors.New("connection reset"), receiveCount: 1,
			wantCalls: []string{"ChangeMessageVisibility"}, wantVisibility: 2},
		{name: "busy, third delivery", err: fmt.Errorf("lease x: %w", errBusy), receiveCount: 3,
			wantCalls: []string{"ChangeMessageVisibility"}, wantVisibility: 8},
		{name: "may pass, backoff capped at the visibility timeout", err: errors.New("500"), receiveCount: 40,
			wantCalls: []string{"ChangeMessageVisibility"}, wantVisibility: 30},
		{name: "cut short by shutdown", err: context.Canceled, shuttingDown: true,
			wantCalls: []string{"ChangeMessageVisibility"}, wantVisibility: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &fake.SQS{}
			a := &Agent{intake: Intake{QueueURL: "https://sqs/q", Visibility: 30 * time.Second}, sqs: q,
				m: NewMetrics(prometheus.NewRegistry()), log: slog.New(slog.DiscardHandler)}
			msg := sqstypes.Message{ReceiptHandle: aws.String("rh-1")}
			if tc.receiveCount > 0 {
				msg.Attributes = map[string]string{string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount): strconv.Itoa(tc.receiveCount)}
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.shuttingDown {
				cancel()
			}
			defer cancel()
			a.settle(ctx, msg, tc.err, a.log)
			if diff := cmp.Diff(tc.wantCalls, q.Names()); diff != "" {
				t.Fatalf("calls (-want +got):\n%s", diff)
			}
			if v, ok := q.Visibility["rh-1"]; ok && v != tc.wantVisibility {
				t.Errorf("visibility %d, want %d", v, tc.wantVisibility)
			}
		})
	}
}

// TestSettleSurvivesAFailingQueue: a delete or release that fails is
// logged; the message then comes back on its own.
func TestSettleSurvivesAFailingQueue(t *testing.T) {
	q := &fake.SQS{}
	q.Fail("DeleteMessage", errors.New("boom"))
	q.Fail("ChangeMessageVisibility", errors.New("boom"))
	a := &Agent{intake: Intake{QueueURL: "q", Visibility: 30 * time.Second}, sqs: q, m: NewMetrics(prometheus.NewRegistry()), log: slog.New(slog.DiscardHandler)}
	msg := sqstypes.Message{ReceiptHandle: aws.String("rh")}
	a.settle(context.Background(), msg, nil, a.log)
	a.settle(context.Background(), msg, errors.New("may pass"), a.log)
	if got := len(q.Names()); got != 2 {
		t.Errorf("%d calls, want 2", got)
	}
}
