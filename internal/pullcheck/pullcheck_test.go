package pullcheck_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

const (
	roleArn = "arn:aws:iam::123456789012:role/" + scenario.ExecutionRoleName
	cache   = `{"Version":"2012-10-17","Statement":[{"Sid":"Cache","Effect":"Allow","Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`
	denyHub = `{"Version":"2012-10-17","Statement":[{"Sid":"NoHub","Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"arn:aws:ecr:*:*:repository/docker-hub/*"}]}`
	condRP  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"web"}}}]}`
	grantRP = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`
)

// TestCheckOnTheTestBed asks the test bed's IAM and ECR through the real
// SDK clients, for the roles and registry policies a real account has.
func TestCheckOnTheTestBed(t *testing.T) {
	for _, tc := range []struct {
		name           string
		role           bool
		inline, regPol string
		req            pullcheck.Request
		want           pullcheck.Verdict
	}{
		{name: "managed policy only: the cache's first pull is refused", role: true,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Denied, Principal: roleArn, Missing: []string{"ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}}},
		{name: "identity policy grants the cache actions", role: true, inline: cache,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Allowed, Principal: roleArn}},
		{name: "registry policy grants the cache actions", role: true, regPol: grantRP,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Allowed, Principal: roleArn}},
		{name: "explicit deny wins", role: true, inline: denyHub, regPol: grantRP,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Denied, Principal: roleArn, Missing: []string{"ecr:BatchGetImage"}}},
		{name: "a mirrored image needs only pulls", role: true,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true},
			want: pullcheck.Verdict{Result: pullcheck.Allowed, Principal: roleArn}},
		{name: "a condition cannot be told", role: true, regPol: condRP,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Unknown, Principal: roleArn}},
		{name: "an identity policy with a condition cannot be told", role: true, inline: scenario.ConditionalCachePolicy,
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true, PullThrough: true},
			want: pullcheck.Verdict{Result: pullcheck.Unknown, Principal: roleArn}},
		{name: "the role does not exist",
			req:  pullcheck.Request{ExecutionRoleArn: roleArn, Fargate: true},
			want: pullcheck.Verdict{Result: pullcheck.Denied, Principal: roleArn, Missing: []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}}},
		{name: "Fargate without an execution role",
			req:  pullcheck.Request{Fargate: true},
			want: pullcheck.Verdict{Result: pullcheck.Denied, Missing: []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}}},
		{name: "EC2 without an execution role",
			req:  pullcheck.Request{},
			want: pullcheck.Verdict{Result: pullcheck.Unknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv, err := localaws.Start(ctx, localaws.Config{RestartDelay: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			c := scenario.NewClients(srv.AWSConfig())
			if tc.role {
				if _, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(scenario.ExecutionRoleName), AssumeRolePolicyDocument: aws.String(scenario.ExecutionRoleTrust)}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(scenario.ExecutionRoleName), PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.inline != "" {
				if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(scenario.ExecutionRoleName), PolicyName: aws.String("p"), PolicyDocument: aws.String(tc.inline)}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.regPol != "" {
				if _, err := c.ECR.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(tc.regPol)}); err != nil {
					t.Fatal(err)
				}
			}
			req := tc.req
			req.Region, req.Account, req.Repository = "us-east-1", "123456789012", "docker-hub/library/nginx"
			got := pullcheck.Check(ctx, pullcheck.Clients{IAM: c.IAM, ECR: c.ECR}, req)
			if got.Reason == "" {
				t.Error("no reason given")
			}
			got.Reason = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerInstanceRoleOnTheTestBed finds an EC2 task's container
// instance role through the test bed's ECS, EC2 and IAM with the real SDK
// clients, and says which call failed when a link is missing.
func TestContainerInstanceRoleOnTheTestBed(t *testing.T) {
	ctx := context.Background()
	srv, err := localaws.Start(ctx, localaws.Config{RestartDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := srv.AWSConfig()
	c := scenario.NewClients(cfg)
	sc, err := scenario.Setup(ctx, c, scenario.Options{EC2: true, NoExecutionRole: true, NoService: true, NoPullThrough: true})
	if err != nil {
		t.Fatal(err)
	}
	// A container instance whose EC2 instance the account does not have.
	stray, err := c.ECS.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(sc.Cluster),
		InstanceIdentityDocument: aws.String(`{"instanceId":"i-0fedcba9876543210"}`)})
	if err != nil {
		t.Fatal(err)
	}
	clients := pullcheck.Clients{IAM: c.IAM, ECR: c.ECR, ECS: c.ECS, EC2: c.EC2, Profiles: c.IAM}
	role := "arn:aws:iam::123456789012:role/" + scenario.ContainerInstanceRoleName
	for _, tc := range []struct {
		name, ci string
		result   pullcheck.Result
		reason   []string
	}{
		{"the instance's profile role, managed policy only", sc.ContainerInstanceArn, pullcheck.Denied,
			[]string{"container instance role " + role + " of instance " + sc.EC2InstanceID, "ecr:BatchImportUpstreamImage"}},
		{"an unknown container instance", "arn:aws:ecs:us-east-1:123456789012:container-instance/" + sc.Cluster + "/0123456789abcdef0123456789abcdef", pullcheck.Unknown,
			[]string{"ecs:DescribeContainerInstances", "MISSING"}},
		{"an instance EC2 does not know", aws.ToString(stray.ContainerInstance.ContainerInstanceArn), pullcheck.Unknown,
			[]string{"ec2:DescribeInstances", "InvalidInstanceID.NotFound", "i-0fedcba9876543210"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pullcheck.Check(ctx, clients, pullcheck.Request{Cluster: sc.Cluster, ContainerInstanceArn: tc.ci, PullThrough: true,
				Region: "us-east-1", Account: "123456789012", Repository: "docker-hub/library/nginx"})
			if got.Result != tc.result {
				t.Errorf("result %s (%s), want %s", got.Result, got.Reason, tc.result)
			}
			for _, w := range tc.reason {
				if !strings.Contains(got.Reason, w) {
					t.Errorf("reason %q does not say %q", got.Reason, w)
				}
			}
		})
	}

	// A caller that found the role already (a scan, once per container
	// instance) gets the same answer without the lookup.
	found, instance, err := pullcheck.InstanceRole(ctx, clients, sc.Cluster, sc.ContainerInstanceArn)
	if err != nil || found != role || instance != sc.EC2InstanceID {
		t.Fatalf("InstanceRole: %q on %q, %v; want %s on %s", found, instance, err, role, sc.EC2InstanceID)
	}
	judged := pullcheck.Check(ctx, pullcheck.Clients{IAM: c.IAM, ECR: c.ECR}, pullcheck.Request{InstanceRoleArn: found, PullThrough: true,
		Region: "us-east-1", Account: "123456789012", Repository: "docker-hub/library/nginx"})
	if judged.Result != pullcheck.Denied || judged.Principal != role || !strings.Contains(judged.Reason, "container instance role "+role) {
		t.Errorf("the found role judged: %+v, want denied naming container instance role %s", judged, role)
	}
	if _, _, err := pullcheck.InstanceRole(ctx, clients, sc.Cluster, aws.ToString(stray.ContainerInstance.ContainerInstanceArn)); err == nil ||
		!strings.Contains(err.Error(), "ec2:DescribeInstances") {
		t.Errorf("InstanceRole of an instance EC2 does not know: %v, want the ec2:DescribeInstances failure", err)
	}
}
