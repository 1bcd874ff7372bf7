// Package ecssim is a local stand-in for Amazon ECS: task definitions,
// tags, clusters, services and tasks on the AWS JSON 1.1 wire protocol the
// aws-sdk-go-v2 ecs client speaks, plus a simulated scheduler that launches
// tasks by pulling their images from real (local) registries the way
// Fargate does and stops them with ECS's own error text when a pull fails.
//
// The scheduler is driven explicitly: Tick runs one scheduling round
// synchronously against the configured clock, so tests and the demo decide
// when time passes; Run calls Tick on an interval for a long-running test
// bed. Every task state change is published as an EventBridge
// "ECS Task State Change" event.
//
// Where ECS's behaviour is not documented, the simulation picks what a user
// watching the console would recognise; each such decision is written next
// to the code that makes it.
package ecssim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// TargetPrefix is the X-Amz-Target prefix of the ECS JSON protocol.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113"

// Defaults used when Config leaves a field empty.
const (
	DefaultAccount         = wire.DefaultAccount
	DefaultRegion          = wire.DefaultRegion
	DefaultRestartDelay    = 10 * time.Second
	DefaultMaxRestartDelay = 15 * time.Minute
	// DefaultStoppedRetention is how long a STOPPED task stays visible to
	// DescribeTasks and ListTasks; ECS keeps them for about an hour.
	DefaultStoppedRetention = time.Hour
)

// Config configures the stand-in. Zero values take the defaults above; the
// clock defaults to the wall clock and the puller to a RegistryPuller with
// no host mapping (it can only reach registries named by a loopback
// address).
type Config struct {
	Account, Region string
	// Principal is reported as registeredBy and createdBy; it defaults to
	// the account's root ARN.
	Principal string
	Clock     wire.Clock
	// Events receives every task state change; nil drops them.
	Events wire.EventPublisher
	Puller Puller
	// RestartDelay is the delay after a service task failed to start
	// before the service launches again; it doubles with each further
	// consecutive failure up to MaxRestartDelay, like ECS's service
	// throttling. A task reaching RUNNING resets it.
	RestartDelay, MaxRestartDelay time.Duration
	StoppedRetention              time.Duration
	// Logger receives one line per pull; nil keeps the package silent.
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if err := wire.CheckAccountRegion(c.Account, c.Region); err != nil {
		return fmt.Errorf("ecssim config: %w", err)
	}
	if c.RestartDelay < 0 || c.MaxRestartDelay < 0 || c.StoppedRetention < 0 {
		return errors.New("ecssim config: durations must not be negative")
	}
	return nil
}

// ECS is the stand-in. It is safe for concurrent use: API calls and Tick
// share one lock, and registry pulls run outside it.
type ECS struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex
	st     *state
	tickMu sync.Mutex // one scheduling round at a time
}

