// Package eventsim is the local test bed's Amazon EventBridge: event buses,
// rules with event patterns, targets and PutEvents over the AWS JSON 1.1
// protocol (X-Amz-Target AWSEvents.*), so that the real aws-sdk-go-v2
// EventBridge client works against it unchanged.
//
// Matching events are delivered as EventBridge does: for each ENABLED rule
// of the event's bus whose pattern matches, each SQS target receives the
// event JSON ({"version":"0","id":...,"detail-type":...,"source":...,
// "account":...,"time":...,"region":...,"resources":[...],"detail":{...}})
// as the message body, through the wire.QueueSender given in Config. A
// target's Input replaces the body with that constant JSON text; InputPath
// (a JSONPath such as $.detail or $.detail.containers[0]) delivers the JSON
// text of the value it selects.
//
// Decisions where AWS leaves room, written down so tests can rely on them:
//
//   - Delivery is synchronous: when PutEvents (or PublishEvent) returns, the
//     messages are in their queues. A delivery that fails (the queue does not
//     exist, or no QueueSender was configured) is dropped, as EventBridge
//     drops what it cannot deliver after retries, and logged to
//     Config.Logger if there is one.
//   - Targets other than SQS queues (Lambda, ECS, API destinations, ...) are
//     accepted and listed but receive nothing. InputTransformer is refused
//     with ValidationException rather than delivering the wrong body.
//   - Sources starting with "aws." are reserved for AWS services: PutEvents
//     entries using them fail with NotAuthorizedForSourceException, as on
//     AWS; only PublishEvent (what an AWS service does) may use them.
//   - PutEvents to a bus that does not exist succeeds and delivers nothing,
//     as AWS does.
//   - Scheduled rules (ScheduleExpression) are stored but never fire.
package eventsim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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

// TargetPrefix is EventBridge's X-Amz-Target prefix.
const TargetPrefix = "AWSEvents"

// DefaultBus is the name of the bus every account has.
const DefaultBus = "default"

// ErrNoSuchBus is returned by PublishEvent for a bus that does not exist.
var ErrNoSuchBus = errors.New("no such event bus")

// Config configures the simulated EventBridge. The zero value is usable,
// though without Queues no target receives anything.
type Config struct {
	// Account owns every bus and rule (DefaultAccount when empty).
	Account string
	// Region is the region in ARNs and events (DefaultRegion when empty).
	Region string
	// Clock stamps events that carry no time (the wall clock when nil).
	Clock wire.Clock
	// Queues delivers to SQS targets.
	Queues wire.QueueSender
	// Logger, when set, receives one record per failed delivery.
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if err := wire.CheckAccountRegion(c.Account, c.Region); err != nil {
		return fmt.Errorf("eventsim config: %w", err)
	}
	return nil
}

// EventBridge is a simulated Amazon EventBridge. It is safe for concurrent
// use.
type EventBridge struct {
	account string
	region  string
	clock   wire.Clock
	queues  wire.QueueSender
	log     *slog.Logger

	mu    sync.RWMutex
	buses map[string]*bus
}

type bus struct {
	name        string
	description string
	created     time.Time
	modified    time.Time
	rules       map[string]*rule
}

type rule struct {
	name        string
	bus         string
	pattern     *Pattern // nil for a scheduled rule without a pattern
	schedule    string
	state       string
	description string
	roleArn     string
	targets     map[string]*target
}

// New returns an EventBridge with only the default bus.
func New(cfg Config) (*EventBridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &EventBridge{
		account: cfg.Account,
		region:  cfg.Region,
		clock:   cfg.Clock,
		queues:  cfg.Queues,
		log:     cfg.Logger,
		buses:   map[string]*bus{},
	}
	wire.FillDefaults(&e.account, &e.region, &e.clock)
	now := e.clock.Now()
	e.buses[DefaultBus] = &bus{name: DefaultBus, created: now, modified: now, rules: map[string]*rule{}}
	return e, nil
}

