package sqssim

import (
	"fmt"
	"net/http"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// errKind is one SQS error as the JSON protocol sends it: the HTTP status,
// the shape name that goes into __type (the SDK maps it to its typed error)
// and the query-protocol code that goes into x-amzn-query-error (the SDK
// reports it from ErrorCode(), and batch results carry it as Code). Shapes,
// codes and statuses are those of the SQS model in the SDK's schemas.
type errKind struct {
	status int
	shape  string
	code   string
}

var (
	errQueueDoesNotExist        = errKind{http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"}
	errQueueNameExists          = errKind{http.StatusBadRequest, "QueueNameExists", "QueueAlreadyExists"}
	errReceiptHandleIsInvalid   = errKind{http.StatusNotFound, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"}
	errMessageNotInflight       = errKind{http.StatusBadRequest, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"}
	errInvalidAttributeName     = errKind{http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName"}
	errInvalidAttributeValue    = errKind{http.StatusBadRequest, "InvalidAttributeValue", "InvalidAttributeValue"}
	errInvalidMessageContents   = errKind{http.StatusBadRequest, "InvalidMessageContents", "InvalidMessageContents"}
	errUnsupportedOperation     = errKind{http.StatusBadRequest, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"}
	errEmptyBatchRequest        = errKind{http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest"}
	errTooManyEntries           = errKind{http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"}
	errBatchEntryIdsNotDistinct = errKind{http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"}
	errInvalidBatchEntryID      = errKind{http.StatusBadRequest, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId"}
	errBatchRequestTooLong      = errKind{http.StatusBadRequest, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"}
	errPurgeQueueInProgress     = errKind{http.StatusForbidden, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"}
	errInvalidAddress           = errKind{http.StatusNotFound, "InvalidAddress", "InvalidAddress"}
	errInvalidParameterValue    = errKind{http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue"}
	errMissingParameter         = errKind{http.StatusBadRequest, "MissingParameter", "MissingParameter"}
)

// apiError is an SQS error before it is put on the wire; batch operations
// report it per entry instead.
type apiError struct {
	kind    errKind
	message string
}

func (e *apiError) Error() string { return e.kind.code + ": " + e.message }

func newError(kind errKind, format string, args ...any) *apiError {
	return &apiError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// wireError converts err for wire.WriteError: SQS's namespaced __type and
// the x-amzn-query-error header real SQS sends with JSON errors.
func wireError(err error) error {
	e, ok := err.(*apiError)
	if !ok {
		return err
	}
	return &wire.Error{
		Status:  e.kind.status,
		Code:    "com.amazonaws.sqs#" + e.kind.shape,
		Message: e.message,
		Headers: map[string]string{"X-Amzn-Query-Error": e.kind.code + ";Sender"},
	}
}

// batchError is a failed entry of a batch result.
type batchError struct {
	ID          string `json:"Id"`
	SenderFault bool   `json:"SenderFault"`
	Code        string `json:"Code"`
	Message     string `json:"Message,omitempty"`
}

func entryError(id string, err error) batchError {
	if e, ok := err.(*apiError); ok {
		return batchError{ID: id, SenderFault: true, Code: e.kind.code, Message: e.message}
	}
	return batchError{ID: id, Code: "InternalError", Message: err.Error()}
}
