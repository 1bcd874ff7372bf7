package pullcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// InstanceProfiles is the part of the IAM client that finds a container
// instance's role.
type InstanceProfiles interface {
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, opts ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
}

// ECS is the part of the ECS client that finds a container instance's
// EC2 instance.
type ECS interface {
	DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, opts ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
}

// EC2 is the part of the EC2 client that finds an instance's profile.
type EC2 interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// InstanceRole finds the role an EC2 task on the cluster's container
// instance pulls with when its task definition has no execution role: the
// role of the instance's EC2 instance profile, as Check finds it
// (ecs:DescribeContainerInstances, ec2:DescribeInstances,
// iam:GetInstanceProfile), and the EC2 instance's ID. The error says which
// call failed and why.
func InstanceRole(ctx context.Context, c Clients, cluster, containerInstanceArn string) (role, instance string, err error) {
	return instanceRole(ctx, c, Request{Cluster: cluster, ContainerInstanceArn: containerInstanceArn})
}

// instanceRole finds the role of the container instance's EC2 instance
// profile, and the instance's ID. The error says which call failed and why.
func instanceRole(ctx context.Context, c Clients, r Request) (role, instance string, err error) {
	switch {
	case r.ContainerInstanceArn == "":
		return "", "", errors.New("the event names no container instance")
	case c.ECS == nil || c.EC2 == nil || c.Profiles == nil:
		return "", "", errors.New("this agent has no clients to look the role up")
	}
	ci, err := c.ECS.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: nilIfEmpty(r.Cluster), ContainerInstances: []string{r.ContainerInstanceArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("ecs:DescribeContainerInstances of %s failed: %v", r.ContainerInstanceArn, short(err))
	}
	if len(ci.ContainerInstances) == 0 {
		reason := "no such container instance"
		if len(ci.Failures) > 0 {
			reason = aws.ToString(ci.Failures[0].Reason)
		}
		return "", "", fmt.Errorf("ecs:DescribeContainerInstances does not find %s (%s)", r.ContainerInstanceArn, reason)
	}
	instance = aws.ToString(ci.ContainerInstances[0].Ec2InstanceId)
	if instance == "" {
		return "", "", fmt.Errorf("ecs:DescribeContainerInstances gives no EC2 instance for %s", r.ContainerInstanceArn)
	}
	ins, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instance}})
	if err != nil {
		return "", instance, fmt.Errorf("ec2:DescribeInstances of %s failed: %v", instance, short(err))
	}
	var profile string
	found := false
	for _, res := range ins.Reservations {
		for _, i := range res.Instances {
			if aws.ToString(i.InstanceId) != instance {
				continue
			}
			found = true
			if i.IamInstanceProfile != nil {
				profile = aws.ToString(i.IamInstanceProfile.Arn)
			}
		}
	}
	switch {
	case !found:
		return "", instance, fmt.Errorf("ec2:DescribeInstances does not find instance %s", instance)
	case profile == "":
		return "", instance, fmt.Errorf("instance %s has no IAM instance profile (ec2:DescribeInstances)", instance)
	}
	// The profile's name is the ARN's last path segment
	// (arn:aws:iam::ACCOUNT:instance-profile[/path]/NAME).
	name := profile[strings.LastIndexAny(profile, "/:")+1:]
	out, err := c.Profiles.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		return "", instance, fmt.Errorf("iam:GetInstanceProfile of %s (instance %s) failed: %v", name, instance, short(err))
	}
	if out.InstanceProfile == nil || len(out.InstanceProfile.Roles) == 0 {
		return "", instance, fmt.Errorf("instance profile %s of instance %s has no role (iam:GetInstanceProfile)", name, instance)
	}
	return aws.ToString(out.InstanceProfile.Roles[0].Arn), instance, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
