//go:build !noTestbed

package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/testbed/hubsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
)

func localCommand() *cli.Command {
	return &cli.Command{
		Name:  "local",
		Usage: "run the local test bed (AWS stand-ins and a Docker-Hub-like registry) as a server",
		Description: "Prints the environment lines that point the AWS SDK and CLI, and pullheal, at it, closes\n" +
			"stdout (so `. <(pullheal local 2>bed.log)` works), then serves until interrupted. With --state,\n" +
			"everything survives a restart. The AWS CLI v1's sqs commands ignore AWS_ENDPOINT_URL in\n" +
			"us-east-1: pass --endpoint-url \"$AWS_ENDPOINT_URL\".",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4566", Usage: "`ADDRESS` of the AWS APIs (AWS_ENDPOINT_URL)"},
			&cli.StringFlag{Name: "registry-listen", Value: "127.0.0.1:4567", Usage: "`ADDRESS` of the ECR registry"},
			&cli.StringFlag{Name: "hub-listen", Value: "127.0.0.1:4568", Usage: "`ADDRESS` of the Docker-Hub-like registry"},
			&cli.StringFlag{Name: "state", Usage: "`DIR` that keeps the state across restarts"},
			&cli.DurationFlag{Name: "tick", Value: 500 * time.Millisecond, Usage: "how often the simulated ECS scheduler runs"},
			&cli.DurationFlag{Name: "restart-delay", Value: 2 * time.Second, Usage: "delay before ECS relaunches a service task that failed to start"},
			&cli.IntFlag{Name: "hub-limit", Value: hubsim.DefaultAnonymousLimit, Usage: "anonymous manifest GETs per window on the hub"},
			&cli.IntFlag{Name: "hub-auth-limit", Value: hubsim.DefaultAuthenticatedLimit, Usage: "authenticated manifest GETs per window on the hub"},
			&cli.DurationFlag{Name: "hub-window", Value: hubsim.DefaultWindow, Usage: "the hub's rate-limit window"},
			logLevelFlag(),
		},
		Action: localAction,
	}
}

func localAction(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if err := checkLocalFlags(c); err != nil {
		return err
	}
	srv, err := localaws.Start(c.Context, localaws.Config{
		APIAddr: c.String("listen"), RegistryAddr: c.String("registry-listen"), HubAddr: c.String("hub-listen"),
		StateDir: c.String("state"), Tick: c.Duration("tick"), RestartDelay: c.Duration("restart-delay"),
		Hub: hubsim.Config{
			AnonymousLimit: c.Int("hub-limit"), AuthenticatedLimit: c.Int("hub-auth-limit"), Window: c.Duration("hub-window"),
		},
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("start the test bed: %w", err)
	}
	for _, line := range srv.Env() {
		fmt.Fprintf(c.App.Writer, "export %s\n", line)
	}
	// Nothing else goes to stdout (logs go to stderr): closing it ends the
	// output, so `. <(pullheal local)` returns once the lines are read
	// instead of waiting for the server to exit.
	if f, ok := c.App.Writer.(*os.File); ok {
		_ = f.Close()
	}
	log.Info("test bed ready", "api", srv.APIURL(), "hub", srv.HubURL(), "registry", srv.RegistryHost())
	<-c.Context.Done()
	log.Info("stopping the test bed")
	return srv.Close()
}

// checkLocalFlags refuses what the test bed cannot start with, naming the
// flag, before anything listens or is written. The test bed reads a zero
// limit, window or delay as its default: a zero is refused rather than
// silently replaced.
func checkLocalFlags(c *cli.Context) error {
	for _, f := range []string{"tick", "restart-delay", "hub-window"} {
		if d := c.Duration(f); d <= 0 {
			return inputErrorf("--%s %s: must be positive", f, d)
		}
	}
	for _, f := range []string{"hub-limit", "hub-auth-limit"} {
		if n := c.Int(f); n < 1 {
			return inputErrorf("--%s %d: must be at least 1 (POST /_hubsim/exhaust uses the budget up)", f, n)
		}
	}
	seen := map[string]string{}
	for _, f := range []string{"listen", "registry-listen", "hub-listen"} {
		addr := c.String(f)
		if err := checkListenAddress(f, addr); err != nil {
			return err
		}
		if _, port, _ := net.SplitHostPort(addr); port != "0" && port != "" {
			if other, ok := seen[addr]; ok {
				return inputErrorf("--%s %s: the address of --%s too; each server needs its own", f, addr, other)
			}
			seen[addr] = f
		}
	}
	if dir := c.String("state"); dir != "" {
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			return inputErrorf("--state %s: not a directory", dir)
		} else if err != nil && !os.IsNotExist(err) {
			return inputErrorf("--state %s: %v", dir, unwrapPathError(err))
		}
	}
	return nil
}
