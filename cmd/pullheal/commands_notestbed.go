//go:build noTestbed

package main

import "github.com/urfave/cli/v2"

// testbedCommands is empty in the image's build: see commands_testbed.go.
func testbedCommands() []*cli.Command { return nil }
