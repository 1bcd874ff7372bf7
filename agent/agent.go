package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/pullheal/pullheal/internal/plan"
)

// SQSAPI lists the SQS calls the agent makes, with the SDK's signatures.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Intake is the queue side of the agent's configuration.
type Intake struct {
	QueueURL string
	// Workers bounds how many messages are handled at once.
	Workers int
	// WaitTime is the long-poll wait (SQS allows up to 20 s).
	WaitTime time.Duration
	// Visibility is how long a received message stays hidden; the agent
	// extends it while the message is being handled.
	Visibility time.Duration
	// Budget is how long one message may be handled in all. At the budget
	// the heal's context is cancelled, the visibility is no longer
	// extended, and the message is released with the retry backoff, so a
	// heal that hangs counts towards the dead-letter queue
	// (maxReceiveCount) instead of holding a worker forever.
	// Budget+Visibility stays within MaxVisibility.
	Budget time.Duration
	// UnhealthyAfter is how long ReceiveMessage may fail without a break
	// (and at least unhealthyFailures times in a row) before /healthz
	// answers 503, so that ECS replaces the task.
	UnhealthyAfter time.Duration
	// ShutdownGrace is how long in-flight messages may finish after a stop
	// signal before they are released (visibility 0) for another replica.
	// Keep it under the ECS task's stopTimeout.
	ShutdownGrace time.Duration
}

// DefaultMessageBudget is Intake.Budget when none is given: a mirror of a
// large image fits, a registry that never answers does not hold a worker
// for longer.
const DefaultMessageBudget = 5 * time.Minute

// MaxVisibility is the longest SQS keeps one receipt of a message hidden
// (12 hours from its receipt); an extension past it fails.
const MaxVisibility = 12 * time.Hour

func (in *Intake) defaults() {
	if in.Budget == 0 {
		in.Budget = DefaultMessageBudget
	}
	if in.Workers == 0 {
		in.Workers = 10
	}
	if in.WaitTime == 0 {
		in.WaitTime = 20 * time.Second
	}
	if in.Visibility == 0 {
		in.Visibility = 60 * time.Second
	}
	if in.UnhealthyAfter == 0 {
		in.UnhealthyAfter = time.Minute
	}
	if in.ShutdownGrace == 0 {
		in.ShutdownGrace = 25 * time.Second
	}
}

// Validate checks the intake settings.
func (in Intake) Validate() error {
	switch {
	case in.QueueURL == "":
		return errors.New("queue URL is required")
	case in.Workers < 1:
		return fmt.Errorf("workers must be at least 1, got %d", in.Workers)
	case in.WaitTime < 0 || in.WaitTime > 20*time.Second:
		return fmt.Errorf("wait time must be between 0 and 20s, got %s", in.WaitTime)
	case in.Visibility < 2*time.Second || in.Visibility > MaxVisibility:
		return fmt.Errorf("visibility timeout must be between 2s and 12h, got %s", in.Visibility)
	case in.Budget <= 0 || in.Budget+in.Visibility > MaxVisibility:
		return fmt.Errorf("message budget must be positive and, with the visibility timeout %s, at most %s; got %s", in.Visibility, MaxVisibility, in.Budget)
	case in.UnhealthyAfter < 0:
		return fmt.Errorf("unhealthy-after must not be negative, got %s", in.UnhealthyAfter)
	case in.ShutdownGrace < 0:
		return fmt.Errorf("shutdown grace must not be negative, got %s", in.ShutdownGrace)
	}
	return nil
}

