variable "name" {
  description = "Prefix of every named resource (queues, table, rule, roles, log groups, service, schedule, parameter)."
  type        = string
  default     = "pullheal"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", var.name))
    error_message = "name must be 1-32 letters, digits, - or _, starting with a letter or digit."
  }
}

variable "cluster" {
  description = "Name (or ARN) of the ECS cluster the agent and the sync task run in. The agent heals services in every cluster of the region."
  type        = string
}

variable "subnets" {
  description = "Subnets of the agent's and the sync's tasks; they need a route to the SQS, ECS, ECR (api, dkr, S3 for layers), EventBridge, DynamoDB, SSM, Secrets Manager and CloudWatch Logs endpoints."
  type        = list(string)
}

variable "security_groups" {
  description = "Security groups of the tasks. Outbound HTTPS is all they need; open 9090 inbound only to your Prometheus."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the tasks a public IP (only for public subnets without NAT)."
  type        = bool
  default     = false
}

variable "image" {
  description = "The pullheal image URI, in ECR (not Docker Hub: the agent must not depend on what it heals). The image runs /pullheal; the agent task runs `agent`, the sync task `sync`."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  description = "Agent replicas. They coordinate through the lease table, so any number is safe."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

# --- the policy -------------------------------------------------------------

variable "policy" {
  description = "The pullheal policy as YAML text (e.g. file(\"policy.yaml\")). Empty: a conservative policy is generated (pull-through only, nothing mirrored unless `containers` lists it, services updated unless update_mode says propose). Stored in an SSM parameter (or S3 with policy_s3_bucket) that the agent and the sync read."
  type        = string
  default     = ""
}

variable "update_mode" {
  description = "heal.serviceUpdate of the generated policy: update (roll the service onto the corrected revision) or propose (register it and publish the review event only). Only without `policy`: a policy of your own says it in its heal section."
  type        = string
  default     = null

  validation {
    condition     = var.update_mode == null || contains(["update", "propose"], coalesce(var.update_mode, "update"))
    error_message = "update_mode must be update or propose."
  }
}

variable "policy_parameter_name" {
  description = "Name of the SSM parameter that holds the policy; a path starting with /. Default: /NAME/policy."
  type        = string
  default     = null

  validation {
    condition     = var.policy_parameter_name == null || can(regex("^/[A-Za-z0-9_.\\-/]+$", coalesce(var.policy_parameter_name, "/x")))
    error_message = "policy_parameter_name must be a path such as /pullheal/policy."
  }
}

variable "policy_s3_bucket" {
  description = "Existing S3 bucket to store the policy in instead of SSM (`--policy s3://BUCKET/KEY`). Empty: SSM."
  type        = string
  default     = ""
}

variable "policy_s3_key" {
  description = "Object key of the policy in policy_s3_bucket."
  type        = string
  default     = "pullheal/policy.yaml"
}

variable "policy_kms_key_arn" {
  description = "KMS key ARN that encrypts the stored policy: the SSM parameter becomes a SecureString under it, or the S3 object is written with SSE-KMS under it. The agent and the sync get kms:Decrypt on it through SSM or S3 only. Empty: a plain String parameter / the bucket's default encryption."
  type        = string
  default     = ""

  validation {
    condition     = var.policy_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.policy_kms_key_arn))
    error_message = "policy_kms_key_arn must be empty or a KMS key ARN (arn:...:key/ID)."
  }
}

# --- ECR --------------------------------------------------------------------

variable "dockerhub_secret_arn" {
  description = "Existing secret {\"username\",\"accessToken\"} for Docker Hub, named ecr-pullthroughcache/... . Used by the pull-through cache rule and by the mirror route. Leave empty to have the module create it from dockerhub_credentials, or to use no Docker Hub account."
  type        = string
  default     = ""

  validation {
    condition     = var.dockerhub_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr-pullthroughcache/.+$", var.dockerhub_secret_arn))
    error_message = "dockerhub_secret_arn must be empty or the ARN of a secret whose name starts with ecr-pullthroughcache/."
  }
}

variable "dockerhub_credentials" {
  description = "Docker Hub user name and access token; when set (and dockerhub_secret_arn is empty) the module creates the secret ecr-pullthroughcache/NAME-docker-hub. The values end up in the Terraform state: prefer dockerhub_secret_arn where the state is not protected like a secret."
  type = object({
    username     = string
    access_token = string
  })
  default   = null
  sensitive = true
}

variable "create_pull_through_cache_rule" {
  description = "Create the Docker Hub pull-through cache rule (prefix pull_through_prefix) when a Docker Hub secret is available. Turn off when the rule exists already."
  type        = bool
  default     = true
}

variable "create_repository_creation_template" {
  description = "Create the repository creation template (AES256, mutable tags, untagged images expire after 14 days) for the repositories the Docker Hub pull-through cache creates. Only with the rule."
  type        = bool
  default     = true
}

