package ecssim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// launch describes a task to start, from RunTask or a service.
type launch struct {
	LaunchType      string
	PlatformVersion string
	Group           string
	StartedBy       string
	Service         string
	Overrides       json.RawMessage
	Tags            []tag
	EnableExec      bool
	// Network is the awsvpcConfiguration's subnets, for the task's
	// network interface.
	Network json.RawMessage
}

// taskOverride is the part of RunTask's overrides the stand-in reads.
type taskOverride struct {
	ContainerOverrides []json.RawMessage `json:"containerOverrides"`
	CPU                string            `json:"cpu"`
	Memory             string            `json:"memory"`
	ExecutionRoleArn   string            `json:"executionRoleArn"`
	EphemeralStorage   *sizeGiB          `json:"ephemeralStorage"`
}

// resolveLaunchType picks and checks the launch type of a task or service.
// With none given, a definition that requires FARGATE runs on Fargate and
// any other on EC2; EC2 tasks land on a simulated container instance, as
// the stand-in does not model capacity.
func resolveLaunchType(given string, f tdFields) (string, error) {
	lt := given
	if lt == "" {
		lt = "EC2"
		if hasCompat(f.RequiresCompatibilities, "FARGATE") {
			lt = "FARGATE"
		}
	}
	switch lt {
	case "EC2", "FARGATE", "EXTERNAL":
	default:
		return "", invalidParam("1 validation error detected: Value '%s' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL]", given)
	}
	if !hasCompat(compatibilities(f), lt) {
		return "", invalidParam("Task definition does not support launch_type %s.", lt)
	}
	return lt, nil
}

