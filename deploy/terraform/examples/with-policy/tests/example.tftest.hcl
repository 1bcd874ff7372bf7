# The with-policy example, planned offline against the mocked provider.
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

run "policy_secret_and_rule" {
  command = plan

  variables {
    dockerhub_username     = "acme"
    dockerhub_access_token = "dckr_pat_example"
  }

  assert {
    condition     = output.policy_location == "ssm:/pullheal/policy"
    error_message = "the agent reads the policy from SSM"
  }
  assert {
    condition     = output.dockerhub_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/mocked-AbCdEf"
    error_message = "the module created the Docker Hub secret"
  }
  assert {
    condition     = output.pull_through_prefixes == tolist(["docker-hub", "ecr-public"])
    error_message = "both caches are granted"
  }
  assert {
    condition = { for s in jsondecode(output.agent_role_policy).Statement : s.Sid => s.Resource if contains(["PullThroughPreflight", "UseMirrorRepositoryKeys", "PassWorkloadRolesToEcsTasks", "ReadDockerHubCredentials"], s.Sid) } == {
      PullThroughPreflight = [
        "arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*",
        "arn:aws:ecr:eu-west-1:123456789012:repository/ecr-public/*",
      ]
      UseMirrorRepositoryKeys     = ["arn:aws:kms:eu-west-1:123456789012:key/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"]
      PassWorkloadRolesToEcsTasks = ["arn:aws:iam::123456789012:role/app-*"]
      ReadDockerHubCredentials = [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/*",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/mocked-AbCdEf",
      ]
    }
    error_message = "prefixes, the policy's KMS key, the pass-role pattern and the secret are granted"
  }
}