// Agent receives events and heals.
type Agent struct {
	intake Intake
	sqs    SQSAPI
	healer *Healer
	log    *slog.Logger
	m      *Metrics
	// lastPoll is when the queue last answered (UnixNano), 0 before that.
	lastPoll atomic.Int64
	// failures counts ReceiveMessage failures since the last success;
	// failingSince is when the first of them happened (UnixNano) and
	// lastFailure its error text.
	failures     atomic.Int64
	failingSince atomic.Int64
	lastFailure  atomic.Value

	// account and region are the agent's own; events of others are
	// dropped ("" skips the check).
	account, region string
	// flagRules are the pull-through rules given on the command line, and
	// settings the rest of what /config reports.
	flagRules []plan.PullThroughRule
	settings  settings
	// queue is what CheckQueue read, for /config.
	queue atomic.Pointer[QueueInfo]
}

// unhealthyFailures is how many receives in a row must fail, besides
// Intake.UnhealthyAfter passing, before the agent reports itself unhealthy:
// one slow failure is not a broken queue.
const unhealthyFailures = 3

// QueueInfo is what the start-up check learned of the queue.
type QueueInfo struct {
	ARN string `json:"arn"`
	// DeadLetterQueue and MaxReceiveCount come from the queue's redrive
	// policy; empty when it has none.
	DeadLetterQueue string `json:"deadLetterQueue,omitempty"`
	MaxReceiveCount int    `json:"maxReceiveCount,omitempty"`
}

// CheckQueue reads the queue's attributes once, before polling: it proves
// that the queue exists and that the agent's credentials reach it, so that
// a wrong queue URL or a missing permission stops the agent at start with
// the cause rather than as a receive loop that never succeeds.
func (a *Agent) CheckQueue(ctx context.Context) (QueueInfo, error) {
	out, err := a.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(a.intake.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn, sqstypes.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s: %s", a.intake.QueueURL, queueProblem(err))
	}
	a.lastPoll.Store(time.Now().UnixNano())
	info := QueueInfo{ARN: out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	if raw := out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]; raw != "" {
		var rp struct {
			Target string          `json:"deadLetterTargetArn"`
			Max    json.RawMessage `json:"maxReceiveCount"`
		}
		if json.Unmarshal([]byte(raw), &rp) == nil {
			// SQS gives maxReceiveCount as a number or as a string.
			info.DeadLetterQueue = rp.Target
			info.MaxReceiveCount, _ = strconv.Atoi(strings.Trim(string(rp.Max), `"`))
		}
	}
	a.queue.Store(&info)
	return info, nil
}

// queueProblem names why the queue could not be read.
func queueProblem(err error) string {
	switch code := apiCode(err); {
	case code == "QueueDoesNotExist" || code == "AWS.SimpleQueueService.NonExistentQueue":
		return "the queue does not exist (" + code + ")"
	case strings.Contains(code, "AccessDenied"):
		return "access denied (" + code + "): the agent's role needs sqs:GetQueueAttributes, ReceiveMessage, DeleteMessage and ChangeMessageVisibility on it"
	case code == "InvalidClientTokenId" || code == "UnrecognizedClientException" || code == "SignatureDoesNotMatch" ||
		code == "InvalidAccessKeyId" || code == "ExpiredToken":
		return "the credentials were refused (" + code + ")"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time: " + err.Error()
	}
	return err.Error()
}

// noteReceive records how a ReceiveMessage call went, for /healthz.
func (a *Agent) noteReceive(err error) {
	if err == nil {
		a.failures.Store(0)
		a.failingSince.Store(0)
		a.lastPoll.Store(time.Now().UnixNano())
		return
	}
	a.m.ReceiveFailures.Inc()
	if a.failures.Add(1) == 1 {
		a.failingSince.Store(time.Now().UnixNano())
	}
	a.lastFailure.Store(err.Error())
}

// receiveProblem says why the agent is unhealthy because of its receives,
// or "" when it is not.
func (a *Agent) receiveProblem() string {
	n, since := a.failures.Load(), a.failingSince.Load()
	if n < unhealthyFailures || since == 0 {
		return ""
	}
	d := time.Since(time.Unix(0, since))
	if d < a.intake.UnhealthyAfter {
		return ""
	}
	last, _ := a.lastFailure.Load().(string)
	return fmt.Sprintf("receive failing for %s (%d times in a row): %s", d.Round(time.Second), n, last)
}

