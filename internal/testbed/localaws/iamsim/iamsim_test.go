package iamsim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/iampolicy"
	"github.com/pullheal/pullheal/internal/testbed/localaws/iamsim"
)

const (
	account = "123456789012"
	trust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	repo    = "arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/library/nginx"
)

func client(t *testing.T) (*iam.Client, *iamsim.IAM) {
	t.Helper()
	sim := iamsim.New(account, nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}), sim
}

// TestSimulateTaskExecutionRole checks the evaluation SimulatePrincipalPolicy
// reports, through the real SDK client, for the roles a healed task may
// pull with.
func TestSimulateTaskExecutionRole(t *testing.T) {
	ctx := context.Background()
	c, sim := client(t)
	for _, name := range []string{"managed-only", "with-cache", "denied"} {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(iamsim.TaskExecutionPolicyArn)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(role, doc string) {
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("extra"), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	put("with-cache", `{"Version":"2012-10-17","Statement":[{"Sid":"Cache","Effect":"Allow","Action":["ecr:BatchImport*","ecr:CreateRepository"],"Resource":"arn:aws:ecr:*:123456789012:repository/docker-hub/*"}]}`)
	put("denied", `{"Version":"2012-10-17","Statement":[{"Sid":"NoHub","Effect":"Deny","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`)
	actions := []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
	for _, tc := range []struct {
		role string
		want []iamtypes.PolicyEvaluationDecisionType
	}{
		{"managed-only", []iamtypes.PolicyEvaluationDecisionType{"allowed", "allowed", "implicitDeny", "implicitDeny"}},
		{"with-cache", []iamtypes.PolicyEvaluationDecisionType{"allowed", "allowed", "allowed", "allowed"}},
		{"denied", []iamtypes.PolicyEvaluationDecisionType{"explicitDeny", "explicitDeny", "explicitDeny", "explicitDeny"}},
	} {
		out, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String("arn:aws:iam::" + account + ":role/" + tc.role),
			ActionNames:     actions, ResourceArns: []string{repo},
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.role, err)
		}
		var got []iamtypes.PolicyEvaluationDecisionType
		for _, r := range out.EvaluationResults {
			got = append(got, r.EvalDecision)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.role, diff)
		}
		d, err := sim.Allowed("arn:aws:sts::"+account+":assumed-role/"+tc.role+"/task", "ecr:BatchGetImage", repo)
		if err != nil || string(d) != string(tc.want[0]) {
			t.Errorf("Allowed(%s) = %s, %v; want %s", tc.role, d, err, tc.want[0])
		}
	}

	// A registry policy (resource-based) can grant what the role lacks,
	// and an explicit deny in it wins over the role's allow.
	registry, err := iampolicy.ParsePolicy(`{"Version":"2012-10-17","Statement":[{"Sid":"PTC","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:CreateRepository","ecr:BatchImportUpstreamImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := sim.Allowed("arn:aws:iam::"+account+":role/managed-only", "ecr:BatchImportUpstreamImage", repo, registry); d != iamsim.Allowed {
		t.Errorf("registry policy grant: %s, want allowed", d)
	}
	if _, err := sim.Allowed("arn:aws:iam::"+account+":role/nobody", "ecr:BatchGetImage", repo); !errors.Is(err, iamsim.ErrNoSuchEntity) {
		t.Errorf("unknown role: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := client(t)
	_, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::123456789012:role/none"), ActionNames: []string{"ecr:BatchGetImage"}})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("simulate for a missing role: %v, want NoSuchEntity", err)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":[{"Effect":"Maybe","Action":"x"}]}`)})
	var mal *iamtypes.MalformedPolicyDocumentException
	if !errors.As(err, &mal) {
		t.Errorf("malformed trust policy: %v, want MalformedPolicyDocument", err)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust)})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("second CreateRole: %v, want EntityAlreadyExists", err)
	}
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")})
	if err != nil || aws.ToString(got.Role.Arn) != "arn:aws:iam::123456789012:role/r" {
		t.Fatalf("GetRole: %+v, %v", got, err)
	}
	att, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("r")})
	if err != nil || len(att.AttachedPolicies) != 0 {
		t.Errorf("ListAttachedRolePolicies: %+v, %v", att, err)
	}
}

