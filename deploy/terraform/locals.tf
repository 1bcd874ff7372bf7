data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id
  # The CloudWatch dimension wants the cluster's name; var.cluster may be an ARN.
  cluster_name = element(split("/", var.cluster), length(split("/", var.cluster)) - 1)
}
