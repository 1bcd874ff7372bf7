terraform {
  # optional() object attributes with defaults need 1.3; terraform test
  # with mock providers (the module's own tests) needs 1.7.
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_ecr_repository_creation_template arrived in 5.58.
      version = ">= 5.58, < 6.0"
    }
  }
}
