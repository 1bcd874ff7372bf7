// Package fleetbed creates a fleet of ECS services through the AWS API, on
// any endpoint, for the tests and benchmarks of pullheal scan and
// pullheal revisions: many clusters, task-definition families whose images
// come from every kind of registry (Docker Hub official and user images, a
// digest-pinned one, private ECR, ECR Public, quay.io, one pullheal already
// healed), and services spread over them. The scheduler need not run.
package fleetbed

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"golang.org/x/sync/errgroup"
)

// Family is one task-definition family of the fleet.
type Family struct {
	Name string
	// Images maps container name to image; the first is essential.
	Images []Container
	// Tags are extra tags of its revision (the provenance of a healed one).
	Tags map[string]string
	// NoExecutionRole registers it without one.
	NoExecutionRole bool
}

// Container is one container of a family.
type Container struct{ Name, Image string }

// Spec shapes the fleet.
type Spec struct {
	Prefix   string // cluster names are PREFIX-00, PREFIX-01, ...
	Clusters int
	Services int // spread evenly over the clusters
	Families []Family
	// Desired gives service i its desired count (1 when nil).
	Desired func(i int) int32
	Workers int
}

// Service is one created service.
type Service struct {
	Cluster, Name     string
	Family            Family
	TaskDefinitionArn string
	Desired           int32
}

// Fleet is what Build created.
type Fleet struct {
	Clusters []string
	Services []Service
	// Revisions maps family name to its revision's ARN.
	Revisions map[string]string
}

// Build creates the clusters, registers one revision per family and
// creates the services, service i on family i mod len(Families).
func Build(ctx context.Context, c *ecs.Client, s Spec) (*Fleet, error) {
	if s.Clusters < 1 || s.Services < 1 || len(s.Families) == 0 {
		return nil, fmt.Errorf("fleet spec needs clusters, services and families")
	}
	if s.Workers < 1 {
		s.Workers = 8
	}
	if s.Desired == nil {
		s.Desired = func(int) int32 { return 1 }
	}
	f := &Fleet{Revisions: map[string]string{}}
	for i := range s.Clusters {
		name := fmt.Sprintf("%s-%02d", s.Prefix, i)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			return nil, fmt.Errorf("create cluster %s: %w", name, err)
		}
		f.Clusters = append(f.Clusters, name)
	}
	for _, fam := range s.Families {
		out, err := c.RegisterTaskDefinition(ctx, register(fam))
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", fam.Name, err)
		}
		f.Revisions[fam.Name] = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	f.Services = make([]Service, s.Services)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.Workers)
	for i := range s.Services {
		fam := s.Families[i%len(s.Families)]
		svc := Service{Cluster: f.Clusters[i%s.Clusters], Name: fmt.Sprintf("svc-%04d", i), Family: fam,
			TaskDefinitionArn: f.Revisions[fam.Name], Desired: s.Desired(i)}
		f.Services[i] = svc
		g.Go(func() error {
			_, err := c.CreateService(gctx, &ecs.CreateServiceInput{
				Cluster: aws.String(svc.Cluster), ServiceName: aws.String(svc.Name), DesiredCount: aws.Int32(svc.Desired),
				TaskDefinition: aws.String(svc.TaskDefinitionArn), LaunchType: ecstypes.LaunchTypeFargate,
				NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
					Subnets: []string{"subnet-0123456789abcdef0"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
			})
			if err != nil {
				return fmt.Errorf("create service %s/%s: %w", svc.Cluster, svc.Name, err)
			}
			return nil
		})
	}
	return f, g.Wait()
}

func register(f Family) *ecs.RegisterTaskDefinitionInput {
	in := &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(f.Name), NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"), Memory: aws.String("512"),
		ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		Tags:             []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("fleet")}},
	}
	if f.NoExecutionRole {
		in.ExecutionRoleArn = nil
	}
	for i, c := range f.Images {
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String(c.Name), Image: aws.String(c.Image), Essential: aws.Bool(i == 0)})
	}
	for k, v := range f.Tags {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return in
}
