# A message in the DLQ failed five times: someone should read the agent's
# logs for its message_id.
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "pullheal could not handle an ECS event five times; see the agent's log group for the message_id."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# ECS publishes no running-task count in AWS/ECS; Container Insights
# (ECS/ContainerInsights) has RunningTaskCount and DesiredTaskCount per
# service. Without Container Insights on the cluster the alarm has no data
# and stays INSUFFICIENT_DATA (see README).
resource "aws_cloudwatch_metric_alarm" "agent_running" {
  alarm_name          = "${var.name}-agent-below-desired"
  alarm_description   = "The pullheal agent service runs fewer tasks than desired for 5 minutes (needs Container Insights on the cluster)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 5
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "missing"
    expression  = "desired - running"
    label       = "tasks missing"
    return_data = true
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = local.cluster_name, ServiceName = aws_ecs_service.agent.name }
      period      = 60
      stat        = "Average"
    }
  }

  metric_query {
    id = "running"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = { ClusterName = local.cluster_name, ServiceName = aws_ecs_service.agent.name }
      period      = 60
      stat        = "Average"
    }
  }
}
