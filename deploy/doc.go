// Package deploy holds pullheal's deployment artefacts and the tests that
// keep them honest without an AWS account:
//
//   - iam/agent-policy.json and iam/sync-policy.json, the least-privilege
//     policies of the agent's and the scheduled sync's task roles, templates
//     whose ${Name} placeholders (the syntax of CloudFormation's Fn::Sub and
//     Terraform's templatefile) iam/README.md lists;
//   - cloudformation/pullheal.yaml, a stack with the EventBridge rule, the
//     SQS queue and its dead-letter queue, the DynamoDB lease table, the
//     policy's SSM parameter, the roles, the agent's task definition and
//     service, alarms, the Docker Hub pull-through cache rule with its
//     repository creation template, the registry permissions policy and an
//     optional scheduled sync;
//   - terraform/, a self-contained module creating the same and more (the
//     policy in S3 or under KMS, the Docker Hub secret, a containers map of
//     images to mirror), with examples and terraform tests that run offline
//     against a mocked provider (check.sh, `make infra`);
//   - ../task-definition.json, the agent's task definition as a
//     RegisterTaskDefinition input, for deployments by other means.
//
// The Go tests check that every AWS call the agent's and the mirror's narrow
// interfaces declare is allowed by the policies and that nothing else is,
// that the stack, the module and the task definition agree (event pattern,
// queue, lease table, environment, stop timeout, health check, parameters
// and outputs), that the module's copies of the policies are the files
// here, that the policies the module generates load with pullheal's policy
// parser, and that the READMEs name every input. The package has no Go API.
package deploy
