# Scheduled sync: EventBridge Scheduler runs `pullheal sync` (same image,
# policy from the same place) as an ECS task, with its own role, its own
# log group and an alarm when a run fails.

locals {
  sync_enabled = var.sync_schedule != ""
  sync_count   = local.sync_enabled ? 1 : 0
}

resource "aws_cloudwatch_log_group" "sync" {
  count             = local.sync_count
  name              = "/ecs/${var.name}-sync"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "sync" {
  count       = local.sync_count
  name        = "${var.name}-sync"
  description = "pullheal sync: mirrors the policy's allowlist into ECR (deploy/iam/README.md explains each statement)."
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
      }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "sync" {
  count  = local.sync_count
  name   = "pullheal-sync"
  role   = aws_iam_role.sync[0].id
  policy = jsonencode(local.iam_policies.sync)
}

resource "aws_ecs_task_definition" "sync" {
  count                    = local.sync_count
  family                   = "${var.name}-sync"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.sync_cpu
  memory                   = var.sync_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.sync[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "pullheal-sync"
    image                  = var.image
    essential              = true
    command                = ["sync"]
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp" }]
    environment = concat([
      { name = "PULLHEAL_POLICY", value = local.policy_location },
      { name = "AWS_REGION", value = local.region },
      ], local.with_hub ? [
      { name = "PULLHEAL_DOCKERHUB_SECRET", value = local.dockerhub_secret_arn },
    ] : [])
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.sync[0].name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "sync"
      }
    }
  }])

  tags       = var.tags
  depends_on = [aws_ssm_parameter.policy, aws_s3_object.policy]
}