variable "pull_through_prefix" {
  description = "ECR repository prefix of the Docker Hub pull-through cache rule (created here or existing)."
  type        = string
  default     = "docker-hub"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", var.pull_through_prefix)) && length(var.pull_through_prefix) >= 2 && length(var.pull_through_prefix) <= 30
    error_message = "pull_through_prefix must be 2-30 lowercase letters, digits, '.', '_' or '-' (ECR's ecrRepositoryPrefix)."
  }
}

variable "extra_pull_through_prefixes" {
  description = "Prefixes of the account's other pull-through cache rules the agent may use (ecr-public, quay, kubernetes, github, ...). The agent discovers rules, so it needs permission on every prefix it may pull through; the rules' prefixes declared in the policy are added automatically."
  type        = list(string)
  default     = []
}

variable "manage_registry_policy" {
  description = "Set the registry permissions policy so that the principals in registry_policy_principals (default: the account, i.e. every role whose own policy allows ECR pulls) may trigger pull-through imports (ecr:BatchImportUpstreamImage, ecr:CreateRepository) under every pull-through prefix. A registry has one such policy: turn this off if you manage it elsewhere."
  type        = bool
  default     = true
}

variable "registry_policy_principals" {
  description = "IAM principal ARNs the registry permissions policy grants pull-through imports to. Default: the account root (the account's task execution roles)."
  type        = list(string)
  default     = null
}

variable "mirror_prefix" {
  description = "ECR repository prefix of mirrored images. Default: the policy's mirror.prefix, else mirror. When set with a policy that names another prefix, planning fails."
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = "KMS keys of mirrored repositories besides those the policy names in encryption.kmsKey (as ARNs or key IDs). The agent and the sync get kms:DescribeKey, CreateGrant and RetireGrant on them through ECR only."
  type        = list(string)
  default     = []
}

# --- the agent --------------------------------------------------------------

variable "review_bus_name" {
  description = "Existing EventBridge bus that receives review events (source pullheal)."
  type        = string
  default     = "default"
}

variable "pass_role_pattern" {
  description = "Role names (the part of the ARN after role/, wildcards allowed) the agent may pass to ECS tasks when it registers a corrected revision: the task and execution roles of the workloads it heals. The default matches AWS's ecsTaskExecutionRole and roles named ecs*; widen it to your naming scheme, never to *."
  type        = string
  default     = "ecs*"

  validation {
    condition     = length(replace(replace(var.pass_role_pattern, "*", ""), "?", "")) > 0 && !can(regex("^[*?/]*$", var.pass_role_pattern))
    error_message = "pass_role_pattern must name roles: a pattern of wildcards alone (*) would let the agent pass any role."
  }
}

variable "log_retention_days" {
  description = "Retention of the agent's and the sync's log groups."
  type        = number
  default     = 30
}

variable "alarm_actions" {
  description = "SNS topic ARNs (or other alarm actions) notified by the module's alarms: DLQ depth, agent running fewer tasks than desired, sync failed, sync stopped."
  type        = list(string)
  default     = []
}

# --- scheduled sync ---------------------------------------------------------

variable "sync_schedule" {
  description = "EventBridge Scheduler expression (rate(1 day), cron(0 3 * * ? *)) on which `pullheal sync` runs as an ECS task of the same image. Empty: no scheduled sync."
  type        = string
  default     = ""

  validation {
    condition     = var.sync_schedule == "" || can(regex("^(rate|cron|at)\\(.+\\)$", var.sync_schedule))
    error_message = "sync_schedule must be empty or a Scheduler expression: rate(...), cron(...) or at(...)."
  }
}

variable "sync_schedule_timezone" {
  description = "Time zone of a cron sync_schedule."
  type        = string
  default     = "UTC"
}

variable "containers" {
  description = "Images to mirror (and sync on the schedule), as terraform-aws-ecs-dockerhub-clone's containers map: key = image (or a label when image is set), tags = the exact tags, customize = pullheal customisation lines (VOLUME, ENV, DIR). Each entry becomes an images rule with action mirror at the top of the policy."
  type = map(object({
    image     = optional(string)
    tags      = list(string)
    customize = optional(list(string), [])
    platforms = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for k, c in var.containers : length(c.tags) > 0])
    error_message = "every entry of containers needs at least one tag."
  }

  validation {
    condition = alltrue(flatten([for k, c in var.containers : [
      for l in c.customize : can(regex("^(?i)(VOLUME|ENV|DIR)\\s+\\S", trimspace(l)))
    ]]))
    error_message = "customize lines are VOLUME /path..., ENV KEY=value or DIR /path [MODE] (pullheal has no RUN, COPY or USER)."
  }
}

variable "sync_cpu" {
  description = "CPU units of the sync task (Fargate sizes)."
  type        = string
  default     = "512"
}

variable "sync_memory" {
  description = "Memory (MiB) of the sync task (Fargate sizes). Customising a large image holds layers in memory: raise it for big images."
  type        = string
  default     = "1024"
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
