// Package scenario sets up the workload pullheal heals, through the AWS
// APIs, on any endpoint: a Docker-Hub-backed Fargate service, the
// EventBridge rule and queue that carry its stop events, a pull-through
// cache rule for Docker Hub, a lease table, and a queue that collects
// pullheal's review events. The demo, the agent's tests and the
// end-to-end tests all start from it, in-process or against
// `pullheal local`.
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// StoppedPullPattern is the EventBridge pattern the deployment uses: ECS
// tasks that stopped because a container could not be pulled.
const StoppedPullPattern = `{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"],"$or":[{"stoppedReason":[{"prefix":"CannotPull"}]},{"containers":{"reason":[{"prefix":"CannotPull"}]}}]}}`

// ReviewPattern matches pullheal's review events.
const ReviewPattern = `{"source":["pullheal"]}`

// Options shape the scenario; zero values take the defaults.
type Options struct {
	Prefix string // name prefix of every resource ("pullheal")
	// Cluster and Service name the workload ("prod", "web").
	Cluster, Service string
	// Image is the service's image ("nginx:1.27"); Desired its task count (3).
	Image   string
	Desired int32
	// MaxReceiveCount moves a message to the DLQ after that many receives (5).
	MaxReceiveCount int
	// Visibility is the queue's visibility timeout (30 s).
	Visibility time.Duration
	// HubUser and HubToken are the Docker Hub credentials of the
	// pull-through rule; without them the rule is anonymous.
	HubUser, HubToken string
	// NoPullThrough leaves the pull-through rule out.
	NoPullThrough bool
	// NoService registers the task definition but starts no service.
	NoService bool
	// NoExecutionRole registers the task definition without one, which
	// Fargate needs to pull from private ECR.
	NoExecutionRole bool
	// Tags are extra tags of the task definition.
	Tags map[string]string
	// Sidecar adds a second container with this image.
	Sidecar string
	// DeploymentController is the service's (ECS when empty).
	DeploymentController ecstypes.DeploymentControllerType
	// ExecutionRolePolicy is the execution role's inline policy, beside the
	// AWS managed AmazonECSTaskExecutionRolePolicy it always has: ""
	// grants what a first pull through the docker-hub cache needs
	// (DefaultExecutionRolePolicy), ManagedPolicyOnly grants nothing more,
	// as a role that only ever pulled from Docker Hub. With a test bed that
	// enforces IAM, the tasks' ECR pulls are judged by it.
	ExecutionRolePolicy string
	// RegistryPolicy is put as the ECR registry permissions policy.
	RegistryPolicy string
	// EC2 runs the service with the EC2 launch type, on a container
	// instance registered for an EC2 instance launched with the instance
	// profile ContainerInstanceRoleName (unless NoInstanceProfile).
	EC2 bool
	// InstanceRolePolicy is the container instance role's inline policy,
	// beside the AWS managed AmazonEC2ContainerServiceforEC2Role it always
	// has: "" adds none (the role ECS's console creates), any other
	// document is added.
	InstanceRolePolicy string
	// NoInstanceProfile launches the EC2 instance without a profile.
	NoInstanceProfile bool
}

// ContainerInstanceRoleName is the EC2 scenario's container instance role
// and the name of its instance profile, as ECS's console creates them.
const ContainerInstanceRoleName = "ecsInstanceRole"

// ContainerInstanceTrust lets EC2 instances assume a role.
const ContainerInstanceTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// ManagedPolicyOnly as Options.ExecutionRolePolicy leaves the role with the
// managed policy alone.
const ManagedPolicyOnly = "-"

// DefaultExecutionRolePolicy grants the pull-through cache's first pull,
// as the ECR user guide's pull-through cache IAM section describes.
const DefaultExecutionRolePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PullThroughCache","Effect":"Allow",` +
	`"Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:*:*:repository/docker-hub/*"}]}`

// ConditionalCachePolicy grants the cache's first pull only under a
// condition on the principal's tags: IAM's simulator cannot tell whether it
// applies (it reports the key as missing context), and the test bed's ECR,
// which has no request context, refuses the pull, as a real account whose
// role lacks the tag would.
const ConditionalCachePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PullThroughCacheForTheWebTeam","Effect":"Allow",` +
	`"Action":["ecr:BatchImportUpstreamImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:*:*:repository/docker-hub/*",` +
	`"Condition":{"StringEquals":{"aws:PrincipalTag/team":"web"}}}]}`

