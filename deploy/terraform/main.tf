# SSE-SQS, not SSE-KMS: EventBridge cannot deliver to a queue encrypted with
# the AWS managed KMS key.
resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-events-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  name                       = "${var.name}-events"
  sqs_managed_sse_enabled    = true
  receive_wait_time_seconds  = 20
  visibility_timeout_seconds = 60
  message_retention_seconds  = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeRuleDelivers"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.stopped_tasks.arn } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.events.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_rule" "stopped_tasks" {
  name        = "${var.name}-stopped-tasks"
  description = "ECS tasks that stopped because an image could not be pulled; pullheal decides which were rate limits."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      lastStatus = ["STOPPED"]
      "$or" = [
        { stoppedReason = [{ prefix = "CannotPull" }] },
        { containers = { reason = [{ prefix = "CannotPull" }] } },
      ]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.stopped_tasks.name
  target_id = "pullheal-queue"
  arn       = aws_sqs_queue.events.arn
  # Deliveries before the queue policy exists would be refused.
  depends_on = [aws_sqs_queue_policy.events]
}

resource "aws_dynamodb_table" "leases" {
  name         = "${var.name}-leases"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "purge_at"
    enabled        = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "agent" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# The image has no shell: the health check runs pullheal itself, which asks
# the agent's /healthz on 127.0.0.1:9090 (PULLHEAL_LISTEN) and exits 0 or 1.
resource "aws_ecs_task_definition" "agent" {
  family                   = "${var.name}-agent"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name      = "pullheal"
    image     = var.image
    essential = true
    command   = ["agent"]
    # The agent finishes in-flight messages for its shutdown grace (25 s)
    # after SIGTERM; ECS must wait longer before SIGKILL.
    stopTimeout            = 30
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp" }]
    portMappings           = [{ name = "metrics", containerPort = 9090, protocol = "tcp" }]
    healthCheck = {
      command     = ["CMD", "/pullheal", "healthcheck"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    environment = concat([
      { name = "PULLHEAL_QUEUE_URL", value = aws_sqs_queue.events.url },
      { name = "PULLHEAL_LOCK_TABLE", value = aws_dynamodb_table.leases.name },
      { name = "PULLHEAL_REVIEW_BUS", value = var.review_bus_name },
      { name = "PULLHEAL_SHUTDOWN_GRACE", value = "25s" },
      { name = "PULLHEAL_LISTEN", value = ":9090" },
      { name = "PULLHEAL_LOG_LEVEL", value = "info" },
      { name = "PULLHEAL_POLICY", value = local.policy_location },
      { name = "AWS_REGION", value = local.region },
      ], local.with_hub ? [
      { name = "PULLHEAL_DOCKERHUB_SECRET", value = local.dockerhub_secret_arn },
    ] : [])
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.agent.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "pullheal"
      }
    }
  }])

  tags = var.tags

  # The agent reads the policy at start: store it first.
  depends_on = [aws_ssm_parameter.policy, aws_s3_object.policy]
}

resource "aws_ecs_service" "agent" {
  name                               = var.name
  cluster                            = var.cluster
  task_definition                    = aws_ecs_task_definition.agent.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  propagate_tags                     = "TASK_DEFINITION"
  enable_ecs_managed_tags            = true
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnets
    security_groups  = var.security_groups
    assign_public_ip = var.assign_public_ip
  }

  tags = var.tags
}

