package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/policy"
)

// Handler serves /metrics from gatherer, /healthz (the poll loop is alive
// and its receives have not been failing for Intake.UnhealthyAfter),
// /readyz (the queue has answered at least once) and /config (the
// configuration in force, as JSON).
func (a *Agent) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if problem := a.receiveProblem(); problem != "" {
			http.Error(w, problem, http.StatusServiceUnavailable)
			return
		}
		last := a.lastPoll.Load()
		// A long poll returns within WaitTime; allow a slow network on top.
		if last != 0 && time.Since(time.Unix(0, last)) > a.intake.WaitTime+time.Minute {
			http.Error(w, "poll loop stalled", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a.lastPoll.Load() == 0 {
			http.Error(w, "queue not reached yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/config", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Config(ctx))
	})
	return mux
}

// settings are the options /config reports that no other part of the
// agent keeps.
type settings struct {
	LockTable     string `json:"lockTable,omitempty"`
	ReviewBus     string `json:"reviewBus,omitempty"`
	DryRun        bool   `json:"dryRun"`
	DiscoverRules bool   `json:"discoverRules"`
}

// RunningConfig is the configuration in force: what the agent logs once
// at start and serves at /config. It holds no secret: the Docker Hub
// secret is not named, credentials never appear.
type RunningConfig struct {
	QueueURL string `json:"queueUrl"`
	// Queue is what the start-up check read of the queue (its dead-letter
	// queue and maxReceiveCount); absent before the check.
	Queue *QueueInfo `json:"queue,omitempty"`
	// Account and Region are the agent's; events of others are dropped.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// Registry is the ECR host corrected images live in.
	Registry    string        `json:"registry,omitempty"`
	PullThrough []RuleInForce `json:"pullThrough"`
	// Policy names the policy in force (its source, version and SHA-256);
	// absent without one.
	Policy *policysource.Info `json:"policy,omitempty"`
	// Scope is the policy's scope (workloads pullheal touches); absent:
	// every workload.
	Scope *ScopeInForce `json:"scope,omitempty"`
	// ServiceUpdate is how a service moves onto a corrected revision, and
	// Containers which containers a heal rewrites (the policy's heal
	// section, or their defaults).
	ServiceUpdate string `json:"serviceUpdate"`
	Containers    string `json:"containers"`
	Workers       int    `json:"workers"`
	WaitTime      string `json:"waitTime"`
	Visibility    string `json:"visibility"`
	MessageBudget string `json:"messageBudget"`
	ShutdownGrace string `json:"shutdownGrace"`
	// UnhealthyAfter is how long receives may fail before /healthz says 503.
	UnhealthyAfter string `json:"unhealthyAfter"`
	settings
	// Errors lists what could not be read to fill this in (the registry
	// or the account's rules), each in a sentence.
	Errors []string `json:"errors,omitempty"`
}

// RuleInForce is one pull-through cache rule and where it came from:
// flag (--pull-through), policy (declared in it) or discovered
// (DescribePullThroughCacheRules). For one upstream the first listed wins.
type RuleInForce struct {
	Upstream string `json:"upstream"`
	Prefix   string `json:"prefix"`
	Source   string `json:"source"`
}

// ScopeInForce is the policy's scope: include and exclude globs per kind.
type ScopeInForce struct {
	Clusters FilterInForce `json:"clusters"`
	Services FilterInForce `json:"services"`
	Families FilterInForce `json:"families"`
}

// FilterInForce is one include/exclude pair of a scope.
type FilterInForce struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Config returns the configuration in force now: the policy snapshot of
// this moment, and the registry and pull-through rules as a heal would
// read them (discovered rules are cached, so this rarely calls ECR).
func (a *Agent) Config(ctx context.Context) RunningConfig {
	in := a.intake
	c := RunningConfig{
		QueueURL: in.QueueURL, Account: a.account, Region: a.region,
		PullThrough: []RuleInForce{}, Workers: in.Workers, WaitTime: in.WaitTime.String(), Visibility: in.Visibility.String(),
		MessageBudget: in.Budget.String(), ShutdownGrace: in.ShutdownGrace.String(), UnhealthyAfter: in.UnhealthyAfter.String(),
		ServiceUpdate: string(policy.UpdateService), Containers: string(policy.ContainersFailed), settings: a.settings,
	}
	c.Queue = a.queue.Load()
	pol, info := snapshot(a.healer.cfg.Policies)
	c.Policy = info
	for _, r := range a.flagRules {
		c.PullThrough = append(c.PullThrough, RuleInForce{Upstream: r.Upstream, Prefix: r.Prefix, Source: "flag"})
	}
	flagged := map[string]bool{}
	for _, r := range a.flagRules {
		flagged[r.Upstream+"="+r.Prefix] = true
	}
	if pol != nil {
		for _, r := range pol.PullThrough.Rules {
			c.PullThrough = append(c.PullThrough, RuleInForce{Upstream: r.Upstream, Prefix: r.Prefix, Source: "policy"})
		}
		if s := pol.Scope; len(s.Clusters.Include)+len(s.Clusters.Exclude)+len(s.Services.Include)+len(s.Services.Exclude)+len(s.Families.Include)+len(s.Families.Exclude) > 0 {
			c.Scope = &ScopeInForce{Clusters: FilterInForce(s.Clusters), Services: FilterInForce(s.Services), Families: FilterInForce(s.Families)}
		}
		if pol.Heal.ServiceUpdate != "" {
			c.ServiceUpdate = string(pol.Heal.ServiceUpdate)
		}
		if pol.Heal.Containers != "" {
			c.Containers = string(pol.Heal.Containers)
		}
	}
	cfg, _, err := a.healer.dest.PlanConfig(ctx, pol)
	if err != nil {
		c.Errors = append(c.Errors, "registry and pull-through rules: "+err.Error())
		return c
	}
	c.Registry = cfg.Registry
	for _, r := range cfg.PullThrough {
		if !flagged[r.Upstream+"="+r.Prefix] {
			c.PullThrough = append(c.PullThrough, RuleInForce{Upstream: r.Upstream, Prefix: r.Prefix, Source: "discovered"})
		}
	}
	return c
}
