package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/policy"
)

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:  "scan",
		Usage: "report every service's images from rate-limited registries, where the agent would move them, and what a deployment costs",
		Description: "For every service (every cluster of the region by default): the containers whose images come from\n" +
			"Docker Hub (or a registry named by --rate-limited or the policy's rateLimited), the route and target\n" +
			"the agent would choose, the counted pulls one full deployment costs, whether the task can pull from\n" +
			"ECR as far as can be told, and the fleet's total against Docker Hub's limits. A progress line shows on\n" +
			"a terminal. --apply propose registers corrected revisions (one per source revision, never twice);\n" +
			"--apply update also rolls the services, guarded like the agent, --batch at a time.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "cluster", Usage: "only cluster `NAME`; repeatable (default: every cluster of the region)"},
			policyFlag(),
			&cli.StringFlag{Name: "registry", Usage: "ECR registry `HOST`; default: the policy's, else discovered from the ECR authorization token"},
			&cli.StringSliceFlag{Name: "pull-through", Usage: "declared pull-through cache rule `UPSTREAM=PREFIX`; repeatable"},
			&cli.BoolFlag{Name: "discover-rules", Value: true, Usage: "add the account's pull-through cache rules (DescribePullThroughCacheRules)"},
			&cli.StringSliceFlag{Name: "rate-limited", Usage: "also count pulls from registry `HOST` (Docker Hub always counts, and those the policy's rateLimited names); repeatable"},
			&cli.BoolFlag{Name: "inspect", Usage: "HEAD each rate-limited image on its registry (not counted as a pull) to count a multi-platform image as two manifest GETs per task"},
			&cli.IntFlag{Name: "anonymous-limit", Value: fleet.DefaultAnonymousLimit, Usage: "anonymous pulls per 6h per IP"},
			&cli.IntFlag{Name: "authenticated-limit", Value: fleet.DefaultAuthenticatedLimit, Usage: "authenticated pulls per 6h"},
			&cli.StringFlag{Name: "output", Value: "text", Usage: "json or text"},
			&cli.StringFlag{Name: "apply", Usage: "`MODE`: propose (register corrected revisions) or update (also roll the services)"},
			&cli.IntFlag{Name: "batch", Value: 10, Usage: "with --apply update, services updated at once"},
			&cli.DurationFlag{Name: "batch-interval", Value: time.Second, Usage: "with --apply update, pause between batches (0: none)"},
			&cli.IntFlag{Name: "workers", Value: fleet.DefaultWorkers, Usage: "concurrent Describe calls"},
			&cli.StringFlag{Name: "registry-endpoints", Usage: "`HOST=URL,...`: reach these registry hosts at other base URLs (the local test bed, a proxy)"},
		},
		Action: scanAction,
	}
}

func scanAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return inputErrorf("scan takes no arguments, got %q", c.Args().First())
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	mode := c.String("apply")
	if mode != "" && mode != fleet.ApplyPropose && mode != fleet.ApplyUpdate {
		return inputErrorf("--apply %q: want propose or update", mode)
	}
	for _, f := range []string{"batch", "workers", "anonymous-limit", "authenticated-limit"} {
		if c.Int(f) < 1 {
			return inputErrorf("--%s must be at least 1, got %d", f, c.Int(f))
		}
	}
	if d := c.Duration("batch-interval"); d < 0 {
		return inputErrorf("--batch-interval %s: must not be negative", d)
	}
	var pol *policy.Policy
	if path := c.String("policy"); path != "" {
		snap, _, err := readPolicy(c.Context, path, nil)
		if err != nil {
			return err
		}
		pol = snap.Policy
	}
	var rules []plan.PullThroughRule
	for _, s := range c.StringSlice("pull-through") {
		r, err := plan.ParsePullThrough(s)
		if err != nil {
			return inputErrorf("--pull-through %q: %v", s, err)
		}
		rules = append(rules, r)
	}
	var limited []string
	for _, h := range c.StringSlice("rate-limited") {
		host, err := policy.ParseUpstream(h)
		if err != nil {
			return inputErrorf("--rate-limited %q: %v", h, err)
		}
		limited = append(limited, host)
	}
	if pol != nil {
		limited = append(limited, pol.RateLimited...)
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
	cfg, err := awsConfig(c.Context)
	if err != nil {
		return err
	}
	// The agent's own view of the registry: the same host, rules and
	// preflight it heals with.
	reg, planCfg, err := accountPlan(c.Context, cfg, pol, registry, rules, c.Bool("discover-rules"), endpoints.Transport(remote.DefaultTransport))
	if err != nil {
		return err
	}
	api := ecs.NewFromConfig(cfg)
	// The agent's own pull check: IAM's simulator with the registry and
	// repository policies, and for an EC2 service without an execution
	// role the agent's lookup of its container instances' role. Without
	// iam:SimulatePrincipalPolicy, the ECR reads or the lookups the answers
	// are "unknown", saying why.
	iamc := iam.NewFromConfig(cfg)
	checkClients := pullcheck.Clients{IAM: iamc, ECR: ecr.NewFromConfig(cfg), ECS: api, EC2: ec2.NewFromConfig(cfg), Profiles: iamc}
	scanCfg := fleet.Config{Plan: planCfg, RateLimited: limited,
		AnonymousLimit: c.Int("anonymous-limit"), AuthenticatedLimit: c.Int("authenticated-limit"), Workers: c.Int("workers"),
		PullCheck: func(ctx context.Context, r pullcheck.Request) pullcheck.Verdict {
			return pullcheck.Check(ctx, checkClients, r)
		},
		InstanceRole: func(ctx context.Context, cluster, containerInstance string) (string, string, error) {
			return pullcheck.InstanceRole(ctx, checkClients, cluster, containerInstance)
		}}
	if c.Bool("inspect") {
		scanCfg.Manifests = manifestCounter(endpoints.Transport(remote.DefaultTransport))
	}
	live := newScanProgress(c.App.ErrWriter)
	if live != nil {
		scanCfg.Progress = live.update
	}
	rep, svcs, revs, err := fleet.Scan(c.Context, api, c.StringSlice("cluster"), scanCfg)
	if err != nil {
		live.finish()
		return reviewError(err)
	}
	var applyErr error
	if mode != "" {
		rep.Applied, applyErr = fleet.Apply(c.Context, api, rep, svcs, revs, fleet.ApplyConfig{Mode: mode, Policy: pol, Preflight: reg.Preflight,
			Batch: c.Int("batch"), BatchInterval: c.Duration("batch-interval"), Workers: c.Int("workers"), Progress: scanCfg.Progress})
	}
	// The line is cleared before the report is printed below it.
	live.finish()
	if applyErr != nil {
		printScan(c, format, rep)
		return fmt.Errorf("apply: %w", applyErr)
	}
	return printScan(c, format, rep)
}

