// Package bedtest starts the local test bed for a test: the servers, the
// SDK clients pointed at them, and a scenario set up in them.
package bedtest

import (
	"context"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// Start starts a test bed configured by cfg, stopped when the test ends,
// and sets up o's scenario in it; a failure to do either fails the test.
func Start(tb testing.TB, ctx context.Context, cfg localaws.Config, o scenario.Options) (*localaws.Server, scenario.Clients, *scenario.Scenario) {
	tb.Helper()
	srv, err := localaws.Start(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	c := scenario.NewClients(srv.AWSConfig())
	sc, err := scenario.Setup(ctx, c, o)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c, sc
}
