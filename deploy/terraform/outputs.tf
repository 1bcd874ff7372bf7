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
