# The smallest deployment: the agent heals through the account's existing
# pull-through cache rules, with the generated conservative policy
# (pull-through only, nothing mirrored). Set update_mode = "propose" to have
# it register corrected revisions without rolling the services.
module "pullheal" {
  source = "../.."

  cluster         = var.cluster
  subnets         = var.subnets
  security_groups = var.security_groups
  image           = var.image
}

output "policy_location" {
  value = module.pullheal.policy_location
}

output "policy" {
  value = module.pullheal.policy
}

output "agent_role_policy" {
  value = module.pullheal.agent_role_policy
}

output "queue_url" {
  value = module.pullheal.queue_url
}
