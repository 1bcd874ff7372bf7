package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
)

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "print what pullheal would do with one EventBridge event",
		ArgsUsage: "EVENT.json|-",
		Description: "Reads one EventBridge event (a file, or - for stdin) and prints the agent's decision: heal or\n" +
			"ignore, why, and for each container the failure cause, the route and the rewritten image.\n" +
			"Offline (the default) it calls no AWS API and lists the checks it could not make; without\n" +
			"--registry or a policy registry, the event's account and region name the ECR registry.\n" +
			"With --discover it reads what the agent reads (the task again when a reason was cut, the task\n" +
			"definition with its tags, the registry and its pull-through cache rules) through the SDK's\n" +
			"standard configuration, and gives the agent's answer exactly.",
		Flags: append(routingFlags(),
			outputFlag(),
			&cli.BoolFlag{Name: "discover", Usage: "read the task definition and the account's registry and pull-through rules from AWS, as the agent does"},
		),
		Action: explainAction,
	}
}

// Explanation is explain's JSON output. Action, Reason, TaskDefinitionArn
// and Containers are a stable contract that scripts rely on (docs/commands.md).
type Explanation struct {
	Action            string             `json:"action"`
	Reason            string             `json:"reason"`
	TaskDefinitionArn string             `json:"taskDefinitionArn"`
	Containers        []ContainerOutcome `json:"containers"`
	// Verdict refines "ignore": ignore (not a rate-limited pull), skip
	// (pullheal must not or cannot move it) or refuse (a corrected
	// revision would fail the same way); "heal" otherwise.
	Verdict string `json:"verdict"`
	// Unchecked lists the checks the decision could not make, one
	// sentence each; empty with --discover unless the task was gone.
	Unchecked []string `json:"unchecked"`
}

// ContainerOutcome is one container's line of an Explanation.
type ContainerOutcome struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	Cause  string `json:"cause"`
	Route  string `json:"route"`
	Target string `json:"target"`
	// Selected: the heal covers this container (its pull was rate-limited,
	// or the policy's heal.containers is all-docker-hub).
	Selected bool `json:"selected"`
	// Why is the classifier's and the route's explanation.
	Why string `json:"why,omitempty"`
}

func explainAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() != 1 {
		return inputErrorf("explain takes one event file (or - for stdin), got %d arguments", c.NArg())
	}
	data, name, err := readInput(c.Args().First(), c.App.Reader)
	if err != nil {
		return err
	}
	ev, err := ecsevent.Parse(data)
	if err != nil {
		return inputFileError(name, err)
	}
	var p plan.Plan
	if c.Bool("discover") {
		p, err = discoverPlan(c, ev)
	} else {
		var cfg plan.Config
		cfg, err = routing(c, ecrRegistry(ev.Account, ev.Region))
		p = plan.Decide(plan.Input{Event: ev, Config: cfg})
	}
	if err != nil {
		return err
	}
	ex := explanation(p)
	if format == "json" {
		return writeJSON(c.App.Writer, ex)
	}
	writeExplanation(c.App.Writer, ex)
	return nil
}

// discoverPlan asks the agent's own healer for its decision: the same
// reads, the same configuration from the same flags.
func discoverPlan(c *cli.Context, ev *ecsevent.Event) (plan.Plan, error) {
	o, err := healerOptions(c, true)
	if err != nil {
		return plan.Plan{}, err
	}
	awsCfg, err := loadAWSConfig(c.Context)
	if err != nil {
		return plan.Plan{}, err
	}
	if awsCfg.Region == "" {
		return plan.Plan{}, inputErrorf("--discover needs an AWS region: set AWS_REGION")
	}
	o.DiscoverRules, o.DryRun = true, true
	h, err := agent.NewHealerFromConfig(awsCfg, o)
	if err != nil {
		return plan.Plan{}, err
	}
	p, err := h.Decide(c.Context, ev)
	if err != nil {
		return plan.Plan{}, fmt.Errorf("discover: %w", err)
	}
	return p, nil
}

// explanation prints a plan in the contract's terms.
func explanation(p plan.Plan) Explanation {
	ex := Explanation{Action: "ignore", Verdict: string(p.Verdict), Reason: p.Reason, Containers: []ContainerOutcome{}, Unchecked: p.Unchecked}
	if p.Verdict == plan.Heal {
		ex.Action = "heal"
	}
	if ex.Unchecked == nil {
		ex.Unchecked = []string{}
	}
	if p.Task != nil {
		ex.TaskDefinitionArn = p.Task.TaskDefinitionArn
	}
	for _, c := range p.Containers {
		out := ContainerOutcome{Name: c.Name, Image: c.Image, Cause: string(c.Cause), Route: string(c.Step.Route), Target: c.Step.Target, Selected: c.Selected, Why: c.Explanation}
		if c.Selected && c.Step.Reason != "" {
			out.Why = joinNonEmpty(out.Why, c.Step.Reason)
		}
		ex.Containers = append(ex.Containers, out)
	}
	return ex
}

func writeExplanation(w io.Writer, ex Explanation) {
	fmt.Fprintf(w, "action: %s\nreason: %s\n", ex.Action, ex.Reason)
	if ex.TaskDefinitionArn != "" {
		fmt.Fprintf(w, "task definition: %s\n", ex.TaskDefinitionArn)
	}
	for _, c := range ex.Containers {
		fmt.Fprintf(w, "container %s\n  image:  %s\n  cause:  %s\n  route:  %s\n", c.Name, c.Image, c.Cause, c.Route)
		if c.Target != "" {
			fmt.Fprintf(w, "  target: %s\n", c.Target)
		}
		if c.Why != "" {
			fmt.Fprintf(w, "  why:    %s\n", c.Why)
		}
	}
	if len(ex.Unchecked) > 0 {
		fmt.Fprintln(w, "not checked:")
		for _, u := range ex.Unchecked {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