// New returns an empty ECS.
func New(cfg Config) (*ECS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	if cfg.Principal == "" {
		cfg.Principal = "arn:" + partition(cfg.Region) + ":iam::" + cfg.Account + ":root"
	}
	if cfg.RestartDelay == 0 {
		cfg.RestartDelay = DefaultRestartDelay
	}
	if cfg.MaxRestartDelay == 0 {
		cfg.MaxRestartDelay = DefaultMaxRestartDelay
	}
	if cfg.StoppedRetention == 0 {
		cfg.StoppedRetention = DefaultStoppedRetention
	}
	if cfg.Puller == nil {
		p, err := NewRegistryPuller(RegistryPullerConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Puller = p
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ECS{cfg: cfg, log: log, st: newState()}, nil
}

// Service returns the operations for mounting on a wire.Mux.
func (e *ECS) Service() wire.Service {
	return wire.Service{TargetPrefix: TargetPrefix, JSONVersion: "1.1", Ops: map[string]wire.Op{
		"RegisterTaskDefinition":     e.registerTaskDefinition,
		"DescribeTaskDefinition":     e.describeTaskDefinition,
		"ListTaskDefinitions":        e.listTaskDefinitions,
		"ListTaskDefinitionFamilies": e.listTaskDefinitionFamilies,
		"DeregisterTaskDefinition":   e.deregisterTaskDefinition,
		"ListTagsForResource":        e.listTagsForResource,
		"TagResource":                e.tagResource,
		"UntagResource":              e.untagResource,
		"CreateCluster":              e.createCluster,
		"DescribeClusters":           e.describeClusters,
		"ListClusters":               e.listClusters,
		"CreateService":              e.createService,
		"UpdateService":              e.updateService,
		"DeleteService":              e.deleteService,
		"DescribeServices":           e.describeServices,
		"ListServices":               e.listServices,
		"RunTask":                    e.runTask,
		"StopTask":                   e.stopTask,
		"DescribeTasks":              e.describeTasks,
		"ListTasks":                  e.listTasks,
		"RegisterContainerInstance":  e.registerContainerInstance,
		"DescribeContainerInstances": e.describeContainerInstances,
	}}
}

// The error types ECS answers with; the SDK maps each __type to its typed
// exception in service/ecs/types.
const (
	codeClient          = "ClientException"
	codeInvalidParam    = "InvalidParameterException"
	codeClusterNotFound = "ClusterNotFoundException"
	codeServiceNotFound = "ServiceNotFoundException"
	codeServiceInactive = "ServiceNotActiveException"
)

func clientErr(format string, args ...any) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, codeClient, format, args...)
}

func invalidParam(format string, args ...any) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, codeInvalidParam, format, args...)
}

func clusterNotFound() *wire.Error {
	return wire.Errorf(http.StatusBadRequest, codeClusterNotFound, "Cluster not found.")
}

func serviceNotFound() *wire.Error {
	return wire.Errorf(http.StatusBadRequest, codeServiceNotFound, "Service not found.")
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// arn builds an ECS ARN of the stand-in's account and region.
func (e *ECS) arn(resource string) string {
	return "arn:" + partition(e.cfg.Region) + ":ecs:" + e.cfg.Region + ":" + e.cfg.Account + ":" + resource
}

// resourceOf returns the resource part of an ECS ARN of this account and
// region ("service/prod/web"), or ok=false when s is not one.
func (e *ECS) resourceOf(s string) (string, bool) {
	prefix := e.arn("")
	if !strings.HasPrefix(s, prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func (e *ECS) now() time.Time { return e.cfg.Clock.Now().UTC() }

// newID returns a task ID as ECS makes them: 32 hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newDeploymentID returns a deployment ID in ECS's format, ecs-svc/ and 19
// decimal digits; service tasks carry it as startedBy.
func newDeploymentID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(8e18)) // 19 digits: [1e18, 9e18)
	return fmt.Sprintf("ecs-svc/%019d", n.Int64()+1e18)
}

// publish hands events to the configured publisher in order. Failures do
// not undo the state change they describe (ECS's own event delivery is
// best effort too); they are returned joined for Tick's caller.
func (e *ECS) publish(ctx context.Context, events []wire.Event) error {
	if e.cfg.Events == nil {
		return nil
	}
	var errs []error
	for _, ev := range events {
		if err := e.cfg.Events.PublishEvent(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("publish %s for %s: %w", ev.DetailType, strings.Join(ev.Resources, ","), err))
		}
	}
	return errors.Join(errs...)
}

// publishQuietly is publish for API calls, whose callers must not see a
// failure of the event bus.
func (e *ECS) publishQuietly(ctx context.Context, events []wire.Event) {
	if err := e.publish(ctx, events); err != nil {
		e.log.Warn("event delivery failed", "error", err)
	}
}

// rawJSON encodes a value known to encode (strings, numbers, stored raw
// members) as a raw JSON member.
func rawJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
