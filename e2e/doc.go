//go:build e2e

// Package e2e tests the built pullheal binary end to end: each test runs
// `pullheal local` (the AWS stand-ins and the Docker-Hub-like registry) and
// one or more `pullheal agent` processes, drives them through the AWS SDK
// and the hub's controls, and checks what a platform team would check in a
// real account: revisions, service deployments, review events, queue
// depths and the agents' metrics.
//
// Run it with `make e2e`. The tests use ../bin/pullheal, or build the
// binary once when it is missing; PULLHEAL_E2E_BINARY names another one.
package e2e
