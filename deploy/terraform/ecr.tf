# The Docker Hub pull-through cache: its credential secret, the rule, the
# settings of the repositories it creates, and the registry permissions
# that let the account's task roles pull through every cache prefix.

resource "aws_secretsmanager_secret" "dockerhub" {
  count       = var.dockerhub_secret_arn == "" && nonsensitive(var.dockerhub_credentials != null) ? 1 : 0
  name        = "ecr-pullthroughcache/${var.name}-docker-hub"
  description = "Docker Hub account of the ECR pull-through cache rule and of pullheal's mirror."
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "dockerhub" {
  count     = length(aws_secretsmanager_secret.dockerhub)
  secret_id = aws_secretsmanager_secret.dockerhub[0].id
  secret_string = jsonencode({
    username    = var.dockerhub_credentials.username
    accessToken = var.dockerhub_credentials.access_token
  })
}

resource "aws_ecr_pull_through_cache_rule" "docker_hub" {
  count                 = local.with_hub && var.create_pull_through_cache_rule ? 1 : 0
  ecr_repository_prefix = var.pull_through_prefix
  upstream_registry_url = "registry-1.docker.io"
  credential_arn        = local.dockerhub_secret_arn

  # ECR checks the secret when the rule is created.
  depends_on = [aws_secretsmanager_secret_version.dockerhub]
}

# Settings of the repositories the cache creates. No resource tags: tags (or
# KMS) in a creation template need a custom role for ECR to assume.
resource "aws_ecr_repository_creation_template" "docker_hub" {
  count                = length(aws_ecr_pull_through_cache_rule.docker_hub) > 0 && var.create_repository_creation_template ? 1 : 0
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

# Whoever pulls an image through the cache first (a workload's execution
# role, after pullheal rewrote its image) needs ecr:BatchImportUpstreamImage
# and, for a new repository, ecr:CreateRepository. The registry permissions
# policy grants both, per cache prefix, so no workload role needs editing.
resource "aws_ecr_registry_policy" "pull_through" {
  count = var.manage_registry_policy ? 1 : 0
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "PullThroughCacheImports"
      Effect    = "Allow"
      Principal = { AWS = coalesce(var.registry_policy_principals, ["arn:${local.partition}:iam::${local.account_id}:root"]) }
      Action    = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
      Resource  = [for p in local.pull_through_prefixes : "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${p}/*"]
    }]
  })
}
