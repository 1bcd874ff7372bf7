package ecssim

import (
	"context"
	"sort"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var clusterNameRe = wire.NewPattern(`^[a-zA-Z0-9_-]{1,255}$`)

// clusterName turns a cluster reference (name or ARN, "" for "default")
// into a name.
func (e *ECS) clusterName(ref string) string {
	if ref == "" {
		return "default"
	}
	if res, ok := e.resourceOf(ref); ok {
		if name, ok := strings.CutPrefix(res, "cluster/"); ok {
			return name
		}
	}
	return ref
}

// activeCluster resolves a cluster reference to an ACTIVE cluster. Callers
// hold e.mu. ECS does not create the default cluster on its own, so
// neither does the stand-in.
func (e *ECS) activeCluster(ref string) (*cluster, error) {
	c := e.st.Clusters[e.clusterName(ref)]
	if c == nil || c.Status != "ACTIVE" {
		return nil, clusterNotFound()
	}
	return c, nil
}

func (e *ECS) clusterArn(name string) string { return e.arn("cluster/" + name) }

func (e *ECS) createCluster(_ context.Context, body []byte) (any, error) {
	var in struct {
		ClusterName string      `json:"clusterName"`
		Tags        []tag       `json:"tags"`
		Settings    []nameValue `json:"settings"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	name := in.ClusterName
	if name == "" {
		name = "default"
	}
	if !clusterNameRe.MatchString(name) {
		return nil, invalidParam("Cluster name can have up to 255 characters: letters (uppercase and lowercase), numbers, underscores and hyphens; got %q.", name)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	settings := in.Settings
	if len(settings) == 0 {
		settings = []nameValue{{Name: "containerInsights", Value: "disabled"}}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.st.Clusters[name]
	// Creating an existing ACTIVE cluster returns it, as ECS does.
	if c == nil || c.Status != "ACTIVE" {
		c = &cluster{
			Name: name, Status: "ACTIVE", Tags: append([]tag{}, in.Tags...), Settings: settings,
			Services: map[string]*service{}, Tasks: map[string]*task{}, CreatedAt: e.now(),
		}
		e.st.Clusters[name] = c
	}
	return map[string]any{"cluster": e.renderCluster(c, true)}, nil
}

func (e *ECS) renderCluster(c *cluster, withTags bool) map[string]any {
	running, pending, services := 0, 0, 0
	for _, t := range c.Tasks {
		switch t.LastStatus {
		case statusRunning:
			running++
		case statusProvisioning, statusPending:
			pending++
		}
	}
	for _, s := range c.Services {
		if s.Status == "ACTIVE" {
			services++
		}
	}
	out := map[string]any{
		"clusterArn":                        e.clusterArn(c.Name),
		"clusterName":                       c.Name,
		"status":                            c.Status,
		"registeredContainerInstancesCount": activeInstances(c),
		"runningTasksCount":                 running,
		"pendingTasksCount":                 pending,
		"activeServicesCount":               services,
		"statistics":                        []any{},
		"settings":                          c.Settings,
		"capacityProviders":                 []string{},
		"defaultCapacityProviderStrategy":   []any{},
	}
	if withTags {
		out["tags"] = nonNilTags(c.Tags)
	}
	return out
}

func (e *ECS) describeClusters(_ context.Context, body []byte) (any, error) {
	var in struct {
		Clusters []string `json:"clusters"`
		Include  []string `json:"include"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{"default"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	clusters, failures := []any{}, []failure{}
	for _, ref := range in.Clusters {
		name := e.clusterName(ref)
		c := e.st.Clusters[name]
		if c == nil {
			failures = append(failures, failure{Arn: e.clusterArn(name), Reason: "MISSING"})
			continue
		}
		clusters = append(clusters, e.renderCluster(c, hasInclude(in.Include, "TAGS")))
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func (e *ECS) listClusters(_ context.Context, body []byte) (any, error) {
	var in struct {
		MaxResults *int   `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	var arns []string
	for name, c := range e.st.Clusters {
		if c.Status == "ACTIVE" {
			arns = append(arns, e.clusterArn(name))
		}
	}
	e.mu.Unlock()
	sort.Strings(arns)
	return listPage("clusterArns", arns, in.NextToken, limit)
}

// failure is an entry of the failures list of the Describe* operations.
type failure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// checkRefs checks the length of a Describe* operation's list of
// references, what naming the list in ECS's message.
func checkRefs(what string, refs []string, limit int) error {
	if len(refs) == 0 {
		return invalidParam("%s cannot be empty.", what)
	}
	if len(refs) > limit {
		return invalidParam("%s can have at most %d items; got %d.", what, limit, len(refs))
	}
	return nil
}

// missing is the failure for a reference to a service or task ("kind")
// that c does not hold: ECS reports an ARN as given and builds one from a
// bare name or ID.
func (e *ECS) missing(c *cluster, kind, ref string) failure {
	arn := ref
	if !strings.HasPrefix(ref, "arn:") {
		arn = e.arn(kind + "/" + c.Name + "/" + ref)
	}
	return failure{Arn: arn, Reason: "MISSING"}
}

func activeInstances(c *cluster) int {
	n := 0
	for _, ci := range c.Instances {
		if ci.Status == "ACTIVE" {
			n++
		}
	}
	return n
}

// describe answers a Describe* call on a cluster's resources: refs (at
// most max, named field in errors) are looked up with find and rendered,
// each missing one reported as a failure, as ECS does. key names the
// list in the response.
func describe[T, O any](e *ECS, clusterRef, field, key, kind string, refs []string, max int,
	find func(*cluster, string) *T, render func(*cluster, *T) O) (any, error) {
	if err := checkRefs(field, refs, max); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.activeCluster(clusterRef)
	if err != nil {
		return nil, err
	}
	out, failures := []O{}, []failure{}
	for _, ref := range refs {
		r := find(c, ref)
		if r == nil {
			failures = append(failures, e.missing(c, kind, ref))
			continue
		}
		out = append(out, render(c, r))
	}
	return map[string]any{key: out, "failures": failures}, nil
}
