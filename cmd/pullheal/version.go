package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/buildinfo"
)

// versionFlag is the global --version. It has no environment twin: a
// variable that turned every command into "print the version" would only
// surprise.
func versionFlag() cli.Flag {
	return &cli.BoolFlag{Name: "version", Usage: "print the version, commit and Go version, and exit"}
}

// rootAction runs when no command is given: --version, or the help.
func rootAction(c *cli.Context) error {
	if c.Bool("version") {
		printVersion(c.App.Writer)
		return nil
	}
	if c.NArg() > 0 {
		return inputErrorf("unknown command %q (see pullheal --help)", c.Args().First())
	}
	return cli.ShowAppHelp(c)
}

func printVersion(w io.Writer) {
	bi := buildinfo.Get()
	fmt.Fprintf(w, "pullheal %s\ncommit: %s\ngo: %s %s\n", bi.Version, bi.Commit, bi.GoVersion, bi.Platform)
}
