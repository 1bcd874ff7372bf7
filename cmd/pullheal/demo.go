//go:build !noTestbed

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the whole healing loop on the local test bed, no AWS account needed",
		Description: "Starts the test bed, a Docker-Hub-backed ECS service whose pulls are rate-limited, and the agent,\n" +
			"and narrates until the service is steady on the corrected revision. Exits 0 only if it healed.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after this long"},
			&cli.IntFlag{Name: "tasks", Value: 3, Usage: "desired count of the demo service"},
			&cli.BoolFlag{Name: "verbose", Usage: "also print the agent's JSON log on stderr"},
			&cli.StringFlag{Name: "state", Usage: "leave the test bed's state in `DIR` (new or empty), for `pullheal local --state DIR` to serve afterwards"},
		},
		Action: demoAction,
	}
}

// narrator prints timestamped lines relative to the demo's start.
type narrator struct {
	w     io.Writer
	start time.Time
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.w, "%6.2fs  %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

func demoAction(c *cli.Context) error {
	if c.Int("tasks") < 1 || c.Int("tasks") > 100 {
		return inputErrorf("--tasks must be between 1 and 100, got %d", c.Int("tasks"))
	}
	if c.Duration("timeout") <= 0 {
		return inputErrorf("--timeout %s: must be positive", c.Duration("timeout"))
	}
	state := c.String("state")
	if err := emptyStateDir(state); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	n := &narrator{w: c.App.Writer, start: time.Now()}
	fmt.Fprintln(n.w, "pullheal demo: a Docker Hub rate limit takes down an ECS service, and pullheal heals it")
	fmt.Fprintln(n.w, "(everything runs on the local test bed: real AWS SDK clients, loopback HTTP, no AWS account)")
	fmt.Fprintln(n.w)

	bed, err := localaws.Start(ctx, localaws.Config{RestartDelay: 300 * time.Millisecond, StateDir: state})
	if err != nil {
		return fmt.Errorf("start the test bed: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			bed.Close()
		}
	}()
	n.say("test bed up: AWS APIs on %s, ECR registry %s, Docker Hub stand-in on %s", bed.APIURL(), bed.RegistryHost(), bed.HubURL())

	clients := scenario.NewClients(bed.AWSConfig())
	sc, err := scenario.Setup(ctx, clients, scenario.Options{
		Desired: int32(c.Int("tasks")), HubUser: localaws.HubUser, HubToken: localaws.HubToken, Visibility: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	n.say("service %s/%s runs %s (desired %d) from %s", sc.Cluster, sc.Service, sc.Image, sc.Desired, sc.TaskDefinitionArn)
	n.say("ECR pull-through cache rule docker-hub -> registry-1.docker.io, with a Docker Hub account in Secrets Manager")
	n.say("EventBridge rule %s sends stopped-pull events to %s", sc.RuleArn, sc.QueueURL)
	bed.Hub.Exhaust("127.0.0.1")
	n.say("Docker Hub: the anonymous pull budget of this host (127.0.0.1) is used up")

	logger := slog.New(slog.DiscardHandler)
	if c.Bool("verbose") {
		logger = slog.New(slog.NewJSONHandler(c.App.ErrWriter, nil))
	}
	a, err := agent.FromConfig(bed.AWSConfig(), agent.Options{
		Intake:        agent.Intake{QueueURL: sc.QueueURL, WaitTime: time.Second, Visibility: 30 * time.Second, ShutdownGrace: 2 * time.Second},
		DiscoverRules: true, Endpoints: bed.Endpoints(), LockTable: sc.LockTable, Holder: "demo/" + fmt.Sprint(os.Getpid()), Lease: time.Minute,
	}, logger)
	if err != nil {
		return err
	}
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	started := false
	var startedAt time.Time
	startAgent := func() {
		started, startedAt = true, time.Now()
		go func() { agentDone <- a.Run(agentCtx) }()
		n.say("agent started, long-polling %s", sc.QueueURL)
	}
	defer func() {
		stopAgent()
		if started {
			<-agentDone
		}
	}()
	n.say("the agent is not running yet: watch the service crash-loop on Docker Hub's limit")

	healed, err := watch(ctx, n, bed, clients, sc, startAgent)
	if err != nil {
		return err
	}
	healed.took = time.Since(startedAt)
	summarize(n, bed, sc, healed)
	if state == "" {
		return nil
	}
	stopAgent()
	<-agentDone
	started = false
	closed = true
	if err := bed.Close(); err != nil {
		return fmt.Errorf("save the test bed's state in %s: %w", state, err)
	}
	fmt.Fprintf(n.w, "\nthe test bed's state is in %s: serve it with `pullheal local --state %s`, then try\n", state, state)
	fmt.Fprintln(n.w, "`pullheal revisions`, `pullheal revert --cluster prod --service web`, `pullheal approve ...` and `pullheal scan`")
	return nil
}

// emptyStateDir accepts "" (no state), a directory that does not exist
// yet, or an empty one: the demo sets its scenario up from nothing.
func emptyStateDir(dir string) error {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return inputErrorf("--state %s: %v", dir, unwrapPathError(err))
	case len(entries) > 0:
		return inputErrorf("--state %s: directory is not empty; the demo starts from a new test bed", dir)
	}
	return nil
}

// healing is what the demo saw of the heal.
type healing struct {
	review   agent.Review
	revision string
	took     time.Duration // from the agent's start to a steady service
}

// watch drives the scheduler and narrates until the service is steady on a
// corrected revision.
func watch(ctx context.Context, n *narrator, bed *localaws.Server, c scenario.Clients, sc *scenario.Scenario, startAgent func()) (*healing, error) {
	seenStopped := map[string]bool{}
	agentStarted := false
	var h healing
	lastState := ""
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the service did not heal in time (%s so far)", lastState)
		case <-tick.C:
		}
		if err := bed.Tick(ctx); err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		narrateStops(ctx, n, c, sc, seenStopped)
		// Two rounds of failed launches show the loop; then the agent.
		if !agentStarted && len(seenStopped) >= 2*int(sc.Desired) {
			agentStarted = true
			startAgent()
		}
		if h.review.TaskDefinitionArn == "" {
			reviews, err := sc.Reviews(ctx, c)
			if err != nil && ctx.Err() == nil {
				return nil, err
			}
			for _, r := range reviews {
				var rv agent.Review
				if json.Unmarshal(r.Detail, &rv) != nil {
					continue
				}
				n.say("review event %q: %s", r.DetailType, rv.Reason)
				for _, im := range rv.Images {
					n.say("  %s: %s -> %s (%s)", im.Container, im.From, im.To, im.Route)
				}
				if r.DetailType == agent.DetailCorrected {
					h.review = rv
					n.say("  registered %s", rv.TaskDefinitionArn)
					n.say("  %s", rv.ServiceAction)
				}
			}
		}
		st, err := sc.ServiceState(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return nil, err
		}
		state := fmt.Sprintf("%d/%d running on %s, %d deployment(s)", st.Running, st.Desired, ecsarn.Name(st.TaskDefinition), st.Deployments)
		if state != lastState {
			n.say("service %s: %s", sc.Service, state)
			lastState = state
		}
		if st.Steady && h.review.TaskDefinitionArn != "" && st.TaskDefinition == h.review.TaskDefinitionArn {
			h.revision = st.TaskDefinition
			n.say("service %s is steady on the corrected revision", sc.Service)
			return &h, nil
		}
	}
}

