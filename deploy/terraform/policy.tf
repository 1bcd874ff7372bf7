# The pullheal policy in a deployment: the YAML a platform team wrote (or a
# conservative one generated here), with the containers map's mirror rules
# on top, stored where the agent and the sync read it with their roles.

locals {
  policy_given = trimspace(var.policy) != ""
  policy_in    = yamldecode(local.policy_given ? var.policy : "{}")

  policy_mirror_prefix = try(local.policy_in.mirror.prefix, null)
  # pullheal's own default prefix (package plan) is "mirror".
  mirror_prefix = coalesce(var.mirror_prefix, local.policy_mirror_prefix, "mirror")

  # One images rule per containers entry: exact tags, mirrored, customised.
  container_rules = [for key, c in var.containers : merge(
    {
      match  = [coalesce(c.image, key)]
      tags   = { exact = c.tags }
      action = "mirror"
      reason = "listed in the ${var.name} deployment's containers (${key})"
    },
    { for k, v in { customize = c.customize, platforms = c.platforms } : k => v if length(v) > 0 },
  )]

  generated_policy = {
    version = 1
    mirror  = { prefix = local.mirror_prefix }
    heal    = { serviceUpdate = coalesce(var.update_mode, "update") }
    images  = local.container_rules
  }

  # A given policy is stored as written (comments and all) unless the
  # module has to add to it: the containers' rules go first (the first
  # matching images rule wins; deny rules are checked before any of them),
  # and a mirror_prefix the policy does not name is written into it.
  inject_prefix = local.policy_given && local.policy_mirror_prefix == null && var.mirror_prefix != null
  policy_merged = merge(
    local.policy_in,
    { images = concat(local.container_rules, try(local.policy_in.images, [])) },
    { for k, v in { mirror = merge(try(local.policy_in.mirror, {}), { prefix = local.mirror_prefix }) } : k => v if local.inject_prefix },
  )
  policy_text = (
    !local.policy_given ? yamlencode(local.generated_policy) :
    length(var.containers) == 0 && !local.inject_prefix ? var.policy :
    yamlencode(local.policy_merged)
  )
  # What the agent will read, for the IAM grants below.
  policy_doc = yamldecode(local.policy_text)

  # Prefixes of pull-through cache rules the agent may pull through: the
  # Docker Hub rule's, the extra ones, and those the policy declares.
  pull_through_prefixes = distinct(concat(
    [var.pull_through_prefix],
    var.extra_pull_through_prefixes,
    [for r in try(local.policy_doc.pullThrough.rules, []) : r.prefix],
  ))

  # KMS keys of mirrored repositories: the policy's encryption.kmsKey
  # values (mirror section and images rules) and kms_key_arns. Key IDs
  # become ARNs; aliases cannot be resolved here.
  policy_kms_keys = compact(concat(
    [try(local.policy_doc.mirror.repository.encryption.kmsKey, "")],
    [for r in try(local.policy_doc.images, []) : try(r.repository.encryption.kmsKey, "")],
  ))
  kms_keys_raw    = distinct(concat(local.policy_kms_keys, var.kms_key_arns))
  kms_key_aliases = [for k in local.kms_keys_raw : k if can(regex("^(arn:[^:]+:kms:[^:]*:[^:]*:)?alias/", k))]
  mirror_kms_key_arns = [for k in local.kms_keys_raw : (
    startswith(k, "arn:") ? k : "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/${k}"
  ) if !contains(local.kms_key_aliases, k)]

  policy_in_s3          = var.policy_s3_bucket != ""
  policy_parameter_name = coalesce(var.policy_parameter_name, "/${var.name}/policy")
  policy_location = (local.policy_in_s3 ?
    "s3://${var.policy_s3_bucket}/${var.policy_s3_key}" :
  "ssm:${local.policy_parameter_name}")
}

resource "aws_ssm_parameter" "policy" {
  count       = local.policy_in_s3 ? 0 : 1
  name        = local.policy_parameter_name
  description = "pullheal policy (the agent reloads it; pullheal sync reads it)."
  # Intelligent-Tiering stores a policy as Standard up to 4 KB and moves a
  # larger one (up to 8 KB) to Advanced instead of failing.
  tier   = "Intelligent-Tiering"
  type   = var.policy_kms_key_arn == "" ? "String" : "SecureString"
  key_id = var.policy_kms_key_arn == "" ? null : var.policy_kms_key_arn
  value  = local.policy_text
  tags   = var.tags

  lifecycle {
    precondition {
      condition     = !local.policy_given || var.update_mode == null
      error_message = "update_mode applies to the generated policy only; with a policy of your own, set heal.serviceUpdate in it."
    }
    precondition {
      condition     = var.mirror_prefix == null || local.policy_mirror_prefix == null || var.mirror_prefix == local.policy_mirror_prefix
      error_message = "mirror_prefix differs from the policy's mirror.prefix; the IAM grants would not match what the agent writes. Drop one."
    }
    precondition {
      condition     = length(local.kms_key_aliases) == 0
      error_message = "the policy names KMS keys by alias (${join(", ", local.kms_key_aliases)}); IAM grants need the key: list its ARN in kms_key_arns and the alias is ignored."
    }
  }
}

resource "aws_s3_object" "policy" {
  count        = local.policy_in_s3 ? 1 : 0
  bucket       = var.policy_s3_bucket
  key          = var.policy_s3_key
  content      = local.policy_text
  content_type = "application/yaml"
  # SSE-KMS under the given key; otherwise the bucket's default encryption.
  server_side_encryption = var.policy_kms_key_arn == "" ? null : "aws:kms"
  kms_key_id             = var.policy_kms_key_arn == "" ? null : var.policy_kms_key_arn
  tags                   = var.tags

  lifecycle {
    precondition {
      condition     = !local.policy_given || var.update_mode == null
      error_message = "update_mode applies to the generated policy only; with a policy of your own, set heal.serviceUpdate in it."
    }
    precondition {
      condition     = var.mirror_prefix == null || local.policy_mirror_prefix == null || var.mirror_prefix == local.policy_mirror_prefix
      error_message = "mirror_prefix differs from the policy's mirror.prefix; the IAM grants would not match what the agent writes. Drop one."
    }
    precondition {
      condition     = length(local.kms_key_aliases) == 0
      error_message = "the policy names KMS keys by alias (${join(", ", local.kms_key_aliases)}); IAM grants need the key: list its ARN in kms_key_arns and the alias is ignored."
    }
  }
}
