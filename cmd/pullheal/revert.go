package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/agent"
)

func revertCommand() *cli.Command {
	return &cli.Command{
		Name:  "revert",
		Usage: "roll a service back from a revision pullheal generated to its source revision",
		Description: "Only if the service still runs the generated revision. Tags it " + agent.TagReverted + ": the agent then\n" +
			"proposes it instead of rolling it out again, until the tag is removed (or the revision approved).\n" +
			"Exits 1 when a guard refuses, 2 for bad input.",
		Flags:  reviewActionFlags(),
		Action: revertAction,
	}
}

func revertAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return inputErrorf("revert takes no arguments, got %q", c.Args().First())
	}
	if c.String("cluster") == "" || c.String("service") == "" {
		return inputErrorf("--cluster and --service are required")
	}
	actor, err := newActor(c)
	if err != nil {
		return err
	}
	ev, err := actor.Revert(c.Context, c.String("cluster"), c.String("service"))
	if err != nil {
		return reviewError(err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "reverted: %s/%s rolls back onto %s from %s, now tagged %s\n",
		ev.Cluster, ev.Service, ev.DeployedTaskDefinitionArn, ev.TaskDefinitionArn, agent.TagReverted)
	return err
}