# Invocations the Scheduler could not deliver (RunTask refused: capacity,
# permissions, a deleted task definition) after its retries.
resource "aws_sqs_queue" "sync_dlq" {
  count                     = local.sync_count
  name                      = "${var.name}-sync-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

# The Scheduler's role: run the sync task definition (any revision of its
# family), pass the two roles the task uses, and dead-letter a failed
# invocation.
resource "aws_iam_role" "scheduler" {
  count       = local.sync_count
  name        = "${var.name}-sync-scheduler"
  description = "EventBridge Scheduler starts the pullheal sync task."
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  count = local.sync_count
  name  = "run-pullheal-sync"
  role  = aws_iam_role.scheduler[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "RunSyncTask"
        Effect   = "Allow"
        Action   = "ecs:RunTask"
        Resource = "${aws_ecs_task_definition.sync[0].arn_without_revision}:*"
        Condition = {
          ArnLike = { "ecs:cluster" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.cluster_name}" }
        }
      },
      {
        # Tags propagated at launch are authorised as ecs:TagResource.
        Sid      = "TagSyncTasksAtLaunch"
        Effect   = "Allow"
        Action   = "ecs:TagResource"
        Resource = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/*"
        Condition = {
          StringEquals = { "ecs:CreateAction" = "RunTask" }
        }
      },
      {
        Sid      = "PassSyncRoles"
        Effect   = "Allow"
        Action   = "iam:PassRole"
        Resource = [aws_iam_role.execution.arn, aws_iam_role.sync[0].arn]
        Condition = {
          StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" }
        }
      },
      {
        Sid      = "DeadLetterFailedInvocations"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = aws_sqs_queue.sync_dlq[0].arn
      },
    ]
  })
}

resource "aws_scheduler_schedule" "sync" {
  count                        = local.sync_count
  name                         = "${var.name}-sync"
  description                  = "Runs pullheal sync: mirrors the policy's allowlist into ECR."
  schedule_expression          = var.sync_schedule
  schedule_expression_timezone = var.sync_schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.cluster_name}"
    role_arn = aws_iam_role.scheduler[0].arn

    ecs_parameters {
      task_definition_arn     = aws_ecs_task_definition.sync[0].arn
      launch_type             = "FARGATE"
      task_count              = 1
      group                   = "${var.name}-sync"
      enable_ecs_managed_tags = true
      propagate_tags          = "TASK_DEFINITION"

      network_configuration {
        subnets          = var.subnets
        security_groups  = var.security_groups
        assign_public_ip = var.assign_public_ip
      }
    }

    dead_letter_config {
      arn = aws_sqs_queue.sync_dlq[0].arn
    }

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }
}

# Every pullheal command that fails ends with one line "pullheal: ..." on
# stderr (exit 1 or 2): a failed image, an unreadable policy, AWS refusing.
# The metric is named after the deployment (the stack does the same with its
# name): metrics have no owner, and two deployments in one account and
# region would otherwise raise each other's alarm.
resource "aws_cloudwatch_log_metric_filter" "sync_failures" {
  count          = local.sync_count
  name           = "${var.name}-sync-failures"
  log_group_name = aws_cloudwatch_log_group.sync[0].name
  pattern        = "[first = \"pullheal:\", ...]"

  metric_transformation {
    namespace     = "pullheal"
    name          = "SyncFailures-${var.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "sync_failed" {
  count               = local.sync_count
  alarm_name          = "${var.name}-sync-failed"
  alarm_description   = "pullheal sync failed (its log group has the line \"pullheal: ...\"), or the Scheduler could not start it (its dead-letter queue has the invocation)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "failed"
    expression  = "FILL(runs, 0) + FILL(undelivered, 0)"
    label       = "failed sync runs"
    return_data = true
  }

  metric_query {
    id = "runs"
    metric {
      namespace   = "pullheal"
      metric_name = aws_cloudwatch_log_metric_filter.sync_failures[0].metric_transformation[0].name
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "undelivered"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.sync_dlq[0].name }
      period      = 300
      stat        = "Maximum"
    }
  }
}

# A sync task that is killed from outside (out of memory: exit 137) or whose
# container never starts (image pull, capacity: stopCode TaskFailedToStart,
# no exit code) writes no "pullheal:" line. ECS reports every stop on the
# default bus; this rule takes the sync's own (its task-definition family in
# its cluster, whether the Scheduler or a person ran it) that did not end
# with exit 0.
resource "aws_cloudwatch_event_rule" "sync_stopped" {
  count       = local.sync_count
  name        = "${var.name}-sync-stopped"
  description = "pullheal sync tasks that stopped without exit 0: killed (out of memory), or never started."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn        = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.cluster_name}"]
      taskDefinitionArn = [{ prefix = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${aws_ecs_task_definition.sync[0].family}:" }]
      lastStatus        = ["STOPPED"]
      "$or" = [
        { stopCode = ["TaskFailedToStart"] },
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { containers = { exitCode = [{ exists = false }] } },
      ]
    }
  })
  tags = var.tags
}

# The rule writes each stop it matches into the sync's log group, next to
# the run's own lines, so that the alarm has its evidence: task ARN,
# stoppedReason, each container's exit code and reason. EventBridge writes
# there under the log group's resource policy, not a role.
resource "aws_cloudwatch_log_resource_policy" "sync_events" {
  count       = local.sync_count
  policy_name = "${var.name}-sync-stopped-events"
  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SyncStoppedEventsToLogs"
      Effect    = "Allow"
      Principal = { Service = ["events.amazonaws.com", "delivery.logs.amazonaws.com"] }
      Action    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource  = "${aws_cloudwatch_log_group.sync[0].arn}:*"
    }]
  })
}

resource "aws_cloudwatch_event_target" "sync_stopped" {
  count     = local.sync_count
  rule      = aws_cloudwatch_event_rule.sync_stopped[0].name
  target_id = "sync-log-group"
  arn       = aws_cloudwatch_log_group.sync[0].arn
  # Deliveries before the resource policy exists would be refused.
  depends_on = [aws_cloudwatch_log_resource_policy.sync_events]
}

# TriggeredRules (AWS/Events, by RuleName) counts the rule's matches.
resource "aws_cloudwatch_metric_alarm" "sync_stopped" {
  count               = local.sync_count
  alarm_name          = "${var.name}-sync-stopped"
  alarm_description   = "A pullheal sync task stopped without exit 0 (killed, e.g. out of memory, or it never started); the stop event is in the sync's log group."
  namespace           = "AWS/Events"
  metric_name         = "TriggeredRules"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.sync_stopped[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
