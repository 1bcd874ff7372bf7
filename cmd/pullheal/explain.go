package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "print what pullheal would do with one EventBridge event, without calling AWS",
		ArgsUsage: "EVENT.json|-",
		Description: "Reads one EventBridge event (a file, or - for stdin) and prints the decision: heal or ignore, why,\n" +
			"and for each container the failure cause, the route and the rewritten image. Without --registry\n" +
			"or a policy registry, the event's account and region name the ECR registry.",
		Flags: append(routingFlags(),
			&cli.StringFlag{Name: "output", Value: "text", Usage: "output `FORMAT`: json or text"},
		),
		Action: explainAction,
	}
}

// Explanation is explain's JSON output; its field names are a stable
// contract that scripts rely on.
type Explanation struct {
	Action            string             `json:"action"`
	Reason            string             `json:"reason"`
	TaskDefinitionArn string             `json:"taskDefinitionArn"`
	Containers        []ContainerOutcome `json:"containers"`
	// why holds each container's explanation for the text output.
	why []string
}

// ContainerOutcome is one container's line of an Explanation.
type ContainerOutcome struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	Cause  string `json:"cause"`
	Route  string `json:"route"`
	Target string `json:"target"`
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
	cfg, err := routing(c, ecrRegistry(ev.Account, ev.Region))
	if err != nil {
		return err
	}
	ex := explain(ev, cfg)
	if format == "json" {
		return writeJSON(c.App.Writer, ex)
	}
	writeExplanation(c.App.Writer, ex)
	return nil
}

// explain decides for one event as the agent would, offline.
func explain(ev *ecsevent.Event, cfg plan.Config) Explanation {
	ex := Explanation{Action: "ignore", Containers: []ContainerOutcome{}}
	if ev.Task == nil {
		ex.Reason = fmt.Sprintf("not an ECS task state change (source %q, detail-type %q)", ev.Source, ev.DetailType)
		return ex
	}
	task := ev.Task
	ex.TaskDefinitionArn = task.TaskDefinitionArn
	family, _, _ := ecsarn.TaskDefinition(task.TaskDefinitionArn)
	subj := policy.Subject{Cluster: ecsarn.Name(task.ClusterArn), Family: family}
	if svc, ok := task.Service(); ok {
		subj.Service = svc
	}
	var healed, denied, other []string
	limited := 0
	for _, f := range ecsevent.Classify(task) {
		out := ContainerOutcome{Name: f.Container, Image: f.Image, Cause: string(f.Cause), Route: string(plan.None)}
		why := f.Explanation
		if f.Cause == ecsevent.RateLimit {
			limited++
			step := plan.For(cfg, f.Image, subj)
			out.Route, out.Target = string(step.Route), step.Target
			if step.Reason != "" {
				why += "; " + step.Reason
			}
			switch step.Route {
			case plan.PullThrough, plan.Mirror:
				healed = append(healed, fmt.Sprintf("%s -> %s (%s)", f.Container, step.Target, step.Route))
			default:
				denied = append(denied, fmt.Sprintf("%s: %s", f.Container, nonEmpty(step.Reason, "no route")))
			}
		} else if f.Cause == ecsevent.OtherFailure {
			other = append(other, fmt.Sprintf("%s: %s", f.Container, nonEmpty(f.Explanation, "not a rate limit")))
		}
		ex.Containers = append(ex.Containers, out)
		ex.why = append(ex.why, why)
	}
	if cfg.Policy != nil {
		if ok, why := cfg.Policy.InScope(subj); !ok && len(healed) > 0 {
			ex.Reason = "out of the policy's scope: " + why
			return ex
		}
	}
	switch {
	case !task.Stopped():
		ex.Reason = fmt.Sprintf("task is %s, not STOPPED", nonEmpty(task.LastStatus, "without a status"))
	case len(healed) > 0:
		ex.Action = "heal"
		ex.Reason = "rate-limited pull: " + strings.Join(healed, "; ")
		if len(denied) > 0 {
			ex.Reason += "; left alone: " + strings.Join(denied, "; ")
		}
	case limited > 0:
		ex.Reason = "rate-limited, but no image has a route to ECR: " + strings.Join(denied, "; ")
	case len(other) > 0:
		ex.Reason = "the task stopped for a reason that is not a rate limit: " + strings.Join(other, "; ")
	default:
		ex.Reason = "no container failed to pull its image"
	}
	return ex
}

func writeExplanation(w io.Writer, ex Explanation) {
	fmt.Fprintf(w, "action: %s\nreason: %s\n", ex.Action, ex.Reason)
	if ex.TaskDefinitionArn != "" {
		fmt.Fprintf(w, "task definition: %s\n", ex.TaskDefinitionArn)
	}
	for i, c := range ex.Containers {
		fmt.Fprintf(w, "container %s\n  image:  %s\n  cause:  %s\n  route:  %s\n", c.Name, c.Image, c.Cause, c.Route)
		if c.Target != "" {
			fmt.Fprintf(w, "  target: %s\n", c.Target)
		}
		if ex.why[i] != "" {
			fmt.Fprintf(w, "  why:    %s\n", ex.why[i])
		}
	}
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
