package main

import "github.com/urfave/cli/v2"

func commands() []*cli.Command {
	cmds := []*cli.Command{
		explainCommand(),
		rewriteCommand(),
		policyCommand(),
		agentCommand(),
	}
	// local and demo run the test bed; the image's binary is built without
	// them (commands_testbed.go).
	cmds = append(cmds, testbedCommands()...)
	return append(cmds,
		mirrorCommand(),
		syncCommand(),
		revisionsCommand(),
		approveCommand(),
		revertCommand(),
		scanCommand(),
		healthcheckCommand(),
	)
}
