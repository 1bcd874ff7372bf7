output "queue_url" {
  description = "URL of the queue the agent reads (PULLHEAL_QUEUE_URL)."
  value       = aws_sqs_queue.events.url
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue; alarm on its depth."
  value       = aws_sqs_queue.dlq.url
}

output "rule_arn" {
  description = "ARN of the EventBridge rule that feeds the queue."
  value       = aws_cloudwatch_event_rule.stopped_tasks.arn
}

output "lease_table_name" {
  description = "DynamoDB lease table (PULLHEAL_LOCK_TABLE)."
  value       = aws_dynamodb_table.leases.name
}

output "task_role_arn" {
  description = "The agent's task role."
  value       = aws_iam_role.task.arn
}

output "service_name" {
  description = "The agent's ECS service."
  value       = aws_ecs_service.agent.name
}

output "execution_role_arn" {
  description = "The execution role of the agent's and the sync's tasks (pulls the pullheal image, writes logs)."
  value       = aws_iam_role.execution.arn
}

output "task_definition_arn" {
  description = "The agent's task definition revision."
  value       = aws_ecs_task_definition.agent.arn
}

output "policy_location" {
  description = "Where the agent and the sync read the policy (PULLHEAL_POLICY): ssm:NAME or s3://BUCKET/KEY."
  value       = local.policy_location
}

output "policy" {
  description = "The policy YAML the deployment stored: the given policy (with the containers' rules added) or the generated one."
  value       = local.policy_text
}

output "pull_through_prefixes" {
  description = "Pull-through cache prefixes the agent may pull through (and the registry policy opens to the account)."
  value       = local.pull_through_prefixes
}

output "mirror_prefix" {
  description = "ECR repository prefix of mirrored images the roles may write."
  value       = local.mirror_prefix
}

output "dockerhub_secret_arn" {
  description = "The Docker Hub credential secret in use (given or created); null without one."
  value       = local.with_hub ? local.dockerhub_secret_arn : null
}

output "sync_schedule_arn" {
  description = "The EventBridge Scheduler schedule running pullheal sync; null without sync_schedule."
  value       = one(aws_scheduler_schedule.sync[*].arn)
}

output "sync_task_definition_arn" {
  description = "The sync's task definition (run it by hand with aws ecs run-task); null without sync_schedule."
  value       = one(aws_ecs_task_definition.sync[*].arn)
}

output "sync_log_group_name" {
  description = "The sync's log group; null without sync_schedule."
  value       = one(aws_cloudwatch_log_group.sync[*].name)
}

output "alarm_arns" {
  description = "The module's alarms: dead letters, agent below desired count, and (with a schedule) sync failed and sync stopped."
  value = compact([
    aws_cloudwatch_metric_alarm.dlq_depth.arn,
    aws_cloudwatch_metric_alarm.agent_running.arn,
    one(aws_cloudwatch_metric_alarm.sync_failed[*].arn),
    one(aws_cloudwatch_metric_alarm.sync_stopped[*].arn),
  ])
}

output "agent_role_policy" {
  description = "The agent task role's policy document (JSON), for review."
  value       = jsonencode(local.iam_policies.agent)
}

output "sync_role_policy" {
  description = "The sync task role's policy document (JSON), for review; null without sync_schedule."
  value       = local.sync_enabled ? jsonencode(local.iam_policies.sync) : null
}
