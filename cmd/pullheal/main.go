// Command pullheal keeps Amazon ECS services running when a public registry
// rate-limits their image pulls. See the README for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes. Scripts rely on them (docs/commands.md).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed (AWS unreachable, copy failed, ...)
	exitInput   = 2 // unreadable or invalid input, bad flags
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code. Every error ends
// as one line on stderr: scripts and people read the first line only.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ie *inputError
	code := exitFailure
	if errors.As(err, &ie) {
		code = exitInput
	}
	fmt.Fprintf(stderr, "pullheal: %s\n", oneLine(err.Error()))
	return code
}

// inputError marks an error in what the user gave us: a file, a flag, an
// argument. It exits with code 2.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func inputErrorf(format string, args ...any) error {
	return &inputError{err: fmt.Errorf(format, args...)}
}

func asInputError(err error) error {
	if err == nil {
		return nil
	}
	return &inputError{err: err}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		rest := strings.Count(s[i:], "\n")
		return s[:i] + fmt.Sprintf(" (and %d more lines)", rest)
	}
	return s
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "pullheal",
		Usage:                "heal ECS services whose image pulls hit a registry's rate limit",
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideVersion:          true,
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return asInputError(err)
		},
		Flags:    []cli.Flag{versionFlag()},
		Action:   rootAction,
		Commands: commands(),
	}
	for _, c := range app.Commands {
		prepare(c)
	}
	return app
}

// prepare gives every flag its environment twin PULLHEAL_<FLAG> and makes
// usage errors exit 2, for a command and its subcommands.
func prepare(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return asInputError(err) }
	for _, f := range c.Flags {
		setEnvTwin(f)
	}
	for _, sub := range c.Subcommands {
		prepare(sub)
	}
}

func envName(flag string) string {
	return "PULLHEAL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func setEnvTwin(f cli.Flag) {
	name := f.Names()[0]
	env := []string{envName(name)}
	switch f := f.(type) {
	case *cli.StringFlag:
		f.EnvVars = env
	case *cli.StringSliceFlag:
		f.EnvVars = env
	case *cli.BoolFlag:
		f.EnvVars = env
	case *cli.IntFlag:
		f.EnvVars = env
	case *cli.DurationFlag:
		f.EnvVars = env
	case *cli.Float64Flag:
		f.EnvVars = env
	case *cli.PathFlag:
		f.EnvVars = env
	default:
		panic(fmt.Sprintf("flag --%s: no environment twin for %T", name, f))
	}
}
