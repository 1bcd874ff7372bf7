package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// ECS is agent.ECSAPI: task definitions with tags, services, tasks.
type ECS struct {
	Calls
	// Prefix is the ARN prefix of task definitions
	// ("arn:aws:ecs:us-east-1:123456789012:task-definition/").
	Prefix string

	mu       sync.Mutex
	defs     map[string]ecstypes.TaskDefinition // by ARN
	tags     map[string][]ecstypes.Tag
	revs     map[string]int32 // last revision by family
	Services map[string]*ecstypes.Service
	Tasks    map[string]ecstypes.Task
	Updates  []ecs.UpdateServiceInput
}

// NewECS returns an empty ECS of account 123456789012 in us-east-1.
func NewECS() *ECS {
	return &ECS{Prefix: "arn:aws:ecs:us-east-1:123456789012:task-definition/", defs: map[string]ecstypes.TaskDefinition{},
		tags: map[string][]ecstypes.Tag{}, revs: map[string]int32{}, Services: map[string]*ecstypes.Service{}, Tasks: map[string]ecstypes.Task{}}
}

func notFound(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ClientException", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func (f *ECS) RegisterTaskDefinition(_ context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	if err := f.record("RegisterTaskDefinition"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	family := aws.ToString(in.Family)
	f.revs[family]++
	arn := fmt.Sprintf("%s%s:%d", f.Prefix, family, f.revs[family])
	td := ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(arn), Family: in.Family, Revision: f.revs[family],
		ContainerDefinitions: in.ContainerDefinitions, ExecutionRoleArn: in.ExecutionRoleArn, RequiresCompatibilities: in.RequiresCompatibilities,
		NetworkMode: in.NetworkMode, Cpu: in.Cpu, Memory: in.Memory, Status: ecstypes.TaskDefinitionStatusActive}
	f.defs[arn], f.tags[arn] = td, in.Tags
	return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: &td, Tags: in.Tags}, nil
}

func (f *ECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	if err := f.record("DescribeTaskDefinition"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	td, ok := f.defs[aws.ToString(in.TaskDefinition)]
	if !ok {
		return nil, notFound("Unable to describe task definition.")
	}
	out := &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &td}
	if len(in.Include) > 0 {
		out.Tags = f.tags[aws.ToString(td.TaskDefinitionArn)]
	}
	return out, nil
}

// ListTaskDefinitions lists a family's revisions, newest first (the
// agent asks for SortOrderDesc), in one page.
func (f *ECS) ListTaskDefinitions(_ context.Context, in *ecs.ListTaskDefinitionsInput, _ ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error) {
	if err := f.record("ListTaskDefinitions"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	family := aws.ToString(in.FamilyPrefix)
	var arns []string
	for r := f.revs[family]; r > 0; r-- {
		arns = append(arns, fmt.Sprintf("%s%s:%d", f.Prefix, family, r))
	}
	return &ecs.ListTaskDefinitionsOutput{TaskDefinitionArns: arns}, nil
}

func (f *ECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if err := f.record("DescribeServices"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		if s, ok := f.Services[name]; ok {
			out.Services = append(out.Services, *s)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(name), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *ECS) UpdateService(_ context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	if err := f.record("UpdateService"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.Services[aws.ToString(in.Service)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ServiceNotFoundException", Message: "Service not found."}
	}
	s.TaskDefinition = in.TaskDefinition
	f.Updates = append(f.Updates, *in)
	return &ecs.UpdateServiceOutput{Service: s}, nil
}

// TagResource adds or replaces tags of a registered revision.
func (f *ECS) TagResource(_ context.Context, in *ecs.TagResourceInput, _ ...func(*ecs.Options)) (*ecs.TagResourceOutput, error) {
	if err := f.record("TagResource"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := aws.ToString(in.ResourceArn)
	if _, ok := f.tags[arn]; !ok {
		return nil, &smithy.GenericAPIError{Code: "InvalidParameterException", Message: "The specified resource could not be found."}
	}
	for _, t := range in.Tags {
		kept := f.tags[arn][:0]
		for _, old := range f.tags[arn] {
			if aws.ToString(old.Key) != aws.ToString(t.Key) {
				kept = append(kept, old)
			}
		}
		f.tags[arn] = append(kept, t)
	}
	return &ecs.TagResourceOutput{}, nil
}

func (f *ECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	if err := f.record("DescribeTasks"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		if t, ok := f.Tasks[arn]; ok {
			out.Tasks = append(out.Tasks, t)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

// Revisions returns the ARNs registered for family, oldest first.
func (f *ECS) Revisions(family string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for r := int32(1); r <= f.revs[family]; r++ {
		out = append(out, fmt.Sprintf("%s%s:%d", f.Prefix, family, r))
	}
	return out
}

// Tags returns the tags of a registered revision as a map.
func (f *ECS) Tags(arn string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]string{}
	for _, t := range f.tags[arn] {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// Service adds an ACTIVE service running taskDefinition.
func (f *ECS) Service(name, taskDefinition string, controller ecstypes.DeploymentControllerType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Services[name] = &ecstypes.Service{ServiceName: aws.String(name), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(taskDefinition),
		DesiredCount: 2, DeploymentController: &ecstypes.DeploymentController{Type: controller}}
}
