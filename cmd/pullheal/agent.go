package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/policysource"
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
			&cli.DurationFlag{Name: "message-budget", Value: agent.DefaultMessageBudget, Usage: "how long one message may be handled in all; then it is released for a retry with backoff (and counts towards the dead-letter queue)"},
			&cli.DurationFlag{Name: "shutdown-grace", Value: 25 * time.Second, Usage: "after SIGTERM, how long in-flight messages may finish before they are released (keep under the task's stopTimeout)"},
			policyFlag(),
			&cli.DurationFlag{Name: "policy-reload", Value: policysource.DefaultInterval, Usage: "how often the policy is read again (conditionally: an unchanged one costs no download); 0: never"},
			registryFlag(),
			pullThroughFlag(),
			&cli.BoolFlag{Name: "discover-rules", Value: true, Usage: "add the account's pull-through cache rules (DescribePullThroughCacheRules)"},
			&cli.StringFlag{Name: "review-bus", Usage: "EventBridge bus `NAME` for review events (default bus when empty)"},
			&cli.StringFlag{Name: "lock-table", Usage: "DynamoDB table `NAME` that coordinates replicas (required when running more than one)"},
			&cli.DurationFlag{Name: "lease", Value: agent.DefaultLease, Usage: "a replica's hold on a failure, renewed every third of it while it heals; a replica that dies loses it within this"},
			&cli.StringFlag{Name: "holder", Usage: "this replica's identity in the lock table (default: hostname and process id)"},
			registryEndpointsFlag(),
			dockerHubSecretFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "decide and log; register, update and publish nothing"},
			&cli.StringFlag{Name: "listen", Value: ":9090", Usage: "`ADDRESS` for /metrics, /healthz and /readyz (empty: none)"},
			logLevelFlag(),
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

// healerOptions reads the routing flags the agent and explain --discover
// share into the agent's options.
// The agent reads --policy through a watcher of its own (agentAction);
// readPolicy says whether healerOptions reads it once.
func healerOptions(c *cli.Context, readPolicy bool) (agent.Options, error) {
	var o agent.Options
	var err error
	if readPolicy {
		if o.Policy, err = policyFromFlag(c); err != nil {
			return o, err
		}
	}
	if o.Registry, err = registryFromFlag(c); err != nil {
		return o, err
	}
	if o.PullThrough, err = pullThroughFromFlag(c); err != nil {
		return o, err
	}
	return o, nil
}

