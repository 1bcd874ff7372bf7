# The scheduled-sync example, planned offline against the mocked provider.
mock_provider "aws" {
  source          = "../../tests/mocks"
  override_during = plan
}

variables {
  cluster         = "prod"
  subnets         = ["subnet-0123456789abcdef0"]
  security_groups = ["sg-0123456789abcdef0"]
  image           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pullheal:1.0.0"
}

run "nightly_sync_of_the_containers" {
  command = plan

  variables {
    dockerhub_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
  }

  assert {
    condition     = output.policy == file("../../tests/testdata/generated-sync-example.yaml")
    error_message = "the containers map is the policy's mirror allowlist: ${output.policy}"
  }
  assert {
    condition     = output.sync_schedule_arn != null && length(output.alarm_arns) == 4
    error_message = "a schedule and four alarms (two of them the sync's: failed, stopped)"
  }
  assert {
    condition = [for s in jsondecode(output.sync_role_policy).Statement : [s.Sid, s.Resource]] == [
      ["EcrCredentials", ["*"]],
      ["MirrorIntoPrivateEcr", ["arn:aws:ecr:eu-west-1:123456789012:repository/ecsclone/*"]],
      ["ReadDockerHubCredentials", [var.dockerhub_secret_arn]],
      ["ReadPolicyParameter", ["arn:aws:ssm:eu-west-1:123456789012:parameter/pullheal/policy"]],
    ]
    error_message = "the sync role writes ecsclone/ only and reads the secret and the policy"
  }
  assert {
    condition     = one([for s in jsondecode(output.agent_role_policy).Statement : s.Resource if s.Sid == "MirrorIntoPrivateEcr"]) == ["arn:aws:ecr:eu-west-1:123456789012:repository/ecsclone/*"]
    error_message = "the agent mirrors under the same prefix"
  }
}