// narrateStops prints each newly stopped task once, the first in full.
func narrateStops(ctx context.Context, n *narrator, c scenario.Clients, sc *scenario.Scenario, seen map[string]bool) {
	list, err := c.ECS.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(sc.Cluster), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(list.TaskArns) == 0 {
		return
	}
	var fresh []string
	for _, arn := range list.TaskArns {
		if !seen[arn] {
			fresh = append(fresh, arn)
		}
	}
	if len(fresh) == 0 {
		return
	}
	out, err := c.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(sc.Cluster), Tasks: fresh})
	if err != nil {
		return
	}
	for _, t := range out.Tasks {
		arn := aws.ToString(t.TaskArn)
		if aws.ToString(t.LastStatus) != "STOPPED" {
			continue
		}
		seen[arn] = true
		reason := aws.ToString(t.StoppedReason)
		if len(seen) == 1 {
			n.say("task %s STOPPED (%s):\n          %s", ecsarn.Name(arn), t.StopCode, reason)
		} else {
			n.say("task %s STOPPED: %s", ecsarn.Name(arn), abbreviate(reason, 90))
		}
	}
}

func summarize(n *narrator, bed *localaws.Server, sc *scenario.Scenario, h *healing) {
	w := n.w
	fmt.Fprintf(w, "\nhealed %.2fs after the agent started: %s now runs %s\n", h.took.Seconds(), sc.Service, h.revision)
	fmt.Fprintln(w, "\nthe corrected revision, as engineers review it (from the review event):")
	for _, line := range strings.Split(strings.TrimRight(h.review.Diff, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	pulls := bed.Hub.Pulls()
	byCache := 0
	for _, ids := range pulls.ByRepository {
		byCache += ids[localaws.HubUser]
	}
	running := int(sc.Desired)
	fmt.Fprintln(w, "\nDocker Hub pulls (manifest GETs counted by the hub):")
	fmt.Fprintf(w, "  refused with 429 while the service crash-looped:  %d\n", pulls.Throttled)
	fmt.Fprintf(w, "  made by the ECR pull-through cache (its account): %d\n", byCache)
	fmt.Fprintf(w, "  avoided: %d task pulls now served by ECR, each an index and a platform manifest on Docker Hub = %d\n", running, 2*running)
	fmt.Fprintln(w, "  and every later task launch, scale-out and deployment of this revision pulls from ECR too")
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
