package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/review"
)

// reviewActionFlags are the flags approve and revert share.
func reviewActionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cluster", Usage: "the service's cluster `NAME` (required)"},
		&cli.StringFlag{Name: "service", Usage: "the service `NAME` (required)"},
		&cli.StringFlag{Name: "review-bus", Usage: "EventBridge bus `NAME` for the review event (default bus when empty), as the agent's"},
	}
}

func approveCommand() *cli.Command {
	return &cli.Command{
		Name:      "approve",
		Usage:     "deploy a revision pullheal proposed, if the service still runs the revision it was generated from",
		ArgsUsage: "[REVISION]",
		Description: "REVISION is an ARN or FAMILY:REVISION of a generated revision; without it, the newest one\n" +
			"generated from the revision the service runs. Exits 1 when a guard refuses, 2 for bad input.",
		Flags:  reviewActionFlags(),
		Action: approveAction,
	}
}

func approveAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return inputErrorf("approve takes at most one REVISION, got %d arguments", c.NArg())
	}
	if c.String("cluster") == "" || c.String("service") == "" {
		return inputErrorf("--cluster and --service are required")
	}
	actor, err := newActor(c)
	if err != nil {
		return err
	}
	ev, err := actor.Approve(c.Context, c.String("cluster"), c.String("service"), c.Args().First())
	if err != nil {
		return reviewError(err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "approved: %s/%s rolls onto %s (from %s)\n", ev.Cluster, ev.Service, ev.TaskDefinitionArn, ev.SourceTaskDefinitionArn)
	return err
}

func newActor(c *cli.Context) (*review.Actor, error) {
	cfg, err := awsConfig(c.Context)
	if err != nil {
		return nil, err
	}
	return &review.Actor{ECS: ecs.NewFromConfig(cfg), Events: eventbridge.NewFromConfig(cfg), Bus: c.String("review-bus"),
		Lister: pullThroughRules(c.Context, cfg)}, nil
}
