package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// DefaultLease is short enough that a failure whose holder died is taken
// over within seconds, long enough that a renewal every 10 s survives a
// slow DynamoDB answer; see docs/agent.md on how it relates to the backoff
// and maxReceiveCount.
const DefaultLease = 30 * time.Second

// Options is the agent's whole configuration, as the command line gives it.
type Options struct {
	Intake Intake
	// Policy is the platform team's policy; nil: pull-through only.
	Policy *policy.Policy
	// Policies, when set, gives the policy in force instead of Policy and
	// may swap it while the agent runs (a policysource.Watcher); each heal
	// uses one snapshot. Build a watcher with ReloadCheck(o) as its Accept.
	Policies PolicySource
	// Registry is the ECR host; "" takes the policy's, else discovers it.
	Registry string
	// PullThrough are rules given on the command line; the policy's
	// declared rules reach the plan through the policy.
	PullThrough   []plan.PullThroughRule
	DiscoverRules bool
	ReviewBus     string
	// LockTable coordinates replicas; "" coordinates within this process
	// only (a single replica).
	LockTable string
	// Lease is a replica's hold on a failure (DefaultLease is the
	// command line's): renewed every third of it while the heal runs, and
	// lost within it when the replica dies.
	Lease  time.Duration
	Holder string
	DryRun bool
	// DockerHubSecret names the Secrets Manager secret ({"username",
	// "accessToken"}) the mirror route pulls from Docker Hub with; empty
	// uses the docker config file's credentials, or none.
	DockerHubSecret string
	// Account and Region are the agent's own (STS GetCallerIdentity, the
	// SDK's region): an event from another account or region is dropped.
	// Empty: not checked (FromConfig takes the region from its config).
	Account string
	Region  string
	// Endpoints reaches registry hosts at other base URLs (test beds).
	Endpoints hostmap.Map
	// RegistryTransport carries registry requests (the preflight); nil is
	// go-containerregistry's default transport.
	RegistryTransport http.RoundTripper
	// Registerer receives the metrics (a fresh registry when nil).
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Validate reports what is wrong with the options themselves, before any
// AWS call: everything it refuses is bad input.
func (o Options) Validate() error {
	in := o.Intake
	in.defaults()
	if err := in.Validate(); err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	if o.Registry != "" {
		if err := policy.CheckRegistry(o.Registry); err != nil {
			return fmt.Errorf("agent config: registry %q: %w", o.Registry, err)
		}
	}
	if o.LockTable != "" {
		if o.Holder == "" {
			return errors.New("agent config: a lock table needs a holder identity")
		}
		if o.Lease < time.Second {
			return fmt.Errorf("agent config: lease duration must be at least 1s, got %s", o.Lease)
		}
	}
	return nil
}

// FromConfig builds an agent with SDK clients made from cfg.
func FromConfig(cfg aws.Config, o Options, log *slog.Logger) (*Agent, error) {
	healer, err := NewHealerFromConfig(cfg, o)
	if err != nil {
		return nil, err
	}
	a, err := newAgent(o.Intake, sqs.NewFromConfig(cfg), healer, log)
	if err != nil {
		return nil, err
	}
	a.account, a.region = o.Account, o.Region
	if a.region == "" {
		a.region = cfg.Region
	}
	a.flagRules, a.settings = o.PullThrough, settings{
		LockTable: o.LockTable, ReviewBus: o.ReviewBus, DryRun: o.DryRun, DiscoverRules: o.DiscoverRules,
	}
	return a, nil
}

// NewHealerFromConfig builds the healer alone, for callers that bring
// their own events: benchmarks, a replay, pullheal explain --discover
// (Healer.Decide).
func NewHealerFromConfig(cfg aws.Config, o Options) (*Healer, error) {
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.RegistryTransport == nil {
		// Bounded connect, header and body waits: a registry that never
		// answers must not hold a heal past its budget.
		o.RegistryTransport = mirror.NewTransport()
	}
	policies := policySource(o.Policies, o.Policy)
	// The registry and rule discovery are set up from the policy in force
	// at startup (ReloadCheck keeps a reload from changing them); the
	// mirror prefix and everything else plan reads from each heal's
	// snapshot.
	initial, _ := snapshot(policies)
	registry := o.Registry
	if registry == "" && initial != nil {
		registry = initial.Registry
	}
	discover := o.DiscoverRules && (initial == nil || initial.PullThrough.Source != policy.PullThroughDeclared)
	metrics := NewMetrics(o.Registerer)
	ecrClient := ecr.NewFromConfig(cfg)
	acct, err := NewECRAccount(ECRConfig{
		Host: registry, PullThrough: o.PullThrough, DiscoverRules: discover,
		Transport: o.Endpoints.Transport(o.RegistryTransport), Now: o.Now,
	}, ecrClient)
	if err != nil {
		return nil, err
	}
	var leases leaser = newLocalLeases(o.Now)
	if o.LockTable != "" {
		if leases, err = newTableLeases(dynamodb.NewFromConfig(cfg), o.LockTable, o.Holder, o.Lease, o.Now); err != nil {
			return nil, fmt.Errorf("agent config: %w", err)
		}
	}
	source := mirror.SourceKeychain(secretsmanager.NewFromConfig(cfg), o.DockerHubSecret, o.Now)
	mirrorer, err := newImageMirror(acct, ecrClient, source, mirror.WithRateLimitGauge(metrics.UpstreamRemaining))
	if err != nil {
		return nil, err
	}
	return newHealer(healerConfig{Policies: policies, DryRun: o.DryRun, Now: o.Now}, healerDeps{
		ECS:     ecs.NewFromConfig(cfg),
		Dest:    acct,
		Mirror:  mirrorer,
		Review:  newReviewer(eventbridge.NewFromConfig(cfg), o.ReviewBus),
		Leases:  leases,
		Metrics: metrics,
		// Whether the healed tasks may pull from ECR, and whether a pinned
		// digest is its tag's, are asked before anything is registered.
		PullCheck: pullCheckClients(cfg),
		Verify:    newTagVerifier(source, remote.WithTransport(o.Endpoints.Transport(o.RegistryTransport))),
	})
}
