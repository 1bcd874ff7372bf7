package ecssim

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// containerInstance is an EC2 instance registered to a cluster, as the
// ECS container agent registers it.
type containerInstance struct {
	ID            string          `json:"id"`
	EC2InstanceID string          `json:"ec2InstanceId"`
	Status        string          `json:"status"`
	Version       int64           `json:"version"`
	Resources     json.RawMessage `json:"resources,omitempty"`
	VersionInfo   json.RawMessage `json:"versionInfo,omitempty"`
	Attributes    json.RawMessage `json:"attributes,omitempty"`
	RegisteredAt  time.Time       `json:"registeredAt"`
}

// registerContainerInstance is what the ECS container agent calls at
// start: the instance identity document it sends names the EC2 instance.
// The stand-in does not check the document's signature.
func (e *ECS) registerContainerInstance(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster                  string          `json:"cluster"`
		InstanceIdentityDocument string          `json:"instanceIdentityDocument"`
		TotalResources           json.RawMessage `json:"totalResources"`
		VersionInfo              json.RawMessage `json:"versionInfo"`
		Attributes               json.RawMessage `json:"attributes"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	var doc struct {
		InstanceID string `json:"instanceId"`
	}
	if in.InstanceIdentityDocument == "" {
		return nil, invalidParam("instanceIdentityDocument is required for an EC2 container instance (this test bed registers EC2 instances only).")
	}
	if err := json.Unmarshal([]byte(in.InstanceIdentityDocument), &doc); err != nil || doc.InstanceID == "" {
		return nil, invalidParam("instanceIdentityDocument must be the instance identity document's JSON, with instanceId.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.activeCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if c.Instances == nil {
		c.Instances = map[string]*containerInstance{}
	}
	// An instance that registers again (its agent restarted) keeps its
	// container instance, as ECS does for the same instance ID.
	for _, ci := range c.Instances {
		if ci.EC2InstanceID == doc.InstanceID && ci.Status == "ACTIVE" {
			ci.Version++
			return map[string]any{"containerInstance": e.renderInstance(c, ci)}, nil
		}
	}
	ci := &containerInstance{ID: newID(), EC2InstanceID: doc.InstanceID, Status: "ACTIVE", Version: 1,
		Resources: in.TotalResources, VersionInfo: in.VersionInfo, Attributes: in.Attributes, RegisteredAt: e.now()}
	c.Instances[ci.ID] = ci
	return map[string]any{"containerInstance": e.renderInstance(c, ci)}, nil
}

func (e *ECS) describeContainerInstances(_ context.Context, body []byte) (any, error) {
	var in struct {
		Cluster            string   `json:"cluster"`
		ContainerInstances []string `json:"containerInstances"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	return describe(e, in.Cluster, "ContainerInstances", "containerInstances", "container-instance", in.ContainerInstances, 100,
		e.findInstance, e.renderInstance)
}

func (e *ECS) instanceArn(c *cluster, ci *containerInstance) string {
	return e.arn("container-instance/" + c.Name + "/" + ci.ID)
}

// findInstance resolves a container instance ARN or ID; callers hold e.mu.
func (e *ECS) findInstance(c *cluster, ref string) *containerInstance {
	id := ref
	if res, ok := e.resourceOf(ref); ok {
		id = res[strings.LastIndex(res, "/")+1:]
	}
	return c.Instances[id]
}

// placeOn picks the container instance an EC2 task runs on: the first
// ACTIVE one to have registered. Real placement weighs resources and
// strategies; the test bed has one kind of instance and no resource
// accounting, so the oldest instance is as good as any. Nil when the
// cluster has none; callers hold e.mu.
func placeOn(c *cluster) *containerInstance {
	var active []*containerInstance
	for _, ci := range c.Instances {
		if ci.Status == "ACTIVE" {
			active = append(active, ci)
		}
	}
	if len(active) == 0 {
		return nil
	}
	return slices.MinFunc(active, func(a, b *containerInstance) int {
		if d := a.RegisteredAt.Compare(b.RegisteredAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// ec2InstanceOf is the EC2 instance of the registered container instance
// a task runs on; "" for a Fargate task or a synthetic container instance.
// Callers hold e.mu.
func (e *ECS) ec2InstanceOf(t *task) string {
	c := e.st.Clusters[t.Cluster]
	if c == nil || t.ContainerInstance == "" {
		return ""
	}
	if ci := e.findInstance(c, t.ContainerInstance); ci != nil {
		return ci.EC2InstanceID
	}
	return ""
}

func (e *ECS) renderInstance(c *cluster, ci *containerInstance) map[string]any {
	running, pending := 0, 0
	arn := e.instanceArn(c, ci)
	for _, t := range c.Tasks {
		if t.ContainerInstance != arn {
			continue
		}
		switch t.LastStatus {
		case statusRunning:
			running++
		case statusProvisioning, statusPending:
			pending++
		}
	}
	out := map[string]any{
		"containerInstanceArn": arn,
		"ec2InstanceId":        ci.EC2InstanceID,
		"version":              ci.Version,
		"status":               ci.Status,
		"agentConnected":       true,
		"runningTasksCount":    running,
		"pendingTasksCount":    pending,
		"registeredAt":         wire.Epoch(ci.RegisteredAt),
		"attachments":          []any{},
		"tags":                 []any{},
	}
	for k, v := range map[string]json.RawMessage{"registeredResources": ci.Resources, "remainingResources": ci.Resources, "versionInfo": ci.VersionInfo, "attributes": ci.Attributes} {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}
