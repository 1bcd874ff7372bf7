package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
	"github.com/pullheal/pullheal/policy"
)

func rewriteCommand() *cli.Command {
	return &cli.Command{
		Name:      "rewrite",
		Usage:     "rewrite a task definition's images to ECR, keeping every other field",
		ArgsUsage: "TASKDEF.json|-",
		Description: "Reads DescribeTaskDefinition output (with its tags), its taskDefinition member alone, or a\n" +
			"RegisterTaskDefinition input, and prints a RegisterTaskDefinition input (--cli-input-json shape)\n" +
			"in which every image with a route is rewritten. Without --registry or a policy registry, the\n" +
			"account and region of the task definition's ARN name the ECR registry. With --discover (for CI),\n" +
			"the caller's AWS account names it and its pull-through cache rules are added, as the agent reads them.",
		Flags: append(routingFlags(),
			&cli.BoolFlag{Name: "discover", Usage: "read the ECR registry and the account's pull-through cache rules from AWS, as the agent does"},
			&cli.StringSliceFlag{Name: "container", Usage: "rewrite only the container `NAME`; repeatable"},
			&cli.BoolFlag{Name: "diff", Usage: "print what changed instead of the task definition"},
		),
		Action: rewriteAction,
	}
}

func rewriteAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return inputErrorf("rewrite takes one task definition file (or - for stdin), got %d arguments", c.NArg())
	}
	data, name, err := readInput(c.Args().First(), c.App.Reader)
	if err != nil {
		return err
	}
	doc, err := taskdef.Decode(data)
	if err == nil {
		err = doc.CheckTypes()
	}
	if err != nil {
		return inputFileError(name, err)
	}
	var cfg plan.Config
	if c.Bool("discover") {
		cfg, err = discoverRouting(c)
	} else {
		account, region, _ := ecsarn.AccountRegion(doc.SourceArn())
		cfg, err = routing(c, ecrRegistry(account, region))
	}
	if err != nil {
		return err
	}
	out, err := rewrite(doc, cfg, c.StringSlice("container"))
	if err != nil {
		return inputFileError(name, err)
	}
	if c.Bool("diff") {
		d := taskdef.Diff(doc, out)
		if d == "" {
			d = "no change: no container image has a route to ECR\n"
		}
		_, err := fmt.Fprint(c.App.Writer, d)
		return err
	}
	b, err := out.Encode()
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, err = c.App.Writer.Write(b)
	return err
}

// discoverRouting is routing with the account's registry and pull-through
// cache rules read from AWS, so that a CI job decides as the agent does
// without naming them.
func discoverRouting(c *cli.Context) (plan.Config, error) {
	pol, err := policyFromFlag(c)
	if err != nil {
		return plan.Config{}, err
	}
	registry, err := registryFromFlag(c)
	if err != nil {
		return plan.Config{}, err
	}
	rules, err := pullThroughFromFlag(c)
	if err != nil {
		return plan.Config{}, err
	}
	awsCfg, err := awsConfig(c.Context)
	if err != nil {
		return plan.Config{}, err
	}
	_, cfg, err := accountPlan(c.Context, awsCfg, pol, registry, rules, true, http.DefaultTransport)
	return cfg, err
}

// rewrite routes every selected container's image and returns the
// corrected document with provenance tags, or doc itself when nothing
// changes.
func rewrite(doc *taskdef.Document, cfg plan.Config, only []string) (*taskdef.Document, error) {
	selected := map[string]bool{}
	for _, n := range only {
		selected[n] = true
	}
	subj := policy.Subject{Family: doc.Family()}
	images := map[string]string{}
	for _, ctr := range doc.Containers() {
		if len(selected) > 0 && !selected[ctr.Name] {
			continue
		}
		delete(selected, ctr.Name)
		step := plan.For(cfg, ctr.Image, subj)
		if step.Route == plan.PullThrough || step.Route == plan.Mirror {
			images[ctr.Name] = step.Target
		}
	}
	if len(selected) > 0 {
		missing := make([]string, 0, len(selected))
		for n := range selected {
			missing = append(missing, n)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("--container %s: no such container in family %q", strings.Join(missing, ", "), doc.Family())
	}
	if len(images) == 0 {
		return doc, nil
	}
	out, err := doc.WithImages(images)
	if err != nil {
		return nil, err
	}
	source := doc.SourceArn()
	if source == "" {
		source = doc.Family()
	}
	prov := taskdef.Provenance{
		SourceArn:  source,
		RewriteID:  taskdef.RewriteID(source, images),
		Generation: taskdef.GenerationOf(doc.Tags()) + 1,
		Reason:     "rewrite: images moved to ECR",
	}
	// Every user tag is kept; provenance takes what room ECS's 50 leave.
	out, _ = out.WithProvenance(prov)
	if err := out.CheckSize(); err != nil {
		return nil, err
	}
	return out, nil
}
