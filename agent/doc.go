// Package agent is pullheal's long-running handler: it long-polls the SQS
// queue that EventBridge fills with ECS task-state changes, heals tasks that
// stopped because an image pull hit a registry's rate limit, and decides in
// one place what happens to each message.
//
// Where things are:
//
//   - What to do with an event is not decided here: plan.Decide
//     (internal/plan/decide.go) is the one decision, shared with
//     pullheal explain and rewrite. docs/decision.md explains it.
//   - agent.go: the poll loop and settle, the ack rule (delete, leave for
//     redelivery with a backoff, or release at shutdown).
//   - intake.go: one message: parse, triage, count.
//   - decide.go: reading plan.Decide's inputs from AWS (the task again when
//     a reason was cut, the failing revision with its tags, the registry
//     and its pull-through rules); Healer.Decide is what explain
//     --discover prints.
//   - dedupe.go: one heal per failure in this process (singleflight and a
//     bounded memory of finished heals).
//   - heal.go: executing a plan: the planned targets, and preflight or
//     mirror each image once the lease is held.
//   - register.go: the images moved and the corrected revision registered
//     under a lease (lease.go) that coordinates replicas: renewed while the
//     heal runs, waited for by the replicas that find it held.
//   - rollout.go: moving the service onto it, or proposing.
//   - rollback.go: a generated revision whose tasks cannot pull from ECR:
//     the service back to the source revision, the revision marked so that
//     it is not rolled out again without a person.
//   - review.go: the review event; ecr.go: the account's registry; setup.go:
//     building it all from an aws.Config.
//
// Unit tests run each branch on the behaviour fakes in agent/fake; the
// scenario and storm tests run it on the local test bed.
package agent
