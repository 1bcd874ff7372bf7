variable "name" {
  description = "Prefix of every named resource (queues, table, rule, roles, log group, service)."
  type        = string
  default     = "pullheal"
}

variable "cluster" {
  description = "Name or ARN of the ECS cluster the agent runs in. The agent heals services in every cluster of the region."
  type        = string
}

variable "subnets" {
  description = "Subnets of the agent's tasks; they need a route to the SQS, ECS, ECR, EventBridge, DynamoDB and Secrets Manager endpoints."
  type        = list(string)
}

variable "security_groups" {
  description = "Security groups of the agent's tasks. Outbound HTTPS is all they need; open 9090 inbound only to your Prometheus."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the tasks a public IP (only for public subnets without NAT)."
  type        = bool
  default     = false
}

variable "image" {
  description = "The pullheal image URI (keep it in ECR, not Docker Hub). Its entrypoint is the pullheal binary."
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

variable "dockerhub_secret_arn" {
  description = "Secret {\"username\",\"accessToken\"} for Docker Hub, named ecr-pullthroughcache/... . When set, the module creates the Docker Hub pull-through cache rule and its repository creation template. Empty: no rule is created."
  type        = string
  default     = ""

  validation {
    condition     = var.dockerhub_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr-pullthroughcache/.+$", var.dockerhub_secret_arn))
    error_message = "dockerhub_secret_arn must be empty or the ARN of a secret whose name starts with ecr-pullthroughcache/."
  }
}

variable "pull_through_prefix" {
  description = "ECR repository prefix of the Docker Hub pull-through cache rule."
  type        = string
  default     = "docker-hub"
}

variable "mirror_prefix" {
  description = "ECR repository prefix of mirrored images (the policy's mirror.prefix; pullheal's default is mirror)."
  type        = string
  default     = "mirror"
}

variable "review_bus_name" {
  description = "Existing EventBridge bus that receives review events (source pullheal)."
  type        = string
  default     = "default"
}

variable "pass_role_pattern" {
  description = "Role names (after role/ in the ARN, wildcards allowed) the agent may pass to ECS tasks: the task and execution roles of the workloads it heals."
  type        = string
  default     = "*"
}

variable "log_retention_days" {
  description = "Retention of the agent's log group."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