// ExecutionRoleName is the scenario's task execution role.
const ExecutionRoleName = "ecsTaskExecutionRole"

// ExecutionRoleTrust lets ECS tasks assume a role.
const ExecutionRoleTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func (o *Options) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Prefix, "pullheal")
	def(&o.Cluster, "prod")
	def(&o.Service, "web")
	def(&o.Image, "nginx:1.27")
	if o.Desired == 0 {
		o.Desired = 3
	}
	if o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 5
	}
	if o.Visibility == 0 {
		o.Visibility = 30 * time.Second
	}
}

// Scenario is what Setup created.
type Scenario struct {
	Options
	QueueURL, QueueArn, DLQURL, ReviewQueueURL string
	// HubSecretArn is the Secrets Manager secret holding the Docker Hub
	// account, when HubUser was given.
	HubSecretArn      string
	LockTable         string
	TaskDefinitionArn string
	ServiceArn        string
	RuleArn           string
	// EC2InstanceID and ContainerInstanceArn are the EC2 scenario's host.
	EC2InstanceID, ContainerInstanceArn string
}

// Clients are the SDK clients a scenario uses.
type Clients struct {
	ECS     *ecs.Client
	ECR     *ecr.Client
	SQS     *sqs.Client
	Events  *eventbridge.Client
	Dynamo  *dynamodb.Client
	Secrets *secretsmanager.Client
	IAM     *iam.Client
	EC2     *ec2.Client
}

// NewClients makes the clients from one SDK configuration.
func NewClients(cfg aws.Config) Clients {
	return Clients{ECS: ecs.NewFromConfig(cfg), ECR: ecr.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg),
		Events: eventbridge.NewFromConfig(cfg), Dynamo: dynamodb.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg),
		IAM: iam.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg)}
}

// Setup creates the scenario.
func Setup(ctx context.Context, c Clients, o Options) (*Scenario, error) {
	o.defaults()
	s := &Scenario{Options: o}
	steps := []struct {
		what string
		do   func(context.Context, Clients) error
	}{
		{"Docker Hub secret", s.hubSecret},
		{"pull-through cache rule", s.pullThrough},
		{"permissions", s.permissions},
		{"queues", s.queues},
		{"event rules", s.rules},
		{"lease table", s.leaseTable},
		{"cluster", s.cluster},
		{"container instance", s.containerInstance},
		{"service", s.workload},
	}
	for _, st := range steps {
		if err := st.do(ctx, c); err != nil {
			return nil, fmt.Errorf("set up %s: %w", st.what, err)
		}
	}
	return s, nil
}

// hubSecret stores the Docker Hub account the way ECR's pull-through cache
// reads it; the agent's mirror route reads the same secret.
func (s *Scenario) hubSecret(ctx context.Context, c Clients) error {
	if s.HubUser == "" {
		return nil
	}
	secret, _ := json.Marshal(map[string]string{"username": s.HubUser, "accessToken": s.HubToken})
	out, err := c.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("ecr-pullthroughcache/docker-hub"), SecretString: aws.String(string(secret)),
	})
	if err != nil {
		return err
	}
	s.HubSecretArn = aws.ToString(out.ARN)
	return nil
}

func (s *Scenario) permissions(ctx context.Context, c Clients) error {
	if !s.NoExecutionRole {
		role := aws.String(ExecutionRoleName)
		// Scenarios sharing one test bed share the role; the last one's
		// inline policy is in force.
		var exists *iamtypes.EntityAlreadyExistsException
		if _, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: role, AssumeRolePolicyDocument: aws.String(ExecutionRoleTrust)}); err != nil && !errors.As(err, &exists) {
			return err
		}
		if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role,
			PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")}); err != nil {
			return err
		}
		inline := s.ExecutionRolePolicy
		if inline == "" {
			inline = DefaultExecutionRolePolicy
		}
		if inline != ManagedPolicyOnly {
			if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: role, PolicyName: aws.String("pull-through-cache"),
				PolicyDocument: aws.String(inline)}); err != nil {
				return err
			}
		}
	}
	if s.RegistryPolicy != "" {
		if _, err := c.ECR.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(s.RegistryPolicy)}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scenario) pullThrough(ctx context.Context, c Clients) error {
	if s.NoPullThrough {
		return nil
	}
	in := &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"),
		UpstreamRegistryUrl: aws.String("registry-1.docker.io"),
		UpstreamRegistry:    ecrtypes.UpstreamRegistryDockerHub,
	}
	if s.HubSecretArn != "" {
		in.CredentialArn = aws.String(s.HubSecretArn)
	}
	_, err := c.ECR.CreatePullThroughCacheRule(ctx, in)
	return err
}

