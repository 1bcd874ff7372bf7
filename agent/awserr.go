package agent

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// ErrPermanent marks a message that can never be handled: malformed, not an
// event pullheal acts on. Such a message is deleted and logged once.
var ErrPermanent = errors.New("permanent")

// errBusy marks a message whose failure another agent replica is healing
// right now: it is left in the queue and seen again after its visibility
// timeout, by when the other replica has finished.
var errBusy = errors.New("another replica is healing this failure")

// errOverBudget is the cause of a heal's context that ran out of its
// message budget (Intake.Budget); such a message is released for a retry.
var errOverBudget = errors.New("message budget spent")

// permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func permanent(err error) error {
	return &classified{err: err, kind: ErrPermanent}
}

type classified struct {
	err  error
	kind error
}

func (c *classified) Error() string        { return c.err.Error() }
func (c *classified) Unwrap() []error      { return []error{c.err, c.kind} }
func (c *classified) Is(target error) bool { return target == c.kind }

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the named AWS resource does not exist.
// ECS answers a missing task definition with a ClientException, so the
// message text decides there.
func isNotFound(err error) bool {
	switch apiCode(err) {
	case "ResourceNotFoundException", "ServiceNotFoundException", "ClusterNotFoundException",
		"RepositoryNotFoundException", "ImageNotFoundException", "QueueDoesNotExist",
		"AWS.SimpleQueueService.NonExistentQueue", "PullThroughCacheRuleNotFoundException":
		return true
	}
	return false
}

// isThrottled reports whether err is AWS throttling.
func isThrottled(err error) bool {
	switch apiCode(err) {
	case "ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestThrottled",
		"RequestThrottledException", "LimitExceededException":
		return true
	}
	return false
}

// isConditionFailed reports whether a DynamoDB conditional write lost.
func isConditionFailed(err error) bool {
	return apiCode(err) == "ConditionalCheckFailedException"
}

// isRetryable reports whether err may pass on its own: throttling, a 5xx,
// a timeout or a broken connection. The message is then left for SQS to
// deliver again.
func isRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errBusy) || isThrottled(err) {
		return true
	}
	// A call cut short (shutdown, a deadline) says nothing about the heal:
	// the message goes back for another attempt.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool()
}
