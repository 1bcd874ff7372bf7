# Offline tests of the module: the AWS provider is mocked, so plan and apply
# run without credentials and computed attributes get placeholder values.
# Each run asserts the resources and the IAM statements the inputs produce.

# override_during = plan (Terraform 1.11) gives computed attributes their
# mocked values at plan time, so each run is a plan: no apply, no destroy.
mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

# Distinct role ARNs where a run compares them.
override_resource {
  override_during = plan
  target          = aws_iam_role.task
  values          = { arn = "arn:aws:iam::123456789012:role/pullheal-task" }
}

override_resource {
  override_during = plan
  target          = aws_iam_role.sync
  values          = { arn = "arn:aws:iam::123456789012:role/pullheal-sync" }
}

override_resource {
  override_during = plan
  target          = aws_iam_role.execution
  values          = { arn = "arn:aws:iam::123456789012:role/pullheal-execution" }
}

variables {
  cluster         = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
  subnets         = ["subnet-0123456789abcdef0"]
  security_groups = ["sg-0123456789abcdef0"]
  image           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pullheal:1.0.0"
}

run "defaults_are_conservative" {
  command = plan
  assert {
    # The text itself: tests/testdata's fixtures are what deploy's Go tests
    # load with pullheal's own policy parser.
    condition     = aws_ssm_parameter.policy[0].value == file("./tests/testdata/generated-default.yaml")
    error_message = "without a policy the module stores a pull-through-only policy: ${nonsensitive(aws_ssm_parameter.policy[0].value)}"
  }
  assert {
    condition     = aws_ssm_parameter.policy[0].name == "/pullheal/policy" && aws_ssm_parameter.policy[0].type == "String"
    error_message = "the policy parameter is /pullheal/policy, a String"
  }
  assert {
    condition     = length(aws_s3_object.policy) == 0 && length(aws_scheduler_schedule.sync) == 0 && length(aws_ecs_task_definition.sync) == 0 && length(aws_cloudwatch_event_rule.sync_stopped) == 0 && length(aws_cloudwatch_metric_alarm.sync_stopped) == 0 && length(aws_cloudwatch_log_resource_policy.sync_events) == 0
    error_message = "no S3 object and no sync (nor its rule, alarm and log policy) unless asked for"
  }
  assert {
    condition     = length(aws_ecr_pull_through_cache_rule.docker_hub) == 0 && length(aws_secretsmanager_secret.dockerhub) == 0
    error_message = "no Docker Hub secret, no rule"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment, { name = "PULLHEAL_POLICY", value = "ssm:/pullheal/policy" })
    error_message = "the agent reads the policy from the parameter"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].healthCheck.command == ["CMD", "/pullheal", "healthcheck"]
    error_message = "the agent's health check runs /pullheal healthcheck"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid] == [
      "ConsumeEventQueue", "ReadAndRegisterTaskDefinitions", "TagTaskDefinitionsOnRegister",
      "MarkRolledBackRevisions", "ReadStoppedTasks", "RollServices", "PassWorkloadRolesToEcsTasks", "EcrRegistryWide",
      "PullThroughPreflight", "MirrorIntoPrivateEcr", "CheckHealedTasksCanPull", "FindContainerInstanceRoles",
      "FindInstanceProfiles", "ReadEcrPermissionPolicies",
      "PublishReviewEvents", "CoordinateReplicas",
      "ReadDockerHubCredentials", "ReadPolicyParameter",
    ]
    error_message = "agent statements: no KMS, S3 or decrypt statement by default"
  }
  assert {
    # Rendering fills resources and drops statements; actions and effects
    # are the template's.
    condition = { for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid => [s.Effect, s.Action] } == {
      for s in jsondecode(file("./iam/agent-policy.json")).Statement : s.Sid => [s.Effect, s.Action]
      if !contains(["UseMirrorRepositoryKeys", "ReadPolicyObject", "DecryptPolicy"], s.Sid)
    }
    error_message = "the agent's statements grant the template's actions"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "PassWorkloadRolesToEcsTasks"]) == ["arn:aws:iam::123456789012:role/ecs*"]
    error_message = "iam:PassRole is scoped to the default pattern, never *"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "ReadPolicyParameter"]) == ["arn:aws:ssm:eu-west-1:123456789012:parameter/pullheal/policy"]
    error_message = "the agent reads exactly its policy parameter"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "ReadDockerHubCredentials"]) == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/*"]
    error_message = "without a secret of its own the agent reads only ecr-pullthroughcache/ secrets, once"
  }
  assert {
    condition = jsondecode(aws_ecr_registry_policy.pull_through[0].policy).Statement[0] == {
      Sid       = "PullThroughCacheImports"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::123456789012:root"] }
      Action    = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
      Resource  = ["arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*"]
    }
    error_message = "the registry policy lets the account's roles import through the cache"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_depth.dimensions.QueueName == aws_sqs_queue.dlq.name && aws_cloudwatch_metric_alarm.dlq_depth.threshold == 0
    error_message = "the DLQ alarm watches the DLQ"
  }
  assert {
    condition = [for q in aws_cloudwatch_metric_alarm.agent_running.metric_query : q.metric[0].dimensions if length(q.metric) > 0] == [
      tomap({ ClusterName = "prod", ServiceName = "pullheal" }), tomap({ ClusterName = "prod", ServiceName = "pullheal" }),
    ]
    error_message = "the running-tasks alarm names the cluster by name, even when given an ARN"
  }
}

run "propose_is_one_input_away" {
  command = plan
  variables {
    update_mode = "propose"
  }
  assert {
    condition     = yamldecode(aws_ssm_parameter.policy[0].value).heal.serviceUpdate == "propose"
    error_message = "update_mode = propose reaches the generated policy"
  }
}

run "own_policy_is_stored_as_written" {
  command = plan
  variables {
    policy = file("./tests/testdata/team-policy.yaml")
  }
  assert {
    condition     = aws_ssm_parameter.policy[0].value == file("./tests/testdata/team-policy.yaml")
    error_message = "a policy the module need not change is stored verbatim (comments and all)"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "MirrorIntoPrivateEcr"]) == ["arn:aws:ecr:eu-west-1:123456789012:repository/payments/mirror/*"]
    error_message = "the mirror grants follow the policy's mirror.prefix"
  }
}

run "containers_become_mirror_rules_before_the_policys" {
  command = plan
  variables {
    policy = file("./tests/testdata/team-policy.yaml")
    containers = {
      "hashicorp/vault" = { tags = ["1.14", "1.13.3"], customize = ["VOLUME /etc/vault", "DIR /etc/vault 0777"] }
      redis-arm         = { image = "redis", tags = ["7"], platforms = ["linux/arm64"] }
    }
  }
  assert {
    condition     = aws_ssm_parameter.policy[0].value == file("./tests/testdata/generated-containers-team.yaml")
    error_message = "each containers entry is an images rule with action mirror, ahead of the policy's own: ${nonsensitive(aws_ssm_parameter.policy[0].value)}"
  }
  assert {
    condition     = length(yamldecode(aws_ssm_parameter.policy[0].value).images) == 5 && yamldecode(aws_ssm_parameter.policy[0].value).heal.serviceUpdate == "propose"
    error_message = "the policy's own rules and settings are kept"
  }
}

run "kms_keys_of_the_policy_are_granted" {
  command = plan
  variables {
    policy                      = <<-EOT
      version: 1
      pullThrough:
        source: declared
        rules:
          - upstream: docker-hub
            prefix: hub
          - upstream: quay.io
            prefix: quay
      mirror:
        prefix: mirror
        repository:
          encryption:
            type: KMS
            kmsKey: 0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6
      images:
        - match: docker.io/acme/*
          action: mirror
          repository:
            encryption:
              type: KMS
              kmsKey: arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555
    EOT
    extra_pull_through_prefixes = ["ecr-public"]
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "UseMirrorRepositoryKeys"]) == [
      "arn:aws:kms:eu-west-1:123456789012:key/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
      "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    ]
    error_message = "every key the policy encrypts mirrored repositories with is granted, key IDs as ARNs"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Condition if s.Sid == "UseMirrorRepositoryKeys"]) == { StringEquals = { "kms:ViaService" = "ecr.eu-west-1.amazonaws.com" } }
    error_message = "the keys are usable through ECR only"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "PullThroughPreflight"]) == [
      "arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*",
      "arn:aws:ecr:eu-west-1:123456789012:repository/ecr-public/*",
      "arn:aws:ecr:eu-west-1:123456789012:repository/hub/*",
      "arn:aws:ecr:eu-west-1:123456789012:repository/quay/*",
    ]
    error_message = "pull-through grants cover every prefix the agent may use"
  }
  assert {
    condition     = length(jsondecode(aws_ecr_registry_policy.pull_through[0].policy).Statement[0].Resource) == 4
    error_message = "the registry policy opens every pull-through prefix"
  }
}

run "policy_in_s3_under_kms" {
  command = plan
  variables {
    policy_s3_bucket   = "platform-config"
    policy_s3_key      = "pullheal/prod.yaml"
    policy_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  }
  assert {
    condition     = length(aws_ssm_parameter.policy) == 0 && aws_s3_object.policy[0].bucket == "platform-config" && aws_s3_object.policy[0].server_side_encryption == "aws:kms"
    error_message = "the policy is an SSE-KMS object in the bucket"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment, { name = "PULLHEAL_POLICY", value = "s3://platform-config/pullheal/prod.yaml" })
    error_message = "the agent reads the policy from S3"
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid => s.Resource if contains(["ReadPolicyObject", "ReadPolicyParameter", "DecryptPolicy"], s.Sid) } == {
      ReadPolicyObject = ["arn:aws:s3:::platform-config/pullheal/prod.yaml"]
      DecryptPolicy    = ["arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"]
    }
    error_message = "s3:GetObject on the one object and kms:Decrypt on its key; no SSM grant"
  }
}

run "secure_string_parameter" {
  command = plan
  variables {
    policy_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  }
  assert {
    condition     = aws_ssm_parameter.policy[0].type == "SecureString" && aws_ssm_parameter.policy[0].key_id == var.policy_kms_key_arn
    error_message = "with a key the parameter is a SecureString under it"
  }
}

run "docker_hub_credentials_create_secret_rule_and_template" {
  command = plan
  variables {
    dockerhub_credentials = { username = "acme", access_token = "dckr_pat_example" }
  }
  assert {
    condition     = aws_secretsmanager_secret.dockerhub[0].name == "ecr-pullthroughcache/pullheal-docker-hub"
    error_message = "the secret's name starts with ecr-pullthroughcache/, as ECR requires"
  }
  assert {
    condition     = aws_ecr_pull_through_cache_rule.docker_hub[0].upstream_registry_url == "registry-1.docker.io" && aws_ecr_pull_through_cache_rule.docker_hub[0].credential_arn == aws_secretsmanager_secret.dockerhub[0].arn
    error_message = "the rule uses the created secret"
  }
  assert {
    condition     = aws_ecr_repository_creation_template.docker_hub[0].prefix == "docker-hub" && aws_ecr_repository_creation_template.docker_hub[0].applied_for == toset(["PULL_THROUGH_CACHE"])
    error_message = "the creation template covers the cache's prefix"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment, { name = "PULLHEAL_DOCKERHUB_SECRET", value = aws_secretsmanager_secret.dockerhub[0].arn })
    error_message = "the agent mirrors with the same account"
  }
}

run "existing_rule_left_alone" {
  command = plan
  variables {
    dockerhub_secret_arn                = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
    create_pull_through_cache_rule      = false
    manage_registry_policy              = false
    create_repository_creation_template = true
  }
  assert {
    condition     = length(aws_ecr_pull_through_cache_rule.docker_hub) == 0 && length(aws_ecr_repository_creation_template.docker_hub) == 0 && length(aws_ecr_registry_policy.pull_through) == 0 && length(aws_secretsmanager_secret.dockerhub) == 0
    error_message = "nothing is created in ECR when told so"
  }
}

run "scheduled_sync" {
  command = plan
  variables {
    sync_schedule        = "cron(0 3 * * ? *)"
    alarm_actions        = ["arn:aws:sns:eu-west-1:123456789012:ops"]
    dockerhub_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
    containers = {
      nginx = { tags = ["1.27"] }
    }
  }
  assert {
    condition     = aws_scheduler_schedule.sync[0].schedule_expression == "cron(0 3 * * ? *)" && aws_scheduler_schedule.sync[0].target[0].ecs_parameters[0].task_definition_arn == aws_ecs_task_definition.sync[0].arn
    error_message = "the schedule runs the sync task definition"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.sync[0].container_definitions)[0].command == ["sync"] && jsondecode(aws_ecs_task_definition.sync[0].container_definitions)[0].image == var.image
    error_message = "the sync runs `pullheal sync` from the same image"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.sync[0].container_definitions)[0].environment, { name = "PULLHEAL_POLICY", value = "ssm:/pullheal/policy" })
    error_message = "the sync reads the same policy"
  }
  assert {
    condition     = aws_ecs_task_definition.sync[0].task_role_arn == aws_iam_role.sync[0].arn && aws_iam_role.sync[0].arn != aws_iam_role.task.arn
    error_message = "the sync has a role of its own"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.sync[0].policy).Statement : s.Sid] == [
      "EcrCredentials", "MirrorIntoPrivateEcr", "ReadDockerHubCredentials", "ReadPolicyParameter",
    ]
    error_message = "the sync role may mirror, read the Docker Hub secret and the policy, nothing else"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.sync[0].policy).Statement : s.Resource if s.Sid == "ReadDockerHubCredentials"]) == [var.dockerhub_secret_arn]
    error_message = "the sync reads only the Docker Hub secret it is given"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement : [s.Action, s.Resource]] == [
      ["ecs:RunTask", "${aws_ecs_task_definition.sync[0].arn_without_revision}:*"],
      ["ecs:TagResource", "arn:aws:ecs:eu-west-1:123456789012:task/*"],
      ["iam:PassRole", [aws_iam_role.execution.arn, aws_iam_role.sync[0].arn]],
      ["sqs:SendMessage", aws_sqs_queue.sync_dlq[0].arn],
    ]
    error_message = "the scheduler role runs the sync task, passes its two roles and dead-letters, nothing else"
  }
  assert {
    condition     = aws_cloudwatch_log_group.sync[0].name == "/ecs/pullheal-sync" && aws_cloudwatch_log_metric_filter.sync_failures[0].log_group_name == aws_cloudwatch_log_group.sync[0].name
    error_message = "the sync logs to its own group, which feeds the failure metric"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.sync_failed[0].alarm_name == "pullheal-sync-failed"
    error_message = "a failed sync raises an alarm"
  }
  assert {
    condition = (aws_cloudwatch_log_metric_filter.sync_failures[0].metric_transformation[0].name == "SyncFailures-pullheal" &&
    one([for q in aws_cloudwatch_metric_alarm.sync_failed[0].metric_query : q.metric[0].metric_name if q.id == "runs"]) == "SyncFailures-pullheal")
    error_message = "the failure metric is this deployment's own (named after var.name), so that another deployment's failures do not raise this alarm"
  }
  assert {
    condition     = yamldecode(aws_ssm_parameter.policy[0].value).images[0].match == ["nginx"]
    error_message = "the containers map is what the sync mirrors"
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.sync_stopped[0].event_pattern) == {
      source        = ["aws.ecs"]
      "detail-type" = ["ECS Task State Change"]
      detail = {
        clusterArn        = ["arn:aws:ecs:eu-west-1:123456789012:cluster/prod"]
        taskDefinitionArn = [{ prefix = "arn:aws:ecs:eu-west-1:123456789012:task-definition/pullheal-sync:" }]
        lastStatus        = ["STOPPED"]
        "$or" = [
          { stopCode = ["TaskFailedToStart"] },
          { containers = { exitCode = [{ "anything-but" = 0 }] } },
          { containers = { exitCode = [{ exists = false }] } },
        ]
      }
    }
    error_message = "the stopped-sync rule takes this deployment's sync family in its cluster, STOPPED, and a failure to start, an exit code other than 0 or none: ${aws_cloudwatch_event_rule.sync_stopped[0].event_pattern}"
  }
  assert {
    condition     = aws_ecs_task_definition.sync[0].family == "pullheal-sync" && aws_scheduler_schedule.sync[0].target[0].ecs_parameters[0].group == "pullheal-sync"
    error_message = "the family the rule names is the sync task definition's"
  }
  assert {
    condition     = aws_cloudwatch_event_target.sync_stopped[0].rule == aws_cloudwatch_event_rule.sync_stopped[0].name && aws_cloudwatch_event_target.sync_stopped[0].arn == aws_cloudwatch_log_group.sync[0].arn
    error_message = "the rule writes the stop events into the sync's log group"
  }
  assert {
    condition = (jsondecode(aws_cloudwatch_log_resource_policy.sync_events[0].policy_document).Statement[0].Resource == "${aws_cloudwatch_log_group.sync[0].arn}:*" &&
      jsondecode(aws_cloudwatch_log_resource_policy.sync_events[0].policy_document).Statement[0].Action == ["logs:CreateLogStream", "logs:PutLogEvents"] &&
    contains(jsondecode(aws_cloudwatch_log_resource_policy.sync_events[0].policy_document).Statement[0].Principal.Service, "events.amazonaws.com"))
    error_message = "EventBridge may write into the sync's log group, and only there"
  }
  assert {
    condition = (aws_cloudwatch_metric_alarm.sync_stopped[0].alarm_name == "pullheal-sync-stopped" &&
      aws_cloudwatch_metric_alarm.sync_stopped[0].namespace == "AWS/Events" &&
      aws_cloudwatch_metric_alarm.sync_stopped[0].metric_name == "TriggeredRules" &&
      aws_cloudwatch_metric_alarm.sync_stopped[0].dimensions == tomap({ RuleName = "pullheal-sync-stopped" }) &&
      aws_cloudwatch_event_rule.sync_stopped[0].name == "pullheal-sync-stopped" &&
      aws_cloudwatch_metric_alarm.sync_stopped[0].statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.sync_stopped[0].comparison_operator == "GreaterThanThreshold" &&
    aws_cloudwatch_metric_alarm.sync_stopped[0].threshold == 0)
    error_message = "a match of the stopped-sync rule raises the alarm pullheal-sync-stopped"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.sync_stopped[0].alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:ops"]) && aws_cloudwatch_metric_alarm.sync_stopped[0].alarm_actions == aws_cloudwatch_metric_alarm.sync_failed[0].alarm_actions && aws_cloudwatch_metric_alarm.sync_stopped[0].ok_actions == aws_cloudwatch_metric_alarm.sync_failed[0].ok_actions
    error_message = "the stopped-sync alarm notifies where the sync failure alarm does"
  }
}

run "pass_role_star_refused" {
  command = plan
  variables {
    pass_role_pattern = "*"
  }
  expect_failures = [var.pass_role_pattern]
}

run "update_mode_with_own_policy_refused" {
  command = plan
  variables {
    policy      = "version: 1\n"
    update_mode = "propose"
  }
  expect_failures = [aws_ssm_parameter.policy]
}

run "kms_alias_refused" {
  command = plan
  variables {
    policy = "version: 1\nmirror:\n  repository:\n    encryption:\n      type: KMS\n      kmsKey: alias/ecr\n"
  }
  expect_failures = [aws_ssm_parameter.policy]
}

run "customisation_outside_pullheal_refused" {
  command = plan
  variables {
    containers = { "hashicorp/vault" = { tags = ["1.14"], customize = ["RUN mkdir /etc/vault"] } }
  }
  expect_failures = [var.containers]
}
