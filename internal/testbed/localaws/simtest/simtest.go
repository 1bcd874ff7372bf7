// Package simtest serves the local AWS stand-ins on loopback for tests and
// points the real aws-sdk-go-v2 clients at them, so that each stand-in's
// tests exercise the wire protocol exactly as pullheal's code does.
package simtest

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Serve mounts the services on one wire.Mux behind an httptest server on
// loopback, closed when the test ends, and returns the server's URL.
func Serve(t testing.TB, services ...wire.Service) string {
	t.Helper()
	srv := httptest.NewServer(wire.NewMux(services...))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Config returns the aws.Config of a client that sends every request to
// endpoint, in us-east-1, with static credentials: the stand-ins do not
// check signatures, but the SDK will not sign without credentials.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}
