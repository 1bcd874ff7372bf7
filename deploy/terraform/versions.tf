terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_ecr_repository_creation_template arrived in 5.58.
      version = ">= 5.58.0"
    }
  }
}
