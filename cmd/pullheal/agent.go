package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/policy"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the healing agent: read ECS task-state changes from SQS and heal rate-limited pulls",
		Description: "AWS endpoints, region and credentials come from the SDK's standard configuration\n" +
			"(AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, the default credential chain).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue-url", Usage: "`URL` of the SQS queue the EventBridge rule fills (required)"},
			&cli.IntFlag{Name: "workers", Value: 10, Usage: "messages handled at once"},
			&cli.DurationFlag{Name: "wait-time", Value: 20 * time.Second, Usage: "SQS long-poll wait (at most 20s)"},
			&cli.DurationFlag{Name: "visibility", Value: 60 * time.Second, Usage: "visibility timeout of a received message; extended while it is handled"},
			&cli.DurationFlag{Name: "shutdown-grace", Value: 25 * time.Second, Usage: "after SIGTERM, how long in-flight messages may finish before they are released (keep under the task's stopTimeout)"},
			&cli.StringFlag{Name: "policy", Usage: "platform team's policy " + policyUsage},
			&cli.DurationFlag{Name: "policy-reload", Value: policysource.DefaultInterval, Usage: "how often the policy is read again (conditionally: an unchanged one costs no download); 0: never"},
			&cli.StringFlag{Name: "registry", Usage: "ECR registry `HOST`; default: discovered from the ECR authorization token"},
			&cli.StringSliceFlag{Name: "pull-through", Usage: "declared pull-through cache rule `UPSTREAM=PREFIX`; repeatable"},
			&cli.BoolFlag{Name: "discover-rules", Value: true, Usage: "add the account's pull-through cache rules (DescribePullThroughCacheRules)"},
			&cli.StringFlag{Name: "review-bus", Usage: "EventBridge bus `NAME` for review events (default bus when empty)"},
			&cli.StringFlag{Name: "lock-table", Usage: "DynamoDB table `NAME` that coordinates replicas (required when running more than one)"},
			&cli.DurationFlag{Name: "lease", Value: 5 * time.Minute, Usage: "how long a replica holds a failure before another may take over"},
			&cli.StringFlag{Name: "holder", Usage: "this replica's identity in the lock table (default: hostname and process id)"},
			&cli.StringFlag{Name: "registry-endpoints", Usage: "`HOST=URL,...`: reach these registry hosts at other base URLs (the local test bed, a proxy)"},
			&cli.StringFlag{Name: "dockerhub-secret", Usage: "Secrets Manager secret `ID` with the Docker Hub account the mirror route pulls with ({\"username\",\"accessToken\"})"},
			&cli.BoolFlag{Name: "dry-run", Usage: "decide and log; register, update and publish nothing"},
			&cli.StringFlag{Name: "listen", Value: ":9090", Usage: "`ADDRESS` for /metrics, /healthz and /readyz (empty: none)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: agentAction,
	}
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, inputErrorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return slog.New(slog.NewJSONHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})), nil
}

func agentAction(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if c.String("queue-url") == "" {
		return inputErrorf("--queue-url is required")
	}
	if d := c.Duration("policy-reload"); d != 0 && d < time.Second {
		return inputErrorf("--policy-reload %s: want 0 (never) or at least 1s", d)
	}
	var rules []plan.PullThroughRule
	for _, s := range c.StringSlice("pull-through") {
		r, err := plan.ParsePullThrough(s)
		if err != nil {
			return inputErrorf("--pull-through %q: %v", s, err)
		}
		rules = append(rules, r)
	}
	registry := c.String("registry")
	if registry != "" {
		if err := policy.CheckRegistry(registry); err != nil {
			return inputErrorf("--registry %q: %v", registry, err)
		}
	}

	endpoints, err := hostmap.Parse(c.String("registry-endpoints"))
	if err != nil {
		return inputErrorf("--registry-endpoints: %v", err)
	}

	ctx := c.Context
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return inputErrorf("no AWS region: set AWS_REGION")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	holder := c.String("holder")
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	opts := agent.Options{
		Intake: agent.Intake{
			QueueURL: c.String("queue-url"), Workers: c.Int("workers"), WaitTime: c.Duration("wait-time"),
			Visibility: c.Duration("visibility"), ShutdownGrace: c.Duration("shutdown-grace"),
		},
		Registry: registry, PullThrough: rules, DiscoverRules: c.Bool("discover-rules"),
		ReviewBus: c.String("review-bus"), LockTable: c.String("lock-table"), Lease: c.Duration("lease"), Holder: holder,
		DryRun: c.Bool("dry-run"), DockerHubSecret: c.String("dockerhub-secret"), Endpoints: endpoints, Registerer: reg,
	}
	var polInfo policysource.Info
	if location := c.String("policy"); location != "" {
		w, err := watchPolicy(ctx, location, awsCfg, c.Duration("policy-reload"), opts, reg, log)
		if err != nil {
			return err
		}
		opts.Policies = w
		polInfo = w.Current().Info
	}
	a, err := agent.FromConfig(awsCfg, opts, log)
	if err != nil {
		return inputErrorf("%v", err)
	}
	if addr := c.String("listen"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		srv := &http.Server{Handler: a.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "error", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("serving metrics and health", "address", ln.Addr().String())
	}
	log.Info("agent started", "queue_url", c.String("queue-url"), "region", awsCfg.Region,
		"registry", nonEmpty(registry, "discover"), "pull_through", strings.Join(ruleStrings(rules), ","),
		"lock_table", c.String("lock-table"), "dry_run", c.Bool("dry-run"),
		"policy_source", polInfo.Source, "policy_version", polInfo.Version, "policy_sha256", polInfo.SHA256,
		"policy_reload", c.Duration("policy-reload").String())
	err = a.Run(ctx)
	log.Info("agent stopped")
	return err
}

func ruleStrings(rules []plan.PullThroughRule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Upstream + "=" + r.Prefix
	}
	return out
}

// watchPolicy reads the agent's policy and returns the watcher that keeps
// it current; it re-reads every interval (never when 0) until ctx ends.
func watchPolicy(ctx context.Context, location string, awsCfg aws.Config, interval time.Duration, opts agent.Options,
	reg prometheus.Registerer, log *slog.Logger) (*policysource.Watcher, error) {
	snap, r, err := readPolicy(ctx, location, &awsCfg)
	if err != nil {
		return nil, err
	}
	w, err := policysource.NewWatcher(r, snap, policysource.WatcherConfig{
		Interval: interval, Accept: agent.ReloadCheck(opts), Registerer: reg, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if interval > 0 {
		go w.Run(ctx)
	}
	return w, nil
}