// manifestCounter HEADs an image anonymously: a HEAD is not a counted
// pull. A task pulling an index GETs the index and its platform's
// manifest, each counted; a single manifest is one GET.
func manifestCounter(t http.RoundTripper) func(ctx context.Context, image string) (int, error) {
	return func(ctx context.Context, image string) (int, error) {
		ref, err := name.ParseReference(image)
		if err != nil {
			return 0, err
		}
		desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(t), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
		if err != nil {
			return 0, err
		}
		if desc.MediaType.IsIndex() {
			return 2, nil
		}
		return 1, nil
	}
}

func printScan(c *cli.Context, format string, rep *fleet.Report) error {
	if format == "json" {
		return writeJSON(c.App.Writer, rep)
	}
	return printScanText(c.App.Writer, rep)
}

// printScanText prints the exposed services with their rate-limited
// containers, then the applied changes and the fleet total.
func printScanText(w io.Writer, rep *fleet.Report) error {
	var b strings.Builder
	row := func(format string, args ...any) { b.WriteString(fit(fmt.Sprintf(format, args...), textWidth) + "\n") }
	row("%-44s %-22s %7s %6s %-8s", "SERVICE", "REVISION", "DESIRED", "PULLS", "ECR PULL")
	for _, s := range rep.Services {
		if !s.Exposed() {
			continue
		}
		row("%-44s %-22s %7d %6d %-8s", fit(s.Cluster+"/"+s.Service, 44), fit(shortRevision(s.TaskDefinitionArn), 22), s.DesiredCount, s.Pulls, s.ECRPull)
		for _, ctr := range s.Containers {
			if !ctr.RateLimited {
				continue
			}
			row("  %s: %s", ctr.Name, ctr.Image)
			if ctr.Target != "" {
				row("    %s -> %s", ctr.Route, ctr.Target)
			} else {
				row("    %s: %s", ctr.Route, ctr.Reason)
			}
		}
	}
	clean := rep.Total.Services - rep.Total.ExposedServices
	row("(%d services pull nothing from a rate-limited registry)", clean)
	for _, a := range rep.Applied {
		who := a.Family
		if a.Service != "" {
			who = a.Cluster + "/" + a.Service
		}
		target := shortRevision(a.TaskDefinitionArn)
		if target == "" {
			target = "-"
		}
		row("%-10s %-40s %s %s", a.Action, fit(who, 40), target, a.Reason)
	}
	b.WriteString(wrap(rep.Total.String(), textWidth))
	_, err := io.WriteString(w, b.String())
	return err
}

func shortRevision(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// wrap breaks text into lines of at most n columns at spaces.
func wrap(text string, n int) string {
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(text) {
		if line > 0 && line+1+len(word) > n {
			b.WriteByte('\n')
			line = 0
		}
		if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteByte('\n')
	return b.String()
}
