//go:build !noTestbed

package main

import "github.com/urfave/cli/v2"

// testbedCommands are the commands that link the local test bed (its fake
// credentials and test TLS key). The container image is built with
// -tags noTestbed, which leaves them, and the test bed, out of the binary;
// see docs/image.md.
func testbedCommands() []*cli.Command {
	return []*cli.Command{localCommand(), demoCommand()}
}