// newAgent returns an agent that reads from the intake queue and heals with h.
func newAgent(intake Intake, sqsClient SQSAPI, h *Healer, log *slog.Logger) (*Agent, error) {
	intake.defaults()
	if err := intake.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if sqsClient == nil || h == nil {
		return nil, errors.New("agent config: an SQS client and a healer are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{intake: intake, sqs: sqsClient, healer: h, log: log, m: h.metrics}, nil
}

// Run polls until ctx is cancelled, then lets in-flight messages finish for
// the shutdown grace and releases those that did not.
func (a *Agent) Run(ctx context.Context) error {
	// Handlers run on their own context: a stop signal ends polling at
	// once, but a heal in progress gets the grace period to finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	sem := make(chan struct{}, a.intake.Workers)
	var wg sync.WaitGroup
	for {
		// Hold one worker before polling, so that no message is received
		// that no worker can take.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		free := 1 + cap(sem) - len(sem)
		msgs, err := a.receive(ctx, min(free, 10))
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				break
			}
			a.noteReceive(err)
			// Back off 1, 2, 4 ... 16 s: a queue that went away is not
			// hammered, and /healthz turns unhealthy meanwhile.
			wait := time.Second << min(a.failures.Load()-1, 4)
			a.log.Warn("receive failed; retrying", "error", err, "failures", a.failures.Load(), "retry_in", wait.String())
			sleep(ctx, wait)
			continue
		}
		a.noteReceive(nil)
		if len(msgs) == 0 {
			<-sem
			continue
		}
		for i, msg := range msgs {
			if i > 0 {
				sem <- struct{}{}
			}
			wg.Add(1)
			go func(msg sqstypes.Message) {
				defer wg.Done()
				defer func() { <-sem }()
				a.process(work, msg)
			}(msg)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(a.intake.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		a.log.Info("shutdown grace over; releasing in-flight messages")
		cancelWork()
		<-done
	}
	return nil
}

func (a *Agent) receive(ctx context.Context, n int) ([]sqstypes.Message, error) {
	out, err := a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(a.intake.QueueURL),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             int32(a.intake.WaitTime / time.Second),
		VisibilityTimeout:           int32(a.intake.Visibility / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", a.intake.QueueURL, err)
	}
	return out.Messages, nil
}

// process handles one message while keeping it invisible, then settles it.
func (a *Agent) process(ctx context.Context, msg sqstypes.Message) {
	a.m.MessagesInFlight.Inc()
	defer a.m.MessagesInFlight.Dec()
	id := aws.ToString(msg.MessageId)
	log := a.log.With("message_id", id)
	if n := receiveCount(msg); n > 1 {
		log = log.With("receive_count", n)
	}
	body := []byte(aws.ToString(msg.Body))
	if where := a.elsewhere(body); where != "" {
		// Another account's or region's event (a shared bus, a rule too
		// wide): not ours to heal, and nothing to review.
		a.m.Events.WithLabelValues("none", "foreign").Inc()
		log.Info("dropping event of another account or region", "reason", where)
		a.settle(ctx, msg, nil, log)
		return
	}
	// The budget ends both the heal and the visibility heartbeat: past it
	// the message is released for a retry, never held on.
	hctx, stopExtending := context.WithTimeoutCause(ctx, a.intake.Budget, errOverBudget)
	extended := make(chan struct{})
	go func() {
		defer close(extended)
		a.keepInvisible(hctx, msg, log)
	}()
	err := a.healer.HandleMessage(hctx, body, log)
	if err != nil && errors.Is(context.Cause(hctx), errOverBudget) {
		a.m.MessagesOverBudget.Inc()
		err = fmt.Errorf("%w (%s): %w", errOverBudget, a.intake.Budget, err)
	}
	stopExtending()
	<-extended
	a.settle(ctx, msg, err, log)
}

// keepInvisible extends the message's visibility at half its timeout for as
// long as it is being handled, so that a slow heal (a mirror copy) is not
// handed to another replica half-way.
func (a *Agent) keepInvisible(ctx context.Context, msg sqstypes.Message, log *slog.Logger) {
	period := a.intake.Visibility / 2
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(a.intake.QueueURL),
				ReceiptHandle:     msg.ReceiptHandle,
				VisibilityTimeout: int32(a.intake.Visibility / time.Second),
			})
			if err != nil && ctx.Err() == nil {
				log.Warn("extend visibility failed", "error", err)
			}
		}
	}
}