// checkNetworkConfig enforces ECS's rule that awsvpc tasks need subnets.
func checkNetworkConfig(f tdFields, raw json.RawMessage) error {
	if f.NetworkMode != "awsvpc" {
		return nil
	}
	var nc struct {
		AwsvpcConfiguration *struct {
			Subnets []string `json:"subnets"`
		} `json:"awsvpcConfiguration"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &nc); err != nil {
			return wire.Errorf(400, "SerializationException", "networkConfiguration: %v", err)
		}
	}
	if nc.AwsvpcConfiguration == nil {
		return invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	if len(nc.AwsvpcConfiguration.Subnets) == 0 {
		return invalidParam("subnets can not be empty.")
	}
	return nil
}

// newTask builds a PROVISIONING task. Callers hold e.mu.
func (e *ECS) newTask(c *cluster, td *taskDef, l launch) (*task, error) {
	f := td.fields()
	var ov taskOverride
	given := map[string]json.RawMessage{}
	if len(l.Overrides) > 0 && string(l.Overrides) != "null" {
		if err := json.Unmarshal(l.Overrides, &ov); err != nil {
			return nil, wire.Errorf(400, "SerializationException", "overrides: %v", err)
		}
		_ = json.Unmarshal(l.Overrides, &given)
	}
	byName := map[string]json.RawMessage{}
	for _, raw := range ov.ContainerOverrides {
		var co struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &co)
		found := false
		for _, cd := range f.ContainerDefinitions {
			found = found || cd.Name == co.Name
		}
		if !found {
			return nil, invalidParam("Override for container named %s is not a container in the TaskDefinition.", co.Name)
		}
		byName[co.Name] = raw
	}
	// ECS lists an override entry for every container, empty ones as
	// {"name": ...}; the EventBridge samples show the same.
	cos := make([]json.RawMessage, 0, len(f.ContainerDefinitions))
	for _, cd := range f.ContainerDefinitions {
		if raw, ok := byName[cd.Name]; ok {
			cos = append(cos, raw)
		} else {
			cos = append(cos, rawJSON(map[string]string{"name": cd.Name}))
		}
	}
	given["containerOverrides"] = rawJSON(cos)

	now := e.now()
	t := &task{
		ID:                newID(),
		Cluster:           c.Name,
		TaskDefinitionArn: e.taskDefArn(td.Family, td.Revision),
		Family:            td.Family,
		Group:             l.Group,
		StartedBy:         l.StartedBy,
		Service:           l.Service,
		LaunchType:        l.LaunchType,
		NetworkMode:       f.NetworkMode,
		CPU:               firstNonEmpty(ov.CPU, string(f.CPU)),
		Memory:            firstNonEmpty(ov.Memory, string(f.Memory)),
		LastStatus:        statusProvisioning,
		DesiredStatus:     statusRunning,
		Version:           1,
		UpdatedAt:         now,
		Overrides:         rawJSON(given),
		Tags:              append([]tag{}, l.Tags...),
		ExecutionRoleArn:  firstNonEmpty(ov.ExecutionRoleArn, f.ExecutionRoleArn),
		Platform:          platformOf(f.RuntimePlatform),
		AvailabilityZone:  e.cfg.Region + "a",
		EnableExecCommand: l.EnableExec,
		CreatedAt:         now,
	}
	if t.Group == "" {
		t.Group = "family:" + td.Family
	}
	if l.LaunchType == "FARGATE" {
		// "LATEST" and an unset version both mean the current platform.
		t.PlatformVersion = "1.4.0"
		if l.PlatformVersion != "" && l.PlatformVersion != "LATEST" {
			t.PlatformVersion = l.PlatformVersion
		}
	} else if ci := placeOn(c); ci != nil {
		t.ContainerInstance = e.instanceArn(c, ci)
	} else {
		// A cluster without registered container instances still runs
		// EC2 tasks here (a test-bed simplification: ECS would leave them
		// unplaced), on a container instance named after the cluster.
		sum := sha256.Sum256([]byte(c.Name))
		t.ContainerInstance = e.arn("container-instance/" + c.Name + "/" + hex.EncodeToString(sum[:16]))
	}
	if l.LaunchType == "FARGATE" {
		// Fargate's default is 20 GiB; the task definition's
		// ephemeralStorage, then RunTask's override, raise it.
		t.EphemeralGiB = 20
		if f.EphemeralStorage != nil && f.EphemeralStorage.SizeInGiB > 0 {
			t.EphemeralGiB = f.EphemeralStorage.SizeInGiB
		}
		if ov.EphemeralStorage != nil && ov.EphemeralStorage.SizeInGiB > 0 {
			t.EphemeralGiB = ov.EphemeralStorage.SizeInGiB
		}
	}
	if f.NetworkMode == "awsvpc" {
		t.ENI = newENI(e.cfg.Region, l.Network)
	}
	for _, cd := range f.ContainerDefinitions {
		ct := &container{
			ID: newUUID(), Name: cd.Name, Image: cd.Image, LastStatus: "PENDING",
			CPU: strconv.FormatInt(cd.CPU, 10),
		}
		if cd.Memory != nil {
			ct.Memory = strconv.FormatInt(*cd.Memory, 10)
		}
		if cd.MemoryReservation != nil {
			ct.MemoryReservation = strconv.FormatInt(*cd.MemoryReservation, 10)
		}
		if cd.RepositoryCredentials != nil {
			ct.RepositoryCredentials = cd.RepositoryCredentials.CredentialsParameter
		}
		t.Containers = append(t.Containers, ct)
	}
	c.Tasks[t.ID] = t
	return t, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// platformOf maps a runtimePlatform to the os/arch an image index is
// resolved for; without one ECS runs linux/amd64.
func platformOf(rp *runtimePlatfm) string {
	osName, arch := "linux", "amd64"
	if rp != nil {
		if rp.CPUArchitecture == "ARM64" {
			arch = "arm64"
		}
		if strings.HasPrefix(rp.OperatingSystemFamily, "WINDOWS") {
			osName = "windows"
		}
	}
	return osName + "/" + arch
}

func (e *ECS) taskArn(t *task) string { return e.arn("task/" + t.Cluster + "/" + t.ID) }

// taskOut is a Task in DescribeTasks's shape; in events the same shape
// carries ISO-8601 timestamps.
type taskOut struct {
	Attachments             []any           `json:"attachments"`
	Attributes              []nameValue     `json:"attributes"`
	AvailabilityZone        string          `json:"availabilityZone"`
	ClusterArn              string          `json:"clusterArn"`
	Connectivity            string          `json:"connectivity,omitempty"`
	ConnectivityAt          stamp           `json:"connectivityAt,omitzero"`
	ContainerInstanceArn    string          `json:"containerInstanceArn,omitempty"`
	Containers              []containerOut  `json:"containers"`
	CPU                     string          `json:"cpu,omitempty"`
	CreatedAt               stamp           `json:"createdAt"`
	DesiredStatus           string          `json:"desiredStatus"`
	EnableExecuteCommand    bool            `json:"enableExecuteCommand"`
	EphemeralStorage        *sizeGiB        `json:"ephemeralStorage,omitempty"`
	ExecutionStoppedAt      stamp           `json:"executionStoppedAt,omitzero"`
	FargateEphemeralStorage *sizeGiB        `json:"fargateEphemeralStorage,omitempty"`
	Group                   string          `json:"group"`
	HealthStatus            string          `json:"healthStatus"`
	LastStatus              string          `json:"lastStatus"`
	LaunchType              string          `json:"launchType"`
	Memory                  string          `json:"memory,omitempty"`
	Overrides               json.RawMessage `json:"overrides"`
	PlatformFamily          string          `json:"platformFamily,omitempty"`
	PlatformVersion         string          `json:"platformVersion,omitempty"`
	PullStartedAt           stamp           `json:"pullStartedAt,omitzero"`
	PullStoppedAt           stamp           `json:"pullStoppedAt,omitzero"`
	StartedAt               stamp           `json:"startedAt,omitzero"`
	StartedBy               string          `json:"startedBy,omitempty"`
	StopCode                string          `json:"stopCode,omitempty"`
	StoppedAt               stamp           `json:"stoppedAt,omitzero"`
	StoppedReason           string          `json:"stoppedReason,omitempty"`
	StoppingAt              stamp           `json:"stoppingAt,omitzero"`
	Tags                    *[]tag          `json:"tags,omitempty"`
	TaskArn                 string          `json:"taskArn"`
	TaskDefinitionArn       string          `json:"taskDefinitionArn"`
	// UpdatedAt is not a member of the API's Task; ECS adds it to the
	// events only.
	UpdatedAt stamp `json:"updatedAt,omitzero"`
	Version   int64 `json:"version"`
}

type sizeGiB struct {
	SizeInGiB int `json:"sizeInGiB"`
}

type containerOut struct {
	ContainerArn      string `json:"containerArn"`
	TaskArn           string `json:"taskArn"`
	Name              string `json:"name"`
	Image             string `json:"image"`
	RuntimeID         string `json:"runtimeId,omitempty"`
	LastStatus        string `json:"lastStatus"`
	ExitCode          *int   `json:"exitCode,omitempty"`
	Reason            string `json:"reason,omitempty"`
	NetworkBindings   []any  `json:"networkBindings,omitempty"`
	NetworkInterfaces []any  `json:"networkInterfaces"`
	HealthStatus      string `json:"healthStatus"`
	CPU               string `json:"cpu"`
	Memory            string `json:"memory,omitempty"`
	MemoryReservation string `json:"memoryReservation,omitempty"`
}

// renderTask renders t for DescribeTasks (iso=false) or an event (iso=true).
func (e *ECS) renderTask(t *task, iso, withTags bool) taskOut {
	st := func(tm time.Time) stamp { return stamp{t: tm, iso: iso} }
	arn := e.taskArn(t)
	arch := "x86_64"
	if strings.HasSuffix(t.Platform, "/arm64") {
		arch = "arm64"
	}
	out := taskOut{
		Attachments:          []any{},
		Attributes:           []nameValue{{Name: "ecs.cpu-architecture", Value: arch}},
		AvailabilityZone:     t.AvailabilityZone,
		ClusterArn:           e.clusterArn(t.Cluster),
		Connectivity:         t.Connectivity,
		ConnectivityAt:       st(t.ConnectivityAt),
		ContainerInstanceArn: t.ContainerInstance,
		CPU:                  t.CPU,
		CreatedAt:            st(t.CreatedAt),
		DesiredStatus:        t.DesiredStatus,
		EnableExecuteCommand: t.EnableExecCommand,
		ExecutionStoppedAt:   st(t.ExecutionStoppedAt),
		Group:                t.Group,
		HealthStatus:         "UNKNOWN",
		LastStatus:           t.LastStatus,
		LaunchType:           t.LaunchType,
		Memory:               t.Memory,
		Overrides:            t.Overrides,
		PlatformVersion:      t.PlatformVersion,
		PullStartedAt:        st(t.PullStartedAt),
		PullStoppedAt:        st(t.PullStoppedAt),
		StartedAt:            st(t.StartedAt),
		StartedBy:            t.StartedBy,
		StopCode:             t.StopCode,
		StoppedAt:            st(t.StoppedAt),
		StoppedReason:        t.StoppedReason,
		StoppingAt:           st(t.StoppingAt),
		TaskArn:              arn,
		TaskDefinitionArn:    t.TaskDefinitionArn,
		Version:              t.Version,
	}
	if iso {
		out.UpdatedAt = st(t.UpdatedAt)
	}
	if t.LaunchType == "FARGATE" {
		out.PlatformFamily = "Linux"
		if strings.HasPrefix(t.Platform, "windows/") {
			out.PlatformFamily = "Windows"
		}
		size := t.EphemeralGiB
		if size == 0 { // saved before the size was kept
			size = 20
		}
		out.EphemeralStorage = &sizeGiB{SizeInGiB: size}
		out.FargateEphemeralStorage = &sizeGiB{SizeInGiB: size}
	}
	if t.ENI != nil {
		out.Attachments = []any{t.ENI.render(t.LastStatus)}
	}
	if withTags {
		tags := nonNilTags(t.Tags)
		out.Tags = &tags
	}
	for _, c := range t.Containers {
		co := containerOut{
			ContainerArn:      e.arn("container/" + t.Cluster + "/" + t.ID + "/" + c.ID),
			TaskArn:           arn,
			Name:              c.Name,
			Image:             c.Image,
			RuntimeID:         c.RuntimeID,
			LastStatus:        c.LastStatus,
			ExitCode:          c.ExitCode,
			Reason:            c.Reason,
			NetworkInterfaces: t.ENI.containerInterfaces(t.LastStatus),
			HealthStatus:      "UNKNOWN",
			CPU:               c.CPU,
			Memory:            c.Memory,
			MemoryReservation: c.MemoryReservation,
		}
		out.Containers = append(out.Containers, co)
	}
	return out
}

// stateEvent is the EventBridge event ECS sends for a task's current state.
func (e *ECS) stateEvent(t *task) wire.Event {
	detail, _ := json.Marshal(e.renderTask(t, true, false))
	return wire.Event{
		Source:     "aws.ecs",
		DetailType: "ECS Task State Change",
		Account:    e.cfg.Account,
		Region:     e.cfg.Region,
		Time:       e.now(),
		Resources:  []string{e.taskArn(t)},
		Detail:     detail,
	}
}

func (e *ECS) runTask(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Cluster              string          `json:"cluster"`
		TaskDefinition       string          `json:"taskDefinition"`
		Count                *int            `json:"count"`
		Group                string          `json:"group"`
		StartedBy            string          `json:"startedBy"`
		LaunchType           string          `json:"launchType"`
		PlatformVersion      string          `json:"platformVersion"`
		NetworkConfiguration json.RawMessage `json:"networkConfiguration"`
		Overrides            json.RawMessage `json:"overrides"`
		Tags                 []tag           `json:"tags"`
		PropagateTags        string          `json:"propagateTags"`
		EnableExecuteCommand bool            `json:"enableExecuteCommand"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > 10 {
		return nil, invalidParam("count must be between 1 and 10; got %d.", count)
	}
	if len(in.StartedBy) > 128 {
		return nil, invalidParam("startedBy can have at most 128 characters.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	e.mu.Lock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	td, err := e.taskDefForLaunch(in.TaskDefinition)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	f := td.fields()
	lt, err := resolveLaunchType(in.LaunchType, f)
	if err == nil {
		err = checkNetworkConfig(f, in.NetworkConfiguration)
	}
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	tags := in.Tags
	if in.PropagateTags == "TASK_DEFINITION" {
		tags = mergeTags(td.Tags, in.Tags)
	}
	l := launch{
		LaunchType: lt, PlatformVersion: in.PlatformVersion, Group: in.Group, StartedBy: in.StartedBy,
		Overrides: in.Overrides, Tags: tags, EnableExec: in.EnableExecuteCommand, Network: in.NetworkConfiguration,
	}
	var tasks []taskOut
	var events []wire.Event
	for range count {
		t, err := e.newTask(c, td, l)
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		tasks = append(tasks, e.renderTask(t, false, false))
		events = append(events, e.stateEvent(t))
	}
	e.mu.Unlock()
	e.publishQuietly(ctx, events)
	return map[string]any{"tasks": tasks, "failures": []failure{}}, nil
}

// findTask resolves a task ID or ARN within a cluster. Callers hold e.mu.
func (e *ECS) findTask(c *cluster, ref string) *task {
	id := ref
	if res, ok := e.resourceOf(ref); ok {
		id = res[strings.LastIndex(res, "/")+1:]
	}
	return c.Tasks[id]
}

func (e *ECS) stopTask(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	t := e.findTask(c, in.Task)
	if t == nil {
		e.mu.Unlock()
		return nil, invalidParam("The referenced task was not found.")
	}
	var events []wire.Event
	if t.DesiredStatus != statusStopped {
		reason := in.Reason
		if reason == "" {
			reason = "Task stopped by user"
		}
		e.requestStop(t, "UserInitiated", capReason(reason))
		events = append(events, e.stateEvent(t))
	}
	out := e.renderTask(t, false, false)
	e.mu.Unlock()
	e.publishQuietly(ctx, events)
	return map[string]any{"task": out}, nil
}

// bump records a state change of t: ECS counts them in version, and
// events carry the time of the latest as updatedAt.
func (e *ECS) bump(t *task) {
	t.Version++
	t.UpdatedAt = e.now()
}

// requestStop sets a task's desired status to STOPPED; the next Tick stops
// it. Callers hold e.mu and publish the task's state event.
func (e *ECS) requestStop(t *task, code, reason string) {
	t.DesiredStatus = statusStopped
	t.StopCode = code
	t.StoppedReason = reason
	t.StoppingAt = e.now()
	e.bump(t)
}

func (e *ECS) describeTasks(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	tags := hasInclude(in.Include, "TAGS")
	return describe(e, in.Cluster, "Tasks", "tasks", "task", in.Tasks, 100,
		e.findTask, func(_ *cluster, t *task) taskOut { return e.renderTask(t, false, tags) })
}

var listFamilyRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func (e *ECS) listTasks(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster       string `json:"cluster"`
		ServiceName   string `json:"serviceName"`
		Family        string `json:"family"`
		DesiredStatus string `json:"desiredStatus"`
		StartedBy     string `json:"startedBy"`
		LaunchType    string `json:"launchType"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	desired := in.DesiredStatus
	switch desired {
	case "":
		desired = statusRunning // ECS lists RUNNING tasks unless told otherwise
	case statusRunning, statusPending, statusStopped:
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'desiredStatus' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, PENDING, STOPPED]", in.DesiredStatus)
	}
	if in.Family != "" && !listFamilyRe.MatchString(in.Family) {
		return nil, invalidParam(`family must match ^[a-zA-Z0-9\-_]+$`)
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	service := ""
	if in.ServiceName != "" {
		s := e.findService(c, in.ServiceName)
		if s == nil {
			e.mu.Unlock()
			return nil, serviceNotFound()
		}
		service = s.Name
	}
	var arns []string
	for _, t := range c.Tasks {
		switch {
		case t.DesiredStatus != desired:
		case service != "" && t.Service != service:
		case in.Family != "" && t.Family != in.Family:
		case in.StartedBy != "" && t.StartedBy != in.StartedBy:
		case in.LaunchType != "" && t.LaunchType != in.LaunchType:
		default:
			arns = append(arns, e.taskArn(t))
		}
	}
	e.mu.Unlock()
	sort.Strings(arns)
	return listPage("taskArns", arns, in.NextToken, limit)
}