// agentAction starts the agent. Exit 2 is for what the user gave (flags, a
// policy, options the agent refuses); anything that fails after that
// (AWS configuration, the listener, building the clients) exits 1.
func agentAction(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if err := checkAgentFlags(c); err != nil {
		return err
	}
	o, err := healerOptions(c, false)
	if err != nil {
		return err
	}
	if o.Endpoints, err = endpointsFromFlag(c); err != nil {
		return err
	}
	holder := c.String("holder")
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	o.Intake = agent.Intake{
		QueueURL: c.String("queue-url"), Workers: c.Int("workers"), WaitTime: c.Duration("wait-time"),
		Visibility: c.Duration("visibility"), Budget: c.Duration("message-budget"), ShutdownGrace: c.Duration("shutdown-grace"),
	}
	o.DiscoverRules, o.ReviewBus, o.LockTable, o.Lease, o.Holder = c.Bool("discover-rules"), c.String("review-bus"), c.String("lock-table"), c.Duration("lease"), holder
	o.DryRun, o.DockerHubSecret = c.Bool("dry-run"), c.String("dockerhub-secret")
	if err := o.Validate(); err != nil {
		return asInputError(err)
	}

	ctx := c.Context
	// A policy file is read before any AWS request, so that a wrong one
	// is refused as the user's input; S3 and SSM need the configuration.
	var first policyRead
	if location := c.String("policy"); location != "" {
		loc, err := policysource.ParseLocation(location)
		if err != nil {
			return asInputError(err)
		}
		if loc.Kind == policysource.File {
			if first.snap, first.r, err = readPolicy(ctx, location, nil); err != nil {
				return err
			}
		}
	}
	awsCfg, err := loadAWSConfig(ctx, config.WithHTTPClient(awsHTTPClient(o.Intake.WaitTime)))
	if err != nil {
		return err
	}
	if awsCfg.Region == "" {
		return inputErrorf("no AWS region: set AWS_REGION")
	}

	// One deadline for the start-up checks: a wrong queue, no credentials
	// or refused access end the agent within it.
	startCtx, cancelStart := context.WithTimeout(ctx, startCheckTimeout)
	defer cancelStart()
	if err := checkCredentials(startCtx, awsCfg, o.Intake.QueueURL); err != nil {
		return err
	}
	o.Account = callerAccount(startCtx, awsCfg, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.Registerer = reg
	var polInfo policysource.Info
	if location := c.String("policy"); location != "" {
		w, err := watchPolicy(ctx, location, awsCfg, first, c.Duration("policy-reload"), o, reg, log)
		if err != nil {
			return err
		}
		o.Policies = w
		polInfo = w.Current().Info
	}
	a, err := agent.FromConfig(awsCfg, o, log)
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
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
	queue, err := a.CheckQueue(startCtx)
	if err != nil {
		return err
	}
	cancelStart()
	if queue.DeadLetterQueue == "" {
		log.Warn("the queue has no redrive policy: a message that never succeeds is retried until the queue's retention drops it", "queue_url", o.Intake.QueueURL)
	}
	cfgCtx, cancelCfg := context.WithTimeout(ctx, 10*time.Second)
	inForce := a.Config(cfgCtx)
	cancelCfg()
	log.Info("configuration in force", "config", inForce)
	log.Info("agent started", "queue_url", c.String("queue-url"), "region", awsCfg.Region,
		"registry", nonEmpty(o.Registry, "discover"), "pull_through", strings.Join(ruleStrings(o.PullThrough), ","),
		"lock_table", c.String("lock-table"), "dry_run", c.Bool("dry-run"),
		"policy_source", polInfo.Source, "policy_version", polInfo.Version, "policy_sha256", polInfo.SHA256,
		"policy_reload", c.Duration("policy-reload").String())
	err = a.Run(ctx)
	log.Info("agent stopped")
	return err
}

// checkAgentFlags refuses flag values the agent cannot run with, naming
// the flag: a zero is never silently replaced by a default.
func checkAgentFlags(c *cli.Context) error {
	if err := checkQueueURL(c.String("queue-url")); err != nil {
		return err
	}
	switch workers, wait, vis, grace := c.Int("workers"), c.Duration("wait-time"), c.Duration("visibility"), c.Duration("shutdown-grace"); {
	case workers < 1 || workers > 1000:
		return inputErrorf("--workers %d: want 1 to 1000", workers)
	case wait < 0 || wait > 20*time.Second || wait%time.Second != 0:
		return inputErrorf("--wait-time %s: want whole seconds from 0s to 20s (the SQS long-poll limit)", wait)
	case vis < 2*time.Second || vis > 12*time.Hour || vis%time.Second != 0:
		return inputErrorf("--visibility %s: want whole seconds from 2s to 12h (the SQS visibility timeout limits)", vis)
	case grace < 0:
		return inputErrorf("--shutdown-grace %s: must not be negative", grace)
	}
	if b := c.Duration("message-budget"); b < time.Second || b+c.Duration("visibility") > agent.MaxVisibility {
		return inputErrorf("--message-budget %s: want at least 1s, and with --visibility (%s) at most %s, the longest SQS keeps a message hidden", b, c.Duration("visibility"), agent.MaxVisibility)
	}
	if d := c.Duration("policy-reload"); d != 0 && d < time.Second {
		return inputErrorf("--policy-reload %s: want 0 (never) or at least 1s", d)
	}
	if addr := c.String("listen"); addr != "" {
		if err := checkListenAddress("listen", addr); err != nil {
			return err
		}
	}
	if c.String("lock-table") != "" && c.Duration("lease") < time.Second {
		return inputErrorf("--lease %s: want at least 1s", c.Duration("lease"))
	}
	return nil
}

// checkQueueURL refuses what cannot be an SQS queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or a local endpoint's).
func checkQueueURL(raw string) error {
	if raw == "" {
		return inputErrorf("--queue-url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return inputErrorf("--queue-url %q: %v", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return inputErrorf("--queue-url %q: want the queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", raw)
	}
	return nil
}

// startCheckTimeout bounds the start-up check of credentials and queue: a
// wrong queue URL or missing permission ends the agent within it.
const startCheckTimeout = 8 * time.Second

// checkCredentials proves, before anything else, that the agent has AWS
// credentials; it fails with one line naming the queue it would read.
func checkCredentials(ctx context.Context, awsCfg aws.Config, queueURL string) error {
	if awsCfg.Credentials == nil {
		return fmt.Errorf("queue %s: no AWS credentials (the default credential chain found none)", queueURL)
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("queue %s: no AWS credentials: %w", queueURL, err)
	}
	return nil
}

// callerAccount is the account the agent's credentials belong to (STS
// GetCallerIdentity, which needs no permission), or "" when STS cannot be
// reached (a private subnet without an STS endpoint): events are then not
// checked for their account, and the log says so.
func callerAccount(ctx context.Context, awsCfg aws.Config, log *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		log.Warn("account unknown (STS GetCallerIdentity failed); events are not checked for their account", "error", err)
		return ""
	}
	return aws.ToString(out.Account)
}

// awsHTTPClient is the AWS SDK's HTTP client with every wait bounded: a
// connection that never opens, an endpoint that accepts and never
// answers, or an answer that stops half-way fails the call instead of
// holding a worker (the SDK's retryer then decides). ReceiveMessage long
// polls for up to waitTime before the first byte, so the header and read
// timeouts sit above it.
func awsHTTPClient(waitTime time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 5 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = 5 * time.Second
			tr.ResponseHeaderTimeout = waitTime + 15*time.Second
			tr.IdleConnTimeout = 90 * time.Second
		}).
		WithReadTimeout(waitTime + 15*time.Second).
		WithTimeout(waitTime + 40*time.Second)
}

func ruleStrings(rules []plan.PullThroughRule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Upstream + "=" + r.Prefix
	}
	return out
}

// policyRead is a policy read once, and the reader that reads it again.
type policyRead struct {
	snap *policysource.Snapshot
	r    *policysource.Reader
}

// watchPolicy reads the agent's policy (unless first holds it already) and
// returns the watcher that keeps it current; it re-reads every interval
// (never when 0) until ctx ends.
func watchPolicy(ctx context.Context, location string, awsCfg aws.Config, first policyRead, interval time.Duration, opts agent.Options,
	reg prometheus.Registerer, log *slog.Logger) (*policysource.Watcher, error) {
	if first.snap == nil {
		var err error
		if first.snap, first.r, err = readPolicy(ctx, location, &awsCfg); err != nil {
			return nil, err
		}
	}
	w, err := policysource.NewWatcher(first.r, first.snap, policysource.WatcherConfig{
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
