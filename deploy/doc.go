// Package deploy holds pullheal's deployment artefacts and the tests that
// keep them honest without an AWS account or a terraform binary:
//
//   - iam/agent-policy.json, the agent task role's least-privilege policy,
//     a template whose ${Name} placeholders (the syntax of CloudFormation's
//     Fn::Sub and Terraform's templatefile) iam/README.md lists;
//   - cloudformation/pullheal.yaml, a stack with the EventBridge rule, the
//     SQS queue and its dead-letter queue, the DynamoDB lease table, the
//     roles, the agent's task definition and service, and the Docker Hub
//     pull-through cache rule with its repository creation template;
//   - terraform/, a module equivalent to the stack, which renders
//     iam/agent-policy.json itself with templatefile;
//   - ../task-definition.json, the agent's task definition as a
//     RegisterTaskDefinition input, for deployments by other means.
//
// The tests check that every AWS call the agent's and the mirror's narrow
// interfaces declare is allowed by the policy and that nothing else is,
// that the stack and the module carry the event pattern from the project's
// facts, an SSE-SQS queue with a redrive policy, a lease table keyed and
// expired the way the agent expects, a stop timeout longer than the agent's
// shutdown grace, and environment variables that name real agent flags.
// The package has no Go API.
package deploy
