# Values the mocked AWS provider gives computed attributes, shared by the
# module's tests and the examples'. The provider validates ARNs it is handed
# (a role ARN in a task definition, a queue ARN in a rule target), so the
# mocked ones are well-formed.

mock_data "aws_partition" {
  defaults = { partition = "aws" }
}

mock_data "aws_region" {
  defaults = { id = "eu-west-1", name = "eu-west-1" }
}

mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012" }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mocked"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked"
  }
}

mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/mocked" }
}

mock_resource "aws_ecs_task_definition" {
  defaults = {
    arn                  = "arn:aws:ecs:eu-west-1:123456789012:task-definition/mocked:1"
    arn_without_revision = "arn:aws:ecs:eu-west-1:123456789012:task-definition/mocked"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/mocked-AbCdEf" }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked" }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = { arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mocked" }
}

mock_resource "aws_scheduler_schedule" {
  defaults = { arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/mocked" }
}
