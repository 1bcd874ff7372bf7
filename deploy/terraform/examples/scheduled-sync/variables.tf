variable "region" {
  description = "Region of the cluster and of everything pullheal creates."
  type        = string
  default     = "eu-west-1"
}

variable "cluster" {
  description = "ECS cluster the agent runs in."
  type        = string
}

variable "subnets" {
  description = "Private subnets with a route to the AWS endpoints."
  type        = list(string)
}

variable "security_groups" {
  description = "Security groups allowing outbound HTTPS."
  type        = list(string)
}

variable "image" {
  description = "The pullheal image in ECR."
  type        = string
}
