package main

import "github.com/urfave/cli/v2"

func commands() []*cli.Command {
	return []*cli.Command{
		explainCommand(),
		rewriteCommand(),
		policyCommand(),
		agentCommand(),
		localCommand(),
		demoCommand(),
		mirrorCommand(),
		syncCommand(),
		revisionsCommand(),
		approveCommand(),
		revertCommand(),
		scanCommand(),
	}
}
