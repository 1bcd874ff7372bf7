package ecssim_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
)

// pullLog is a Puller that keeps the requests and lets every pull
// succeed.
type pullLog struct {
	mu   sync.Mutex
	reqs []ecssim.PullRequest
}

func (p *pullLog) Pull(_ context.Context, req ecssim.PullRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req)
	return nil
}

// TestContainerInstances: an instance registers as the ECS agent does
// (an instance identity document naming the EC2 instance), reads back
// with DescribeContainerInstances, and EC2 tasks are placed on it; the
// pull of a task without an execution role names its EC2 instance.
func TestContainerInstances(t *testing.T) {
	ctx := context.Background()
	pulls := &pullLog{}
	b := newBed(t, pulls)
	b.createCluster(t, "web")
	doc := `{"accountId":"123456789012","instanceId":"i-0123456789abcdef0","region":"us-east-1","instanceType":"t3.micro"}`
	reg, err := b.client.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("web"),
		InstanceIdentityDocument: aws.String(doc), InstanceIdentityDocumentSignature: aws.String("sig")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	missing := "arn:aws:ecs:us-east-1:123456789012:container-instance/web/00000000000000000000000000000000"
	out, err := b.client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("web"), ContainerInstances: []string{arn, missing}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 1 || aws.ToString(out.ContainerInstances[0].Ec2InstanceId) != "i-0123456789abcdef0" ||
		aws.ToString(out.ContainerInstances[0].Status) != "ACTIVE" || !out.ContainerInstances[0].AgentConnected {
		t.Errorf("container instances %+v", out.ContainerInstances)
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != missing || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("failures %+v, want %s MISSING", out.Failures, missing)
	}
	_, err = b.client.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("web")})
	var ipe *ecstypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Errorf("without an identity document: %v, want InvalidParameterException", err)
	}
	_, err = b.client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("nope"), ContainerInstances: []string{arn}})
	var cnf *ecstypes.ClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Errorf("unknown cluster: %v, want ClusterNotFoundException", err)
	}

	td := register(t, b.client, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"), RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1"), Essential: aws.Bool(true), Memory: aws.Int32(128)}},
	})
	run, err := b.client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("web"), TaskDefinition: aws.String(td), LaunchType: ecstypes.LaunchTypeEc2})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(run.Tasks[0].ContainerInstanceArn); got != arn {
		t.Errorf("task placed on %s, want the registered %s", got, arn)
	}
	b.tick(t)
	pulls.mu.Lock()
	defer pulls.mu.Unlock()
	if len(pulls.reqs) != 1 || pulls.reqs[0].Auth.EC2InstanceID != "i-0123456789abcdef0" || pulls.reqs[0].Auth.ExecutionRoleArn != "" {
		t.Errorf("pulls %+v, want one naming instance i-0123456789abcdef0 and no execution role", pulls.reqs)
	}
}
