package ec2sim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ec2sim"
)

const profileArn = "arn:aws:iam::123456789012:instance-profile/ecsInstanceProfile"

func client(t *testing.T) (*ec2.Client, *ec2sim.EC2) {
	t.Helper()
	sim := ec2sim.New(ec2sim.Config{Account: "123456789012", Region: "us-east-1"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}), sim
}

// TestRunAndDescribe: instances launched with and without a profile read
// back through the real SDK client as EC2 returns them.
func TestRunAndDescribe(t *testing.T) {
	ctx := context.Background()
	c, sim := client(t)
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0abcdef1234567890"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		InstanceType: ec2types.InstanceTypeT3Micro, IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Arn: aws.String(profileArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || run.Instances[0].State.Name != ec2types.InstanceStateNameRunning || aws.ToString(run.OwnerId) != "123456789012" {
		t.Fatalf("RunInstances %+v", run)
	}
	bare, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0abcdef1234567890"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	byName, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0abcdef1234567890"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("ecsInstanceProfile")}})
	if err != nil {
		t.Fatal(err)
	}
	id, bareID, nameID := aws.ToString(run.Instances[1].InstanceId), aws.ToString(bare.Instances[0].InstanceId), aws.ToString(byName.Instances[0].InstanceId)
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id, bareID, nameID}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			p := ""
			if i.IamInstanceProfile != nil {
				p = aws.ToString(i.IamInstanceProfile.Arn)
			}
			got[aws.ToString(i.InstanceId)] = p
			if i.InstanceType == "" || i.State == nil || i.State.Name != ec2types.InstanceStateNameRunning || i.LaunchTime == nil {
				t.Errorf("instance %+v lacks its type, state or launch time", i)
			}
		}
	}
	want := map[string]string{id: profileArn, bareID: "", nameID: profileArn}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("instance %s: profile %q (listed %v), want %q", k, g, ok, v)
		}
	}
	if len(got) != 3 {
		t.Errorf("described %d instances, want the 3 asked for", len(got))
	}
	if i, ok := sim.Lookup(id); !ok || i.ProfileArn != profileArn {
		t.Errorf("Lookup(%s) = %+v, %v", id, i, ok)
	}
	all, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Reservations) != 3 {
		t.Errorf("all: %d reservations, want 3", len(all.Reservations))
	}
}

// TestDescribeErrors: EC2's codes and texts, through the SDK.
func TestDescribeErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := client(t)
	for _, tc := range []struct {
		ids        []string
		code, text string
	}{
		{[]string{"i-0123456789abcdef0"}, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"},
		{[]string{"i-0123456789abcdef0", "i-01234567"}, "InvalidInstanceID.NotFound", "The instance IDs 'i-0123456789abcdef0, i-01234567' do not exist"},
		{[]string{"web-1"}, "InvalidInstanceID.Malformed", `Invalid id: "web-1"`},
	} {
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: tc.ids})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.text {
			t.Errorf("%v: %v, want %s: %s", tc.ids, err, tc.code, tc.text)
		}
	}
	_, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(3), MaxCount: aws.Int32(1)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("MinCount > MaxCount: %v", err)
	}
}