// elsewhere says why an event belongs to another account or region than
// the agent's, or "" when it does not (or the body is no event, which
// HandleMessage reports).
func (a *Agent) elsewhere(body []byte) string {
	var env struct {
		Account string `json:"account"`
		Region  string `json:"region"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	switch {
	case a.account != "" && env.Account != "" && env.Account != a.account:
		return fmt.Sprintf("event of account %s, the agent runs in %s", env.Account, a.account)
	case a.region != "" && env.Region != "" && env.Region != a.region:
		return fmt.Sprintf("event of region %s, the agent runs in %s", env.Region, a.region)
	}
	return ""
}

// settle is the one place that decides what happens to a message.
func (a *Agent) settle(ctx context.Context, msg sqstypes.Message, err error, log *slog.Logger) {
	// Settling must happen even when the work context ended.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case err == nil:
		// Handled: delete.
		a.delete(sctx, msg, log)
	case errors.Is(err, ErrPermanent):
		// Malformed or not ours: delete, log once.
		log.Warn("dropping message that can never be handled", "error", err)
		a.m.MessageErrors.WithLabelValues("deleted").Inc()
		a.delete(sctx, msg, log)
	case ctx.Err() != nil:
		// Shutting down: release it now for another replica.
		a.m.MessageErrors.WithLabelValues("released").Inc()
		log.Info("releasing message at shutdown", "error", err)
		_, cerr := a.sqs.ChangeMessageVisibility(sctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(a.intake.QueueURL), ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0,
		})
		if cerr != nil {
			log.Warn("release message failed; it reappears after its visibility timeout", "error", cerr)
		}
	default:
		// May pass: leave it; SQS redelivers and the redrive policy moves a
		// message that never succeeds to the dead-letter queue. The next
		// delivery comes after a backoff that grows with the receive
		// count, not after the whole visibility timeout: a replica that
		// lost a lease finds the heal done seconds later.
		a.m.MessageErrors.WithLabelValues("left").Inc()
		wait := a.retryDelay(receiveCount(msg))
		log.Warn("leaving message for redelivery", "error", err, "retryable", isRetryable(err), "retry_in", wait.String())
		_, cerr := a.sqs.ChangeMessageVisibility(sctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(a.intake.QueueURL), ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: int32(wait / time.Second),
		})
		if cerr != nil {
			log.Warn("set retry delay failed; the message reappears after its visibility timeout", "error", cerr)
		}
	}
}

// retryDelay is the wait before the nth delivery of a message that failed
// in a way that may pass: 2, 4, 8, ... seconds, capped at the visibility
// timeout.
func (a *Agent) retryDelay(n int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < n && d < a.intake.Visibility; i++ {
		d *= 2
	}
	return min(d, a.intake.Visibility)
}

func receiveCount(msg sqstypes.Message) int {
	n, err := strconv.Atoi(msg.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (a *Agent) delete(ctx context.Context, msg sqstypes.Message, log *slog.Logger) {
	_, err := a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(a.intake.QueueURL), ReceiptHandle: msg.ReceiptHandle})
	if err != nil {
		log.Warn("delete message failed; it will be delivered again and found already healed", "error", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
