package ecssim

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var serviceNameRe = wire.NewPattern(`^[a-zA-Z0-9_-]{1,255}$`)

// maxServiceEvents is how many events DescribeServices returns, newest
// first, as ECS does.
const maxServiceEvents = 100

func (e *ECS) serviceArn(s *service) string {
	return e.arn("service/" + s.Cluster + "/" + s.Name)
}

// findService resolves a service name or ARN within a cluster. Callers
// hold e.mu.
func (e *ECS) findService(c *cluster, ref string) *service {
	name := ref
	if res, ok := e.resourceOf(ref); ok {
		name = res[strings.LastIndex(res, "/")+1:]
	}
	return c.Services[name]
}

// addEvent records a service event as ECS words them.
func (e *ECS) addEvent(s *service, msg string) {
	ev := serviceEvent{ID: newUUID(), CreatedAt: e.now(), Message: "(service " + s.Name + ") " + msg}
	s.Events = append([]serviceEvent{ev}, s.Events...)
	if len(s.Events) > maxServiceEvents {
		s.Events = s.Events[:maxServiceEvents]
	}
}

func (e *ECS) newDeployment(s *service, now time.Time) *deployment {
	id := newDeploymentID()
	d := &deployment{
		ID: id, Status: "PRIMARY", TaskDefinition: s.TaskDefinition, DesiredCount: s.DesiredCount,
		CreatedAt: now, UpdatedAt: now, LaunchType: s.LaunchType, PlatformVersion: s.PlatformVersion,
		NetworkConfig: s.NetworkConfiguration,
	}
	if s.DeploymentController == "ECS" {
		d.RolloutState = "IN_PROGRESS"
		d.RolloutStateReason = "ECS deployment " + id + " in progress."
	}
	return d
}

// defaultDeploymentConfiguration fills the members ECS reports when the
// caller left them out.
func defaultDeploymentConfiguration(given json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(given) > 0 && string(given) != "null" {
		if err := json.Unmarshal(given, &m); err != nil {
			return nil, wire.Errorf(400, "SerializationException", "deploymentConfiguration: %v", err)
		}
	}
	setDefault(m, "deploymentCircuitBreaker", `{"enable":false,"rollback":false}`)
	setDefault(m, "maximumPercent", "200")
	setDefault(m, "minimumHealthyPercent", "100")
	return rawJSON(m), nil
}

