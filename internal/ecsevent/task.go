package ecsevent

import (
	"encoding/json"
	"strings"
	"time"
)

// ECS task and container statuses pullheal looks at.
const (
	StatusStopped = "STOPPED"
	StatusRunning = "RUNNING"
)

// Task is the part of an ECS Task (the detail of a task state change, or a
// DescribeTasks result) that pullheal uses. Fields it does not use are
// ignored when decoding.
type Task struct {
	TaskArn              string
	ClusterArn           string
	TaskDefinitionArn    string
	ContainerInstanceArn string
	Group                string // "service:NAME" or "family:NAME"
	StartedBy            string // "ecs-svc/..." for service tasks
	LastStatus           string
	DesiredStatus        string
	StopCode             string
	StoppedReason        string
	LaunchType           string
	// CapacityProviderName is the capacity provider the task was placed
	// by (FARGATE, FARGATE_SPOT, or an Auto Scaling group's provider); ""
	// for a task started with a launch type.
	CapacityProviderName string
	PlatformVersion      string
	AvailabilityZone     string
	// Version grows with every change of the task: (TaskArn, Version)
	// identifies a duplicate delivery.
	Version    int64
	CreatedAt  time.Time
	StoppedAt  time.Time
	Containers []Container
}

// Container is one container of a Task.
type Container struct {
	Name         string
	Image        string // as written in the task definition
	ImageDigest  string // the digest the runtime resolved, when it got that far
	Reason       string
	LastStatus   string
	ContainerArn string
	ExitCode     *int
}

// Service returns the service name of a service task (group "service:NAME").
func (t *Task) Service() (string, bool) {
	if t == nil {
		return "", false
	}
	name, ok := strings.CutPrefix(t.Group, "service:")
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// CapacityProviders returns the task's capacity provider as a list (the
// form pullcheck.OnFargate takes); nil when the task has none.
func (t *Task) CapacityProviders() []string {
	if t == nil || t.CapacityProviderName == "" {
		return nil
	}
	return []string{t.CapacityProviderName}
}

// Stopped reports whether the task has stopped; only stopped tasks are
// classified.
func (t *Task) Stopped() bool {
	return t != nil && strings.EqualFold(t.LastStatus, StatusStopped)
}

// UnmarshalJSON decodes a task as ParseTask does, so that a Task can sit in
// other JSON documents.
func (t *Task) UnmarshalJSON(b []byte) error {
	var w wireTask
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = w.task()
	return nil
}

// wireTask is the JSON shape of Task, with lenient types for the fields ECS
// encodes differently across APIs (numbers as strings, ISO or epoch times).
type wireTask struct {
	TaskArn              string          `json:"taskArn"`
	ClusterArn           string          `json:"clusterArn"`
	TaskDefinitionArn    string          `json:"taskDefinitionArn"`
	ContainerInstanceArn string          `json:"containerInstanceArn"`
	Group                string          `json:"group"`
	StartedBy            string          `json:"startedBy"`
	LastStatus           string          `json:"lastStatus"`
	DesiredStatus        string          `json:"desiredStatus"`
	StopCode             string          `json:"stopCode"`
	StoppedReason        string          `json:"stoppedReason"`
	LaunchType           string          `json:"launchType"`
	CapacityProviderName string          `json:"capacityProviderName"`
	PlatformVersion      string          `json:"platformVersion"`
	AvailabilityZone     string          `json:"availabilityZone"`
	Version              lenientInt      `json:"version"`
	CreatedAt            lenientTime     `json:"createdAt"`
	StoppedAt            lenientTime     `json:"stoppedAt"`
	Containers           []wireContainer `json:"containers"`
}

type wireContainer struct {
	Name         string      `json:"name"`
	Image        string      `json:"image"`
	ImageDigest  string      `json:"imageDigest"`
	Reason       string      `json:"reason"`
	LastStatus   string      `json:"lastStatus"`
	ContainerArn string      `json:"containerArn"`
	ExitCode     *lenientInt `json:"exitCode"`
}

func (w *wireTask) task() Task {
	t := Task{
		TaskArn:              w.TaskArn,
		ClusterArn:           w.ClusterArn,
		TaskDefinitionArn:    w.TaskDefinitionArn,
		ContainerInstanceArn: w.ContainerInstanceArn,
		Group:                w.Group,
		StartedBy:            w.StartedBy,
		LastStatus:           w.LastStatus,
		DesiredStatus:        w.DesiredStatus,
		StopCode:             w.StopCode,
		StoppedReason:        w.StoppedReason,
		LaunchType:           w.LaunchType,
		CapacityProviderName: w.CapacityProviderName,
		PlatformVersion:      w.PlatformVersion,
		AvailabilityZone:     w.AvailabilityZone,
		Version:              int64(w.Version),
		CreatedAt:            time.Time(w.CreatedAt),
		StoppedAt:            time.Time(w.StoppedAt),
	}
	if len(w.Containers) > 0 {
		t.Containers = make([]Container, len(w.Containers))
		for i, c := range w.Containers {
			t.Containers[i] = Container{
				Name:         c.Name,
				Image:        c.Image,
				ImageDigest:  c.ImageDigest,
				Reason:       c.Reason,
				LastStatus:   c.LastStatus,
				ContainerArn: c.ContainerArn,
			}
			if c.ExitCode != nil {
				code := int(*c.ExitCode)
				t.Containers[i].ExitCode = &code
			}
		}
	}
	return t
}
