# Mirror a list of Docker Hub images into ECR every night, customised on
# the way in, the way terraform-aws-ecs-dockerhub-clone's containers and
# build_commands did (see the module README's migration table).
variable "dockerhub_secret_arn" {
  description = "Existing ecr-pullthroughcache/ secret with the Docker Hub account."
  type        = string
}

module "pullheal" {
  source = "../.."

  cluster         = var.cluster
  subnets         = var.subnets
  security_groups = var.security_groups
  image           = var.image

  dockerhub_secret_arn = var.dockerhub_secret_arn
  update_mode          = "propose"

  sync_schedule = "cron(0 3 * * ? *)"
  mirror_prefix = "ecsclone"
  containers = {
    "mongo" = { tags = ["7.0"] }
    "redis" = { tags = ["7.2", "7.4"] }
    "hashicorp/vault" = {
      tags      = ["1.14"]
      customize = ["DIR /etc/vault 0777", "VOLUME /etc/vault"]
    }
  }
}

output "policy" {
  value = module.pullheal.policy
}

output "sync_schedule_arn" {
  value = module.pullheal.sync_schedule_arn
}

output "sync_role_policy" {
  value = module.pullheal.sync_role_policy
}

output "agent_role_policy" {
  value = module.pullheal.agent_role_policy
}

output "alarm_arns" {
  value = module.pullheal.alarm_arns
}
