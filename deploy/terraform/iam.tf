# The roles' policies are iam/agent-policy.json and iam/sync-policy.json in
# this module, copies of deploy/iam/ (deploy's Go tests fail when they
# differ), their ${Placeholders} filled here. A placeholder that stands for
# a list (pull-through prefixes, KMS keys) is filled by rendering the
# template once per element and joining the resources statement by
# statement; statements for what this deployment does not use are dropped.

locals {
  with_hub             = var.dockerhub_secret_arn != "" || nonsensitive(var.dockerhub_credentials != null)
  dockerhub_secret_arn = var.dockerhub_secret_arn != "" ? var.dockerhub_secret_arn : one(aws_secretsmanager_secret.dockerhub[*].arn)
  hub_secrets_pattern  = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:ecr-pullthroughcache/*"

  iam_vars = {
    Partition       = local.partition
    Region          = local.region
    AccountId       = local.account_id
    QueueName       = aws_sqs_queue.events.name
    LeaseTableName  = aws_dynamodb_table.leases.name
    ReviewBusName   = var.review_bus_name
    MirrorPrefix    = local.mirror_prefix
    PassRolePattern = var.pass_role_pattern
    # Without a Docker Hub secret of its own the agent reads only the
    # ecr-pullthroughcache/ secrets; the repeated resource is dropped below.
    DockerHubSecretArn  = local.with_hub ? local.dockerhub_secret_arn : local.hub_secrets_pattern
    PolicyParameterName = local.policy_parameter_name
    PolicyBucket        = var.policy_s3_bucket
    PolicyKey           = var.policy_s3_key
    PolicyKmsKeyArn     = var.policy_kms_key_arn
  }
  iam_templates = {
    agent = "${path.module}/iam/agent-policy.json"
    sync  = "${path.module}/iam/sync-policy.json"
  }
  iam_renders = { for role, path in local.iam_templates : role => [
    for i in range(max(length(local.pull_through_prefixes), length(local.mirror_kms_key_arns), 1)) :
    jsondecode(templatefile(path, merge(local.iam_vars, {
      PullThroughPrefix = local.pull_through_prefixes[min(i, length(local.pull_through_prefixes) - 1)]
      MirrorKmsKeyArn   = length(local.mirror_kms_key_arns) == 0 ? "" : local.mirror_kms_key_arns[min(i, length(local.mirror_kms_key_arns) - 1)]
    })))
  ] }
  iam_dropped = concat(
    length(local.mirror_kms_key_arns) == 0 ? ["UseMirrorRepositoryKeys"] : [],
    local.policy_in_s3 ? ["ReadPolicyParameter"] : ["ReadPolicyObject"],
    var.policy_kms_key_arn == "" ? ["DecryptPolicy"] : [],
  )
  iam_policies = { for role, renders in local.iam_renders : role => {
    Version = renders[0].Version
    Statement = [for i, s in renders[0].Statement : merge(s, {
      Resource = distinct(flatten([for r in renders : r.Statement[i].Resource]))
      }) if !contains(local.iam_dropped, s.Sid) && !(
      role == "sync" && s.Sid == "ReadDockerHubCredentials" && !local.with_hub
    )]
  } }
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
  policy = jsonencode(local.iam_policies.agent)
}