// Service describes the operations for a wire.Mux.
func (e *EventBridge) Service() wire.Service {
	return wire.Service{
		TargetPrefix: TargetPrefix,
		JSONVersion:  "1.1",
		Ops: map[string]wire.Op{
			"CreateEventBus":    e.createEventBus,
			"DescribeEventBus":  e.describeEventBus,
			"ListEventBuses":    e.listEventBuses,
			"DeleteEventBus":    e.deleteEventBus,
			"PutRule":           e.putRule,
			"DescribeRule":      e.describeRule,
			"ListRules":         e.listRules,
			"DeleteRule":        e.deleteRule,
			"EnableRule":        e.enableRule,
			"DisableRule":       e.disableRule,
			"PutTargets":        e.putTargets,
			"ListTargetsByRule": e.listTargetsByRule,
			"RemoveTargets":     e.removeTargets,
			"PutEvents":         e.putEvents,
			"TestEventPattern":  e.testEventPattern,
		},
	}
}

func (e *EventBridge) busArn(name string) string {
	return "arn:aws:events:" + e.region + ":" + e.account + ":event-bus/" + name
}

func (e *EventBridge) ruleArn(busName, name string) string {
	if busName == DefaultBus {
		return "arn:aws:events:" + e.region + ":" + e.account + ":rule/" + name
	}
	return "arn:aws:events:" + e.region + ":" + e.account + ":rule/" + busName + "/" + name
}

// busName resolves an EventBusNameOrArn member: empty means the default
// bus; an ARN must be of this account and region.
func (e *EventBridge) busName(nameOrArn string) (string, error) {
	if nameOrArn == "" {
		return DefaultBus, nil
	}
	if rest, ok := strings.CutPrefix(nameOrArn, "arn:"); ok {
		name, ok := strings.CutPrefix(nameOrArn, "arn:aws:events:"+e.region+":"+e.account+":event-bus/")
		if !ok || name == "" {
			return "", validationError("Parameter EventBusName is not valid: %q is not an event bus ARN of account %s in %s.", "arn:"+rest, e.account, e.region)
		}
		return name, nil
	}
	return nameOrArn, nil
}

// lookupBus returns an existing bus. Callers hold e.mu.
func (e *EventBridge) lookupBus(nameOrArn string) (*bus, error) {
	name, err := e.busName(nameOrArn)
	if err != nil {
		return nil, err
	}
	b := e.buses[name]
	if b == nil {
		return nil, wire.Errorf(400, "ResourceNotFoundException", "Event bus %s does not exist.", name)
	}
	return b, nil
}

// lookupRule returns an existing rule. Callers hold e.mu.
func (e *EventBridge) lookupRule(name, busNameOrArn string) (*rule, error) {
	b, err := e.lookupBus(busNameOrArn)
	if err != nil {
		return nil, err
	}
	r := b.rules[name]
	if r == nil {
		return nil, wire.Errorf(400, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name, b.name)
	}
	return r, nil
}

func validationError(format string, args ...any) *wire.Error {
	return wire.Errorf(400, "ValidationException", format, args...)
}

// newEventID returns a random UUID, the form of EventBridge event IDs.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// deliverAll sends prepared deliveries outside the lock; the context is
// detached so an accepted event is not lost if the caller goes away.
func (e *EventBridge) deliverAll(ctx context.Context, ds []delivery) {
	ctx = context.WithoutCancel(ctx)
	for _, d := range ds {
		var err error
		if e.queues == nil {
			err = errors.New("no queue sender configured")
		} else {
			err = e.queues.SendToQueue(ctx, d.queueArn, d.body)
		}
		if err != nil && e.log != nil {
			e.log.LogAttrs(ctx, slog.LevelWarn, "event delivery failed",
				slog.String("target", d.queueArn), slog.String("rule", d.ruleArn), slog.String("error", err.Error()))
		}
	}
}
