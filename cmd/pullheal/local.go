//go:build !noTestbed

package main

import (
	"fmt"
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
	if c.Duration("tick") <= 0 {
		return inputErrorf("--tick must be positive, got %s", c.Duration("tick"))
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
