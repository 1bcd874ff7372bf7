// Package sqssim is the local test bed's Amazon SQS: standard queues spoken
// over the AWS JSON 1.0 protocol (X-Amz-Target AmazonSQS.*), so that the real
// aws-sdk-go-v2 SQS client works against it unchanged.
//
// It simulates what pullheal relies on: visibility timeouts, a new receipt
// handle per receive, receive counts, redrive to a dead-letter queue, delay,
// retention, long polling that wakes as soon as a message arrives, and the
// MD5 checksums the SDK verifies. Time is read from a wire.Clock, so tests
// move visibility and retention forward without sleeping; only the long-poll
// wait itself runs on real time, bounded by WaitTimeSeconds.
//
// Decisions where AWS leaves room, written down so tests can rely on them:
//
//   - FIFO queues are refused (UnsupportedOperation); pullheal uses a standard
//     queue.
//   - A receipt handle acts on its message while the receive that produced
//     it is in flight: until its visibility timeout ends, the message is
//     received again, or it is deleted. AWS documents that DeleteMessage
//     with an older handle "will succeed, but the message might not be
//     deleted": the simulation succeeds and keeps the message, so that a
//     consumer which outlives its visibility timeout and loses the message
//     to another receive sees it redelivered. The most recent receive's
//     handle deletes even after its visibility timeout ended.
//     ChangeMessageVisibility with an older handle fails with
//     MessageNotInflight.
//   - DeleteMessage of a message that no longer exists (already deleted,
//     purged, expired, moved to the DLQ) succeeds and does nothing, as on AWS;
//     ChangeMessageVisibility on it fails with InvalidParameterValue
//     ("Message does not exist or is not available for visibility timeout
//     change"). A handle that is not one of this queue's (malformed, or from
//     another queue) fails with ReceiptHandleIsInvalid.
//   - A message whose receive count has reached the redrive policy's
//     maxReceiveCount moves to the dead-letter queue on the next receive
//     instead of being delivered. It keeps its MessageId, body, attributes,
//     SentTimestamp (retention counts from the original send) and receive
//     count, and gains the DeadLetterQueueSourceArn attribute. If the
//     dead-letter queue no longer exists the message stays and is delivered.
//   - A deleted queue's name can be reused at once (AWS waits 60 seconds).
//   - Errors carry SQS's JSON __type and the x-amzn-query-error header, so
//     the SDK returns its typed errors (errors.As *types.QueueDoesNotExist)
//     whose ErrorCode() is the query-protocol code
//     (AWS.SimpleQueueService.NonExistentQueue), exactly as against AWS.
package sqssim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Defaults for Config.
const (
	DefaultAccount = wire.DefaultAccount
	DefaultRegion  = wire.DefaultRegion
)

// TargetPrefix is SQS's X-Amz-Target prefix.
const TargetPrefix = "AmazonSQS"

// ErrNoSuchQueue is returned by SendToQueue for an ARN that names no queue.
var ErrNoSuchQueue = errors.New("no such queue")

