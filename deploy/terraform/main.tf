data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id
  with_hub   = var.dockerhub_secret_arn != ""

  # The task role's policy is deploy/iam/agent-policy.json itself, its
  # ${Placeholders} filled here, so the module and the reviewed document
  # cannot drift apart.
  agent_policy_rendered = jsondecode(templatefile("${path.module}/../iam/agent-policy.json", {
    Partition         = local.partition
    Region            = local.region
    AccountId         = local.account_id
    QueueName         = aws_sqs_queue.events.name
    LeaseTableName    = aws_dynamodb_table.leases.name
    ReviewBusName     = var.review_bus_name
    PullThroughPrefix = var.pull_through_prefix
    MirrorPrefix      = var.mirror_prefix
    PassRolePattern   = var.pass_role_pattern
    # Without a Docker Hub secret of its own the agent reads only the
    # ecr-pullthroughcache/ secrets; the repeated resource is dropped below.
    DockerHubSecretArn = local.with_hub ? var.dockerhub_secret_arn : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:ecr-pullthroughcache/*"
  }))
  agent_policy = merge(local.agent_policy_rendered, {
    Statement = [for s in local.agent_policy_rendered.Statement : merge(s, { Resource = distinct(flatten([s.Resource])) })]
  })
}

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

resource "aws_iam_role" "execution" {
  name        = "${var.name}-execution"
  description = "Pulls the pullheal image and ships its logs."
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "task" {
  name        = "${var.name}-task"
  description = "The pullheal agent's own permissions (deploy/iam/README.md explains each statement)."
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

resource "aws_iam_role_policy" "task" {
  name   = "pullheal-agent"
  role   = aws_iam_role.task.id
  policy = jsonencode(local.agent_policy)
}

# No container health check: the image has no shell or wget. ECS replaces the
# task when the agent exits; /healthz and /readyz are for scrapers.
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
    environment = concat([
      { name = "PULLHEAL_QUEUE_URL", value = aws_sqs_queue.events.url },
      { name = "PULLHEAL_LOCK_TABLE", value = aws_dynamodb_table.leases.name },
      { name = "PULLHEAL_REVIEW_BUS", value = var.review_bus_name },
      { name = "PULLHEAL_SHUTDOWN_GRACE", value = "25s" },
      { name = "PULLHEAL_LISTEN", value = ":9090" },
      { name = "PULLHEAL_LOG_LEVEL", value = "info" },
      { name = "AWS_REGION", value = local.region },
      ], local.with_hub ? [
      { name = "PULLHEAL_DOCKERHUB_SECRET", value = var.dockerhub_secret_arn },
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

resource "aws_ecr_pull_through_cache_rule" "docker_hub" {
  count                 = local.with_hub ? 1 : 0
  ecr_repository_prefix = var.pull_through_prefix
  upstream_registry_url = "registry-1.docker.io"
  credential_arn        = var.dockerhub_secret_arn
}

# Settings of the repositories the cache creates. No resource tags: tags (or
# KMS) in a creation template need a custom role for ECR to assume.
resource "aws_ecr_repository_creation_template" "docker_hub" {
  count                = local.with_hub ? 1 : 0
  prefix               = var.pull_through_prefix
  description          = "Repositories the Docker Hub pull-through cache creates for pullheal."
  applied_for          = ["PULL_THROUGH_CACHE"]
  image_tag_mutability = "MUTABLE"

  encryption_configuration {
    encryption_type = "AES256"
  }

  lifecycle_policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "expire untagged images after 14 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 14
      }
      action = { type = "expire" }
    }]
  })
}
