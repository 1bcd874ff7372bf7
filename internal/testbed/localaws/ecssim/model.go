package ecssim

import (
	"encoding/json"
	"strconv"
	"time"
)

// state is everything the stand-in knows; Snapshot writes it as JSON.
type state struct {
	Families map[string]*family  `json:"families"`
	Clusters map[string]*cluster `json:"clusters"`
}

func newState() *state {
	return &state{Families: map[string]*family{}, Clusters: map[string]*cluster{}}
}

type family struct {
	Name      string     `json:"name"`
	Revisions []*taskDef `json:"revisions"` // Revisions[i].Revision == i+1
}

// taskDef is one registered revision. Doc holds every member of the
// register request as it was received (normalised where ECS normalises),
// including members this stand-in does not know, without tags and without
// the read-only members ECS computes.
type taskDef struct {
	Family         string                     `json:"family"`
	Revision       int                        `json:"revision"`
	Status         string                     `json:"status"`
	Doc            map[string]json.RawMessage `json:"doc"`
	RegisteredAt   time.Time                  `json:"registeredAt"`
	RegisteredBy   string                     `json:"registeredBy"`
	DeregisteredAt time.Time                  `json:"deregisteredAt,omitzero"`
	Tags           []tag                      `json:"tags"`
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cluster struct {
	Name     string              `json:"name"`
	Status   string              `json:"status"`
	Tags     []tag               `json:"tags"`
	Settings []nameValue         `json:"settings"`
	Services map[string]*service `json:"services"`
	Tasks    map[string]*task    `json:"tasks"` // by task ID
	// Instances are the registered container instances, by ID.
	Instances map[string]*containerInstance `json:"instances,omitempty"`
	CreatedAt time.Time                     `json:"createdAt"`
}

type service struct {
	Name                    string          `json:"name"`
	Cluster                 string          `json:"cluster"`
	Status                  string          `json:"status"`
	TaskDefinition          string          `json:"taskDefinition"`
	DesiredCount            int             `json:"desiredCount"`
	LaunchType              string          `json:"launchType"`
	PlatformVersion         string          `json:"platformVersion,omitempty"`
	DeploymentController    string          `json:"deploymentController"`
	DeploymentConfiguration json.RawMessage `json:"deploymentConfiguration,omitempty"`
	NetworkConfiguration    json.RawMessage `json:"networkConfiguration,omitempty"`
	PropagateTags           string          `json:"propagateTags"`
	EnableExecuteCommand    bool            `json:"enableExecuteCommand"`
	CreatedAt               time.Time       `json:"createdAt"`
	CreatedBy               string          `json:"createdBy"`
	Tags                    []tag           `json:"tags"`
	Deployments             []*deployment   `json:"deployments"` // [0] is PRIMARY
	Events                  []serviceEvent  `json:"events"`      // newest first
	// Scheduler bookkeeping.
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	NextLaunchAt        time.Time `json:"nextLaunchAt,omitzero"`
	Steady              bool      `json:"steady"`
}

type deployment struct {
	ID                 string          `json:"id"`
	Status             string          `json:"status"`
	TaskDefinition     string          `json:"taskDefinition"`
	DesiredCount       int             `json:"desiredCount"`
	FailedTasks        int             `json:"failedTasks"`
	CreatedAt          time.Time       `json:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt"`
	LaunchType         string          `json:"launchType"`
	PlatformVersion    string          `json:"platformVersion,omitempty"`
	NetworkConfig      json.RawMessage `json:"networkConfiguration,omitempty"`
	RolloutState       string          `json:"rolloutState,omitempty"`
	RolloutStateReason string          `json:"rolloutStateReason,omitempty"`
}

type serviceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// Task statuses, in the order a task moves through them.
const (
	statusProvisioning   = "PROVISIONING"
	statusPending        = "PENDING"
	statusRunning        = "RUNNING"
	statusDeprovisioning = "DEPROVISIONING"
	statusStopped        = "STOPPED"
)

type task struct {
	ID                string          `json:"id"`
	Cluster           string          `json:"cluster"`
	TaskDefinitionArn string          `json:"taskDefinitionArn"`
	Family            string          `json:"family"`
	Group             string          `json:"group"`
	StartedBy         string          `json:"startedBy,omitempty"`
	Service           string          `json:"service,omitempty"`
	LaunchType        string          `json:"launchType"`
	PlatformVersion   string          `json:"platformVersion,omitempty"`
	NetworkMode       string          `json:"networkMode"`
	CPU               string          `json:"cpu,omitempty"`
	Memory            string          `json:"memory,omitempty"`
	LastStatus        string          `json:"lastStatus"`
	DesiredStatus     string          `json:"desiredStatus"`
	Version           int64           `json:"version"`
	Connectivity      string          `json:"connectivity,omitempty"`
	StopCode          string          `json:"stopCode,omitempty"`
	StoppedReason     string          `json:"stoppedReason,omitempty"`
	Overrides         json.RawMessage `json:"overrides"`
	Tags              []tag           `json:"tags"`
	ExecutionRoleArn  string          `json:"executionRoleArn,omitempty"`
	Platform          string          `json:"platform"` // os/arch the images resolve to
	AvailabilityZone  string          `json:"availabilityZone"`
	ContainerInstance string          `json:"containerInstanceArn,omitempty"`
	EnableExecCommand bool            `json:"enableExecuteCommand"`
	Containers        []*container    `json:"containers"`
	// EphemeralGiB is a Fargate task's ephemeral storage.
	EphemeralGiB int `json:"ephemeralStorageGiB,omitempty"`
	// ENI is an awsvpc task's elastic network interface.
	ENI *eni `json:"eni,omitempty"`

	CreatedAt          time.Time `json:"createdAt"`
	ConnectivityAt     time.Time `json:"connectivityAt,omitzero"`
	PullStartedAt      time.Time `json:"pullStartedAt,omitzero"`
	PullStoppedAt      time.Time `json:"pullStoppedAt,omitzero"`
	StartedAt          time.Time `json:"startedAt,omitzero"`
	StoppingAt         time.Time `json:"stoppingAt,omitzero"`
	ExecutionStoppedAt time.Time `json:"executionStoppedAt,omitzero"`
	StoppedAt          time.Time `json:"stoppedAt,omitzero"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

type container struct {
	ID                    string `json:"id"` // the UUID in the container ARN
	Name                  string `json:"name"`
	Image                 string `json:"image"`
	LastStatus            string `json:"lastStatus"`
	Reason                string `json:"reason,omitempty"`
	ExitCode              *int   `json:"exitCode,omitempty"`
	RuntimeID             string `json:"runtimeId,omitempty"`
	CPU                   string `json:"cpu"`
	Memory                string `json:"memory,omitempty"`
	MemoryReservation     string `json:"memoryReservation,omitempty"`
	RepositoryCredentials string `json:"repositoryCredentials,omitempty"`
}

// stamp renders a time either as the JSON protocol's epoch seconds or, in
// EventBridge events, as ECS's ISO-8601 text with milliseconds.
type stamp struct {
	t   time.Time
	iso bool
}

func (s stamp) IsZero() bool { return s.t.IsZero() }

func (s stamp) MarshalJSON() ([]byte, error) {
	if s.iso {
		return []byte(`"` + s.t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
	}
	return strconv.AppendFloat(nil, float64(s.t.UnixMilli())/1000, 'f', -1, 64), nil
}