func (s *Scenario) queues(ctx context.Context, c Clients) error {
	dlq, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.Prefix + "-dlq")})
	if err != nil {
		return err
	}
	s.DLQURL = aws.ToString(dlq.QueueUrl)
	dlqArn, err := queueArn(ctx, c, s.DLQURL)
	if err != nil {
		return err
	}
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqArn, "maxReceiveCount": strconv.Itoa(s.MaxReceiveCount)})
	q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.Prefix + "-events"), Attributes: map[string]string{
		"RedrivePolicy":     string(redrive),
		"VisibilityTimeout": strconv.Itoa(int(s.Visibility / time.Second)),
	}})
	if err != nil {
		return err
	}
	s.QueueURL = aws.ToString(q.QueueUrl)
	if s.QueueArn, err = queueArn(ctx, c, s.QueueURL); err != nil {
		return err
	}
	r, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.Prefix + "-reviews")})
	if err != nil {
		return err
	}
	s.ReviewQueueURL = aws.ToString(r.QueueUrl)
	return nil
}

func queueArn(ctx context.Context, c Clients, url string) (string, error) {
	out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", err
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

func (s *Scenario) rules(ctx context.Context, c Clients) error {
	rule, err := c.Events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(s.Prefix + "-stopped-pulls"), EventPattern: aws.String(StoppedPullPattern)})
	if err != nil {
		return err
	}
	s.RuleArn = aws.ToString(rule.RuleArn)
	if err := target(ctx, c, s.Prefix+"-stopped-pulls", s.QueueArn); err != nil {
		return err
	}
	if _, err := c.Events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(s.Prefix + "-reviews"), EventPattern: aws.String(ReviewPattern)}); err != nil {
		return err
	}
	reviewArn, err := queueArn(ctx, c, s.ReviewQueueURL)
	if err != nil {
		return err
	}
	return target(ctx, c, s.Prefix+"-reviews", reviewArn)
}

func target(ctx context.Context, c Clients, rule, arn string) error {
	out, err := c.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(arn)}}})
	if err != nil {
		return err
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put target on %s: %s", rule, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return nil
}

func (s *Scenario) leaseTable(ctx context.Context, c Clients) error {
	s.LockTable = s.Prefix + "-leases"
	_, err := c.Dynamo.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(s.LockTable),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	return err
}

// TaskDefinition is the service's task definition: Fargate, one
// container, an execution role so it can pull from private ECR.
func (s *Scenario) TaskDefinition() *ecs.RegisterTaskDefinitionInput {
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(s.Service),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/" + ExecutionRoleName),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String(s.Service), Image: aws.String(s.Image), Essential: aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), Protocol: ecstypes.TransportProtocolTcp}},
			Environment:  []ecstypes.KeyValuePair{{Name: aws.String("GREETING"), Value: aws.String("hello")}},
		}},
		Tags: []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("storefront")}},
	}
	if s.NoExecutionRole {
		in.ExecutionRoleArn = nil
	}
	if s.EC2 {
		in.RequiresCompatibilities = []ecstypes.Compatibility{ecstypes.CompatibilityEc2}
	}
	if s.Sidecar != "" {
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String("sidecar"), Image: aws.String(s.Sidecar), Essential: aws.Bool(false)})
	}
	for k, v := range s.Tags {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return in
}

func (s *Scenario) cluster(ctx context.Context, c Clients) error {
	_, err := c.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(s.Cluster)})
	return err
}