// TestInstanceProfiles: a profile holds one role, GetInstanceProfile
// returns it as the SDK reads it, and unknown names are NoSuchEntity as
// IAM words it.
func TestInstanceProfiles(t *testing.T) {
	ctx := context.Background()
	c, sim := client(t)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ecsInstanceRole"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("ecsInstanceProfile"), Path: aws.String("/ecs/")})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:iam::123456789012:instance-profile/ecs/ecsInstanceProfile"
	if got := aws.ToString(created.InstanceProfile.Arn); got != arn {
		t.Errorf("arn %s, want %s", got, arn)
	}
	if role, err := sim.ProfileRole(arn); err != nil || role != "" {
		t.Errorf("ProfileRole before a role is added: %q, %v; want none", role, err)
	}
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("ecsInstanceProfile"), RoleName: aws.String("ecsInstanceRole")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("ecsInstanceProfile"), RoleName: aws.String("ecsInstanceRole")})
	var le *iamtypes.LimitExceededException
	if !errors.As(err, &le) {
		t.Errorf("a second role: %v, want LimitExceeded", err)
	}
	got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("ecsInstanceProfile")})
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::123456789012:role/ecsInstanceRole"
	if p := got.InstanceProfile; aws.ToString(p.Arn) != arn || len(p.Roles) != 1 || aws.ToString(p.Roles[0].Arn) != role || aws.ToString(p.Path) != "/ecs/" {
		t.Errorf("profile %+v", p)
	}
	// IAM's unique IDs: a prefix for the kind and 17 letters and digits.
	if id := aws.ToString(got.InstanceProfile.InstanceProfileId); !regexp.MustCompile(`^AIPA[A-Z0-9]{17}$`).MatchString(id) {
		t.Errorf("instance profile ID %q is not IAM's AIPA... form", id)
	}
	if id := aws.ToString(got.InstanceProfile.Roles[0].RoleId); !regexp.MustCompile(`^AROA[A-Z0-9]{17}$`).MatchString(id) {
		t.Errorf("role ID %q is not IAM's AROA... form", id)
	}
	if r, err := sim.ProfileRole(arn); err != nil || r != role {
		t.Errorf("ProfileRole: %q, %v; want %s", r, err, role)
	}
	_, err = c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("nope")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || aws.ToString(nse.Message) != "Instance Profile nope cannot be found." {
		t.Errorf("unknown profile: %v, want NoSuchEntity", err)
	}
	if _, err := sim.ProfileRole("arn:aws:iam::123456789012:instance-profile/nope"); !errors.Is(err, iamsim.ErrNoSuchEntity) {
		t.Errorf("ProfileRole of an unknown profile: %v", err)
	}
}

// TestPolicyDocumentsAreRFC3986Encoded: IAM returns policy documents
// URL-encoded per RFC 3986, so a pretty-printed document's spaces come back
// as %20 (a "+" would stay a "+" for a path decoder) and decode to the
// document as it was put.
func TestPolicyDocumentsAreRFC3986Encoded(t *testing.T) {
	ctx := context.Background()
	c, _ := client(t)
	doc := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"ecr:*\", \"Resource\": \"arn:aws:ecr:*:123456789012:repository/a+b/*\"}]\n}"
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	got := aws.ToString(out.PolicyDocument)
	if regexp.MustCompile(`[^A-Za-z0-9%._~-]`).MatchString(got) || !regexp.MustCompile(`%20`).MatchString(got) {
		t.Errorf("document %q: want every reserved byte and space as %%XX", got)
	}
	if dec, err := url.PathUnescape(got); err != nil || dec != doc {
		t.Errorf("decoded document = %q, %v; want the document put", dec, err)
	}
}
