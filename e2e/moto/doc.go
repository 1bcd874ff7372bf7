//go:build e2emoto

// Package moto checks the built pullheal agent against peers that this
// project did not write: moto_server (moto 5.2, an AWS emulator) answers
// ECS, ECR, SQS, EventBridge and DynamoDB, and Debian's stock
// docker-registry holds the images an ECR pull-through cache would serve.
// The agent runs as a separate process, configured only through the SDK's
// standard environment (AWS_ENDPOINT_URL, AWS_REGION, credentials) and
// pullheal's flags and their PULLHEAL_* environment twins.
//
// moto has no scheduler that pulls images, so the tests put the ECS
// task-state-change events into the queue themselves, in the envelope an
// EventBridge rule delivers; moto has no registry and no pull-through cache
// rules, so the policy declares the rule and PULLHEAL_REGISTRY_ENDPOINTS
// sends the ECR host that moto's authorization token names to the
// docker-registry. docs/moto.md lists where moto and AWS differ.
//
// Run it with `make e2e-moto`. It fails, never skips, when moto_server or
// docker-registry is missing.
package moto
