package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pullheal/pullheal/internal/policysource"
)

const denyRedis = "version: 1\nregistry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\ndeny:\n  - match: docker.io/bitnami/redis\n    reason: banned in this test\n"

// policyBed is the test bed with a policy in S3 and in SSM (a
// SecureString), an invalid one in S3, and the SDK pointed at it through
// the environment.
func policyBed(t *testing.T) {
	t.Helper()
	srv := testBed(t)
	ctx := context.Background()
	s3c := policysource.NewS3Client(srv.AWSConfig())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{"deny-redis.yaml": denyRedis, "invalid.yaml": "version: 1\nregistry: [\n"} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ssm.NewFromConfig(srv.AWSConfig()).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/pullheal/policy"),
		Value: aws.String(denyRedis), Type: ssmtypes.ParameterTypeSecureString})
	if err != nil {
		t.Fatal(err)
	}
}

// explain applies a policy read from S3 or SSM.
func TestExplainWithRemotePolicy(t *testing.T) {
	policyBed(t)
	for _, location := range []string{"s3://policies/deny-redis.yaml", "ssm:/pullheal/policy"} {
		code, stdout, stderr := runCLI(t, "", "explain", "--output", "json", "--pull-through", "docker.io=docker-hub",
			"--policy", location, "testdata/events/ec2-daemon-rate-limited.json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", location, code, stderr)
		}
		var got struct {
			Containers []struct{ Route, Target string }
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Containers) != 1 || got.Containers[0].Route != "deny" {
			t.Errorf("%s: %s, want the policy's deny", location, stdout)
		}
	}
}

// Every command that takes --policy names a location it cannot use in one
// line and exits 2.
func TestRemotePolicyBadInput(t *testing.T) {
	policyBed(t)
	event := "testdata/events/ec2-daemon-rate-limited.json"
	locations := []struct{ location, want string }{
		{"s3://policies/missing.yaml", "pullheal: s3://policies/missing.yaml: no such object (NoSuchKey)"},
		{"s3://nobucket/p.yaml", "pullheal: s3://nobucket/p.yaml: no such bucket (NoSuchBucket)"},
		{"ssm:/pullheal/missing", "pullheal: ssm:/pullheal/missing: no such parameter (ParameterNotFound)"},
		{"s3://policies/invalid.yaml", "pullheal: s3://policies/invalid.yaml:"},
		{"s3://Policies/p.yaml", `pullheal: policy location "s3://Policies/p.yaml": bucket name`},
		{"ssm:", `pullheal: policy location "ssm:"`},
	}
	commands := map[string]func(location string) []string{
		"explain": func(l string) []string { return []string{"explain", "--registry", testRegistry, "--policy", l, event} },
		"rewrite": func(l string) []string {
			return []string{"rewrite", "--registry", testRegistry, "--policy", l, "testdata/taskdefs/fargate-describe.json"}
		},
		"mirror": func(l string) []string {
			return []string{"mirror", "--policy", l, "nginx:1.27", "127.0.0.1:1/mirror/nginx:1.27"}
		},
		"sync": func(l string) []string { return []string{"sync", "--policy", l} },
		"agent": func(l string) []string {
			return []string{"agent", "--listen", "", "--queue-url", "http://127.0.0.1:1/q", "--policy", l}
		},
	}
	for name, args := range commands {
		for _, tc := range locations {
			t.Run(name+" "+tc.location, func(t *testing.T) {
				code, _, stderr := runCLI(t, "", args(tc.location)...)
				last := lastLine(stderr)
				if code != 2 || !strings.HasPrefix(last, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
					t.Errorf("exit %d, stderr %q; want exit 2 and one line starting %q", code, stderr, tc.want)
				}
			})
		}
	}
}

// A service that cannot be reached is a failure (exit 1), not bad input.
func TestRemotePolicyUnreachable(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	code, _, stderr := runCLI(t, "", "explain", "--registry", testRegistry, "--policy", "ssm:/p", "testdata/events/running.json")
	if code != 1 || !strings.HasPrefix(lastLine(stderr), "pullheal: ssm:/p: ") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming ssm:/p", code, stderr)
	}
}

// policy validate and policy test read the same locations.
func TestPolicyCommandsWithRemotePolicy(t *testing.T) {
	policyBed(t)
	code, stdout, stderr := runCLI(t, "", "policy", "validate", "ssm:/pullheal/policy")
	if code != 0 || !strings.HasPrefix(stdout, "ssm:/pullheal/policy: valid") {
		t.Errorf("validate: exit %d, %q %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "", "policy", "validate", "s3://policies/invalid.yaml")
	if code != 2 || !strings.HasPrefix(lastLine(stderr), "pullheal: s3://policies/invalid.yaml:") {
		t.Errorf("validate invalid: exit %d, %q", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "", "policy", "test", "--policy", "s3://policies/deny-redis.yaml", "bitnami/redis:7.2")
	if code != 0 || !strings.Contains(stdout, "banned in this test") {
		t.Errorf("test: exit %d, %q %q", code, stdout, stderr)
	}
}