func (e *ECS) createService(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster                 string          `json:"cluster"`
		ServiceName             string          `json:"serviceName"`
		TaskDefinition          string          `json:"taskDefinition"`
		DesiredCount            *int            `json:"desiredCount"`
		LaunchType              string          `json:"launchType"`
		PlatformVersion         string          `json:"platformVersion"`
		NetworkConfiguration    json.RawMessage `json:"networkConfiguration"`
		DeploymentConfiguration json.RawMessage `json:"deploymentConfiguration"`
		DeploymentController    *struct {
			Type string `json:"type"`
		} `json:"deploymentController"`
		SchedulingStrategy   string `json:"schedulingStrategy"`
		PropagateTags        string `json:"propagateTags"`
		EnableExecuteCommand bool   `json:"enableExecuteCommand"`
		Tags                 []tag  `json:"tags"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if !serviceNameRe.MatchString(in.ServiceName) {
		return nil, invalidParam("Service name can have up to 255 characters: letters (uppercase and lowercase), numbers, underscores and hyphens; got %q.", in.ServiceName)
	}
	switch in.SchedulingStrategy {
	case "", "REPLICA":
	default:
		return nil, invalidParam("schedulingStrategy %s is not supported by this test bed; use REPLICA.", in.SchedulingStrategy)
	}
	if in.DesiredCount == nil {
		return nil, invalidParam("desiredCount is required for services using the REPLICA scheduling strategy.")
	}
	if *in.DesiredCount < 0 {
		return nil, invalidParam("desiredCount must not be negative; got %d.", *in.DesiredCount)
	}
	controller := "ECS"
	if in.DeploymentController != nil && in.DeploymentController.Type != "" {
		controller = in.DeploymentController.Type
	}
	switch controller {
	case "ECS", "CODE_DEPLOY", "EXTERNAL":
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'deploymentController.type' failed to satisfy constraint: Member must satisfy enum value set: [ECS, CODE_DEPLOY, EXTERNAL]", controller)
	}
	propagate := in.PropagateTags
	switch propagate {
	case "":
		propagate = "NONE"
	case "NONE", "SERVICE", "TASK_DEFINITION":
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'propagateTags' failed to satisfy constraint: Member must satisfy enum value set: [TASK_DEFINITION, SERVICE, NONE]", propagate)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	depConfig, err := defaultDeploymentConfiguration(in.DeploymentConfiguration)
	if err != nil {
		return nil, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	td, err := e.taskDefForLaunch(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	f := td.fields()
	lt, err := resolveLaunchType(in.LaunchType, f)
	if err != nil {
		return nil, err
	}
	if err := checkNetworkConfig(f, in.NetworkConfiguration); err != nil {
		return nil, err
	}
	if old := c.Services[in.ServiceName]; old != nil && old.Status != "INACTIVE" {
		return nil, invalidParam("Creation of service was not idempotent.")
	}
	platformVersion := in.PlatformVersion
	if lt == "FARGATE" && platformVersion == "" {
		platformVersion = "LATEST"
	}
	now := e.now()
	s := &service{
		Name: in.ServiceName, Cluster: c.Name, Status: "ACTIVE",
		TaskDefinition: e.taskDefArn(td.Family, td.Revision), DesiredCount: *in.DesiredCount,
		LaunchType: lt, PlatformVersion: platformVersion, DeploymentController: controller,
		DeploymentConfiguration: depConfig, NetworkConfiguration: in.NetworkConfiguration,
		PropagateTags: propagate, EnableExecuteCommand: in.EnableExecuteCommand,
		CreatedAt: now, CreatedBy: e.cfg.Principal, Tags: append([]tag{}, in.Tags...),
	}
	s.Deployments = []*deployment{e.newDeployment(s, now)}
	c.Services[s.Name] = s
	return map[string]any{"service": e.renderService(c, s, true)}, nil
}

func (e *ECS) updateService(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster              string          `json:"cluster"`
		Service              string          `json:"service"`
		TaskDefinition       string          `json:"taskDefinition"`
		DesiredCount         *int            `json:"desiredCount"`
		ForceNewDeployment   bool            `json:"forceNewDeployment"`
		NetworkConfiguration json.RawMessage `json:"networkConfiguration"`
		PlatformVersion      string          `json:"platformVersion"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, invalidParam("desiredCount must not be negative; got %d.", *in.DesiredCount)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	s := e.findService(c, in.Service)
	if s == nil {
		return nil, serviceNotFound()
	}
	if s.Status != "ACTIVE" {
		return nil, wire.Errorf(400, codeServiceInactive, "Service was not ACTIVE.")
	}
	redeploy := in.ForceNewDeployment
	newTD := s.TaskDefinition
	if in.TaskDefinition != "" {
		td, err := e.taskDefForLaunch(in.TaskDefinition)
		if err != nil {
			return nil, err
		}
		newTD = e.taskDefArn(td.Family, td.Revision)
		if newTD != s.TaskDefinition {
			if s.DeploymentController != "ECS" {
				return nil, invalidParam("Unable to update task definition on services with a %s deployment controller. Use AWS CodeDeploy or a task set to deploy a new revision.", s.DeploymentController)
			}
			f := td.fields()
			if _, err := resolveLaunchType(s.LaunchType, f); err != nil {
				return nil, err
			}
			netConfig := s.NetworkConfiguration
			if len(in.NetworkConfiguration) > 0 {
				netConfig = in.NetworkConfiguration
			}
			if err := checkNetworkConfig(f, netConfig); err != nil {
				return nil, err
			}
			redeploy = true
		}
	}
	if len(in.NetworkConfiguration) > 0 && string(in.NetworkConfiguration) != "null" {
		s.NetworkConfiguration = in.NetworkConfiguration
		redeploy = true
	}
	if in.PlatformVersion != "" && in.PlatformVersion != s.PlatformVersion {
		s.PlatformVersion = in.PlatformVersion
		redeploy = true
	}
	now := e.now()
	if in.DesiredCount != nil {
		s.DesiredCount = *in.DesiredCount
		s.Deployments[0].DesiredCount = s.DesiredCount
		s.Deployments[0].UpdatedAt = now
		s.Steady = false
	}
	if redeploy {
		s.TaskDefinition = newTD
		for _, d := range s.Deployments {
			d.Status = "ACTIVE"
			d.UpdatedAt = now
		}
		s.Deployments = append([]*deployment{e.newDeployment(s, now)}, s.Deployments...)
		s.Steady = false
		// A new deployment starts launching at once, whatever the backoff
		// of the previous one.
		s.ConsecutiveFailures = 0
		s.NextLaunchAt = time.Time{}
	}
	return map[string]any{"service": e.renderService(c, s, true)}, nil
}

