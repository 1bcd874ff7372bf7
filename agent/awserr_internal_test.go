package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

func TestErrorClassification(t *testing.T) {
	api := func(code string, fault smithy.ErrorFault) error {
		return fmt.Errorf("call: %w", &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault})
	}
	for _, tc := range []struct {
		name                                      string
		err                                       error
		notFound, throttled, retryable, permanent bool
	}{
		{"nil", nil, false, false, false, false},
		{"throttling", api("ThrottlingException", smithy.FaultClient), false, true, true, false},
		{"sqs throttle", api("RequestThrottled", smithy.FaultClient), false, true, true, false},
		{"server fault", api("ServerException", smithy.FaultServer), false, false, true, false},
		{"typed cluster not found", fmt.Errorf("x: %w", &ecstypes.ClusterNotFoundException{Message: new(string)}), true, false, false, false},
		{"sqs missing queue", api("AWS.SimpleQueueService.NonExistentQueue", smithy.FaultClient), true, false, false, false},
		{"client exception", api("ClientException", smithy.FaultClient), false, false, false, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false, false, true, false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false, false, true, false},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, false, false, true, false},
		{"busy", fmt.Errorf("lease: %w", errBusy), false, false, true, false},
		{"permanent", fmt.Errorf("parse: %w", ErrPermanent), false, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []bool{isNotFound(tc.err), isThrottled(tc.err), isRetryable(tc.err), errors.Is(tc.err, ErrPermanent)}
			want := []bool{tc.notFound, tc.throttled, tc.retryable, tc.permanent}
			for i, what := range []string{"isNotFound", "isThrottled", "isRetryable", "ErrPermanent"} {
				if got[i] != want[i] {
					t.Errorf("%s = %v, want %v", what, got[i], want[i])
				}
			}
		})
	}
}
