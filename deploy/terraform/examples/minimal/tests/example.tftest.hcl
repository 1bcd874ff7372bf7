# The minimal example, planned offline against the mocked provider.
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

run "pull_through_only" {
  command = plan

  assert {
    condition     = output.policy_location == "ssm:/pullheal/policy"
    error_message = "the agent reads the policy from SSM"
  }
  assert {
    condition     = yamldecode(output.policy) == { version = 1, mirror = { prefix = "mirror" }, heal = { serviceUpdate = "update" }, images = [] }
    error_message = "the generated policy mirrors nothing"
  }
  assert {
    condition = [for s in jsondecode(output.agent_role_policy).Statement : s.Sid] == [
      "ConsumeEventQueue", "ReadAndRegisterTaskDefinitions", "TagTaskDefinitionsOnRegister",
      "MarkRolledBackRevisions", "ReadStoppedTasks", "RollServices", "PassWorkloadRolesToEcsTasks", "EcrRegistryWide",
      "PullThroughPreflight", "MirrorIntoPrivateEcr", "CheckHealedTasksCanPull", "FindContainerInstanceRoles",
      "FindInstanceProfiles", "ReadEcrPermissionPolicies",
      "PublishReviewEvents", "CoordinateReplicas",
      "ReadDockerHubCredentials", "ReadPolicyParameter",
    ]
    error_message = "the agent's statements"
  }
  assert {
    condition     = one([for s in jsondecode(output.agent_role_policy).Statement : s.Condition if s.Sid == "PassWorkloadRolesToEcsTasks"]) == { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
    error_message = "roles are passed to ECS tasks only"
  }
}