// Config configures the simulated SQS. The zero value is usable.
type Config struct {
	// Account is the AWS account that owns every queue (DefaultAccount when
	// empty).
	Account string
	// Region is the region in queue ARNs (DefaultRegion when empty).
	Region string
	// Clock tells visibility, delay and retention the time (the wall clock
	// when nil).
	Clock wire.Clock
	// BaseURL, when set, is the scheme://host[:port] every queue URL starts
	// with. When empty, queue URLs use the address the request arrived on.
	BaseURL string
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if err := wire.CheckAccountRegion(c.Account, c.Region); err != nil {
		return fmt.Errorf("sqssim config: %w", err)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil {
			return fmt.Errorf("sqssim config: base URL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("sqssim config: base URL %q must be scheme://host[:port] with no path", c.BaseURL)
		}
	}
	return nil
}

// SQS is a simulated Amazon SQS. It is safe for concurrent use.
type SQS struct {
	account string
	region  string
	clock   wire.Clock
	baseURL string

	mu     sync.Mutex
	queues map[string]*queue // by name
}

// New returns an empty SQS.
func New(cfg Config) (*SQS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &SQS{
		account: cfg.Account,
		region:  cfg.Region,
		clock:   cfg.Clock,
		baseURL: strings.TrimSuffix(cfg.BaseURL, "/"),
		queues:  map[string]*queue{},
	}
	wire.FillDefaults(&s.account, &s.region, &s.clock)
	return s, nil
}

// Service describes the operations for a wire.Mux.
func (s *SQS) Service() wire.Service {
	return wire.Service{
		TargetPrefix: TargetPrefix,
		JSONVersion:  "1.0",
		Ops: withWireErrors(map[string]wire.Op{
			"CreateQueue":                  s.createQueue,
			"GetQueueUrl":                  s.getQueueURL,
			"ListQueues":                   s.listQueues,
			"DeleteQueue":                  s.deleteQueue,
			"GetQueueAttributes":           s.getQueueAttributes,
			"SetQueueAttributes":           s.setQueueAttributes,
			"PurgeQueue":                   s.purgeQueue,
			"ListDeadLetterSourceQueues":   s.listDeadLetterSourceQueues,
			"TagQueue":                     s.tagQueue,
			"UntagQueue":                   s.untagQueue,
			"ListQueueTags":                s.listQueueTags,
			"SendMessage":                  s.sendMessage,
			"SendMessageBatch":             s.sendMessageBatch,
			"ReceiveMessage":               s.receiveMessage,
			"DeleteMessage":                s.deleteMessage,
			"DeleteMessageBatch":           s.deleteMessageBatch,
			"ChangeMessageVisibility":      s.changeMessageVisibility,
			"ChangeMessageVisibilityBatch": s.changeMessageVisibilityBatch,
		}),
	}
}

// withWireErrors puts the operations' errors into SQS's wire shape.
func withWireErrors(ops map[string]wire.Op) map[string]wire.Op {
	for name, op := range ops {
		ops[name] = func(ctx context.Context, body []byte) (any, error) {
			out, err := op(ctx, body)
			if err != nil {
				return nil, wireError(err)
			}
			return out, nil
		}
	}
	return ops
}

// SendToQueue delivers body to the queue named by queueArn the way an
// EventBridge SQS target does: no message attributes, the queue's delay.
func (s *SQS) SendToQueue(ctx context.Context, queueArn, body string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueByARN(queueArn)
	if q == nil {
		return fmt.Errorf("send to %s: %w", queueArn, ErrNoSuchQueue)
	}
	m := &message{Body: body, SenderID: "events.amazonaws.com"}
	if err := q.checkMessage(m, 0); err != nil {
		return fmt.Errorf("send to %s: %w", queueArn, err)
	}
	q.enqueue(m, s.clock.Now(), q.settings.DelaySeconds)
	return nil
}

// queueURL renders q's URL for a request arriving with ctx.
func (s *SQS) queueURL(ctx context.Context, name string) string {
	base := s.baseURL
	if base == "" {
		base = "http://localhost"
		if addr, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr); ok && addr != nil {
			base = "http://" + addr.String()
		}
	}
	return base + "/" + s.account + "/" + name
}

func (s *SQS) arn(name string) string {
	return "arn:aws:sqs:" + s.region + ":" + s.account + ":" + name
}

// lookup finds the queue a QueueUrl names. Only the path matters (the last
// two segments, ACCOUNT/NAME), as clients may reach the service by any host.
// Callers hold s.mu.
func (s *SQS) lookup(queueURL string) (*queue, error) {
	if queueURL == "" {
		return nil, newError(errMissingParameter, "The request must contain the parameter QueueUrl.")
	}
	u, err := url.Parse(queueURL)
	if err != nil {
		return nil, newError(errInvalidAddress, "The address %s is not valid for this endpoint.", queueURL)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return nil, newError(errInvalidAddress, "The address %s is not valid for this endpoint.", queueURL)
	}
	account, name := parts[len(parts)-2], parts[len(parts)-1]
	q := s.queues[name]
	if account != s.account || q == nil {
		return nil, newError(errQueueDoesNotExist, "The specified queue does not exist.")
	}
	return q, nil
}

// queueByARN returns the queue an ARN names, or nil. Callers hold s.mu.
func (s *SQS) queueByARN(arn string) *queue {
	prefix := "arn:aws:sqs:" + s.region + ":" + s.account + ":"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return nil
	}
	return s.queues[name]
}

// epochMillis renders t as SQS timestamp attributes do.
func epochMillis(t time.Time) string {
	return fmt.Sprint(t.UnixMilli())
}
