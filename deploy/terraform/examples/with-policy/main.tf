# The platform team's policy, stored in SSM for the agent to read and
# reload, plus the Docker Hub pull-through cache rule with a secret the
# module creates from a Docker Hub access token.
variable "dockerhub_username" {
  description = "Docker Hub account of the pull-through cache."
  type        = string
}

variable "dockerhub_access_token" {
  description = "A read-only Docker Hub access token of that account."
  type        = string
  sensitive   = true
}

module "pullheal" {
  source = "../.."

  cluster         = var.cluster
  subnets         = var.subnets
  security_groups = var.security_groups
  image           = var.image

  policy = file("${path.module}/policy.yaml")

  dockerhub_credentials = {
    username     = var.dockerhub_username
    access_token = var.dockerhub_access_token
  }
  extra_pull_through_prefixes = ["ecr-public"]
  pass_role_pattern           = "app-*"
}

output "policy_location" {
  value = module.pullheal.policy_location
}

output "agent_role_policy" {
  value = module.pullheal.agent_role_policy
}

output "pull_through_prefixes" {
  value = module.pullheal.pull_through_prefixes
}

output "dockerhub_secret_arn" {
  value = module.pullheal.dockerhub_secret_arn
}