// containerInstance, for the EC2 scenario, creates the container instance
// role and its profile, launches an instance with it and registers it to
// the cluster as the ECS container agent would.
func (s *Scenario) containerInstance(ctx context.Context, c Clients) error {
	if !s.EC2 {
		return nil
	}
	run := &ec2.RunInstancesInput{ImageId: aws.String("ami-0ecs0ptimized0000"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro}
	if !s.NoInstanceProfile {
		role := aws.String(ContainerInstanceRoleName)
		// Scenarios sharing one test bed share the role and its profile.
		var exists *iamtypes.EntityAlreadyExistsException
		if _, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: role, AssumeRolePolicyDocument: aws.String(ContainerInstanceTrust)}); err != nil && !errors.As(err, &exists) {
			return err
		}
		if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role,
			PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role")}); err != nil {
			return err
		}
		if s.InstanceRolePolicy != "" {
			if _, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: role, PolicyName: aws.String("extra"),
				PolicyDocument: aws.String(s.InstanceRolePolicy)}); err != nil {
				return err
			}
		}
		if _, err := c.IAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: role}); err != nil && !errors.As(err, &exists) {
			return err
		}
		p, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: role})
		if err != nil {
			return err
		}
		if len(p.InstanceProfile.Roles) == 0 {
			if _, err := c.IAM.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: role, RoleName: role}); err != nil {
				return err
			}
		}
		run.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Arn: p.InstanceProfile.Arn}
	}
	out, err := c.EC2.RunInstances(ctx, run)
	if err != nil {
		return err
	}
	s.EC2InstanceID = aws.ToString(out.Instances[0].InstanceId)
	doc, _ := json.Marshal(map[string]string{"instanceId": s.EC2InstanceID, "instanceType": "t3.micro", "imageId": "ami-0ecs0ptimized0000"})
	reg, err := c.ECS.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(s.Cluster),
		InstanceIdentityDocument: aws.String(string(doc)), InstanceIdentityDocumentSignature: aws.String("unsigned")})
	if err != nil {
		return err
	}
	s.ContainerInstanceArn = aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	return nil
}

func (s *Scenario) workload(ctx context.Context, c Clients) error {
	td, err := c.ECS.RegisterTaskDefinition(ctx, s.TaskDefinition())
	if err != nil {
		return err
	}
	s.TaskDefinitionArn = aws.ToString(td.TaskDefinition.TaskDefinitionArn)
	if s.NoService {
		return nil
	}
	in := &ecs.CreateServiceInput{
		Cluster: aws.String(s.Cluster), ServiceName: aws.String(s.Service), DesiredCount: aws.Int32(s.Desired),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: s.Network(),
	}
	if s.EC2 {
		in.LaunchType = ecstypes.LaunchTypeEc2
	}
	if s.DeploymentController != "" {
		in.DeploymentController = &ecstypes.DeploymentController{Type: s.DeploymentController}
	}
	svc, err := c.ECS.CreateService(ctx, in)
	if err != nil {
		return err
	}
	s.ServiceArn = aws.ToString(svc.Service.ServiceArn)
	return nil
}

// Network is the awsvpc configuration every task of the scenario uses.
func (s *Scenario) Network() *ecstypes.NetworkConfiguration {
	return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
		Subnets: []string{"subnet-0123456789abcdef0"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}}
}

// ServiceState is a service as DescribeServices reports it.
type ServiceState struct {
	TaskDefinition string
	Running        int32
	Desired        int32
	Deployments    int
	Steady         bool // one deployment, all desired tasks running, rollout completed
}

// Service reads the scenario's service.
func (s *Scenario) ServiceState(ctx context.Context, c Clients) (ServiceState, error) {
	out, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(s.Cluster), Services: []string{s.Service}})
	if err != nil {
		return ServiceState{}, err
	}
	if len(out.Services) == 0 {
		return ServiceState{}, errors.New("service not found")
	}
	svc := out.Services[0]
	st := ServiceState{TaskDefinition: aws.ToString(svc.TaskDefinition), Running: svc.RunningCount, Desired: svc.DesiredCount, Deployments: len(svc.Deployments)}
	st.Steady = st.Deployments == 1 && st.Running == st.Desired && svc.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	return st, nil
}

// Revisions lists the family's ACTIVE revisions, oldest first.
func (s *Scenario) Revisions(ctx context.Context, c Clients) ([]string, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(c.ECS, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(s.Service), Status: ecstypes.TaskDefinitionStatusActive})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, page.TaskDefinitionArns...)
	}
	return arns, nil
}

// Review is one review event as the review queue received it.
type Review struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Reviews drains the review queue.
func (s *Scenario) Reviews(ctx context.Context, c Clients) ([]Review, error) {
	var out []Review
	for {
		msgs, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.ReviewQueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, err
		}
		if len(msgs.Messages) == 0 {
			return out, nil
		}
		for _, m := range msgs.Messages {
			var r Review
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
				return nil, fmt.Errorf("review event: %w", err)
			}
			out = append(out, r)
			if _, err := c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.ReviewQueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, err
			}
		}
	}
}

// QueueDepth returns the visible and in-flight message counts of a queue.
func QueueDepth(ctx context.Context, c Clients, url string) (visible, inFlight int, err error) {
	out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, 0, err
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight, nil
}