func (e *ECS) deleteService(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Service string `json:"service"`
		Force   bool   `json:"force"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	s := e.findService(c, in.Service)
	if s == nil || s.Status == "INACTIVE" {
		return nil, serviceNotFound()
	}
	if s.DesiredCount > 0 && !in.Force {
		return nil, invalidParam("The service cannot be stopped while it is scaled above 0.")
	}
	s.Status = "DRAINING"
	s.DesiredCount = 0
	for _, d := range s.Deployments {
		d.DesiredCount = 0
	}
	return map[string]any{"service": e.renderService(c, s, true)}, nil
}

type deploymentOut struct {
	ID                   string          `json:"id"`
	Status               string          `json:"status"`
	TaskDefinition       string          `json:"taskDefinition"`
	DesiredCount         int             `json:"desiredCount"`
	PendingCount         int             `json:"pendingCount"`
	RunningCount         int             `json:"runningCount"`
	FailedTasks          int             `json:"failedTasks"`
	CreatedAt            stamp           `json:"createdAt"`
	UpdatedAt            stamp           `json:"updatedAt"`
	LaunchType           string          `json:"launchType"`
	PlatformVersion      string          `json:"platformVersion,omitempty"`
	PlatformFamily       string          `json:"platformFamily,omitempty"`
	NetworkConfiguration json.RawMessage `json:"networkConfiguration,omitempty"`
	RolloutState         string          `json:"rolloutState,omitempty"`
	RolloutStateReason   string          `json:"rolloutStateReason,omitempty"`
}

type eventOut struct {
	ID        string `json:"id"`
	CreatedAt stamp  `json:"createdAt"`
	Message   string `json:"message"`
}

// taskCounts counts a deployment's (or, with id "", a service's) running
// and pending tasks.
func taskCounts(c *cluster, s *service, id string) (running, pending int) {
	for _, t := range c.Tasks {
		if t.Service != s.Name || (id != "" && t.StartedBy != id) || t.DesiredStatus != statusRunning {
			continue
		}
		switch t.LastStatus {
		case statusRunning:
			running++
		case statusProvisioning, statusPending:
			pending++
		}
	}
	return running, pending
}

func (e *ECS) renderService(c *cluster, s *service, withTags bool) map[string]any {
	deps := []deploymentOut{}
	for _, d := range s.Deployments {
		running, pending := taskCounts(c, s, d.ID)
		do := deploymentOut{
			ID: d.ID, Status: d.Status, TaskDefinition: d.TaskDefinition, DesiredCount: d.DesiredCount,
			PendingCount: pending, RunningCount: running, FailedTasks: d.FailedTasks,
			CreatedAt: stamp{t: d.CreatedAt}, UpdatedAt: stamp{t: d.UpdatedAt},
			LaunchType: d.LaunchType, PlatformVersion: d.PlatformVersion, NetworkConfiguration: d.NetworkConfig,
			RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason,
		}
		if d.LaunchType == "FARGATE" {
			do.PlatformFamily = "Linux"
		}
		deps = append(deps, do)
	}
	events := make([]eventOut, len(s.Events))
	for i, ev := range s.Events {
		events[i] = eventOut{ID: ev.ID, CreatedAt: stamp{t: ev.CreatedAt}, Message: ev.Message}
	}
	running, pending := taskCounts(c, s, "")
	out := map[string]any{
		"serviceArn":              e.serviceArn(s),
		"serviceName":             s.Name,
		"clusterArn":              e.clusterArn(c.Name),
		"loadBalancers":           []any{},
		"serviceRegistries":       []any{},
		"status":                  s.Status,
		"desiredCount":            s.DesiredCount,
		"runningCount":            running,
		"pendingCount":            pending,
		"launchType":              s.LaunchType,
		"taskDefinition":          s.TaskDefinition,
		"deploymentConfiguration": s.DeploymentConfiguration,
		"deployments":             deps,
		"events":                  events,
		"createdAt":               stamp{t: s.CreatedAt},
		"createdBy":               s.CreatedBy,
		"placementConstraints":    []any{},
		"placementStrategy":       []any{},
		"schedulingStrategy":      "REPLICA",
		"deploymentController":    map[string]string{"type": s.DeploymentController},
		"enableECSManagedTags":    false,
		"propagateTags":           s.PropagateTags,
		"enableExecuteCommand":    s.EnableExecuteCommand,
	}
	if s.PlatformVersion != "" {
		out["platformVersion"] = s.PlatformVersion
	}
	if s.LaunchType == "FARGATE" {
		out["platformFamily"] = "Linux"
	}
	if len(s.NetworkConfiguration) > 0 {
		out["networkConfiguration"] = s.NetworkConfiguration
	}
	if withTags {
		out["tags"] = nonNilTags(s.Tags)
	}
	return out
}

func (e *ECS) describeServices(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
		Include  []string `json:"include"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	tags := hasInclude(in.Include, "TAGS")
	return describe(e, in.Cluster, "Services", "services", "service", in.Services, 10,
		e.findService, func(c *cluster, s *service) any { return e.renderService(c, s, tags) })
}

func (e *ECS) listServices(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster            string `json:"cluster"`
		LaunchType         string `json:"launchType"`
		SchedulingStrategy string `json:"schedulingStrategy"`
		MaxResults         *int   `json:"maxResults"`
		NextToken          string `json:"nextToken"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 10, 100)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	var arns []string
	for _, s := range c.Services {
		switch {
		case s.Status == "INACTIVE":
		case in.LaunchType != "" && s.LaunchType != in.LaunchType:
		case in.SchedulingStrategy != "" && in.SchedulingStrategy != "REPLICA":
		default:
			arns = append(arns, e.serviceArn(s))
		}
	}
	e.mu.Unlock()
	sort.Strings(arns)
	return listPage("serviceArns", arns, in.NextToken, limit)
}
