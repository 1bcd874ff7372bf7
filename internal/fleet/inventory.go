// Package fleet reads a region's ECS services and the task definitions they
// run, and scans them for images whose pulls a public registry rate-limits:
// what each deployment costs in counted pulls, where the agent would move
// each image, and (on request) the corrected revisions, registered once per
// source revision and optionally rolled out.
//
// Reading is paginated and concurrent but bounded, so that a thousand
// services in fifty clusters cost a few hundred API calls, a handful at a
// time.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// ECSAPI lists the ECS calls the fleet reader and the scan make, with the
// SDK's signatures, so that *ecs.Client satisfies it.
type ECSAPI interface {
	ListClusters(ctx context.Context, in *ecs.ListClustersInput, opts ...func(*ecs.Options)) (*ecs.ListClustersOutput, error)
	ListServices(ctx context.Context, in *ecs.ListServicesInput, opts ...func(*ecs.Options)) (*ecs.ListServicesOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, opts ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// ErrUnknownCluster is returned for a cluster named by the caller that does
// not exist (or is not ACTIVE).
var ErrUnknownCluster = errors.New("unknown cluster")

// DefaultWorkers bounds the concurrent Describe calls: ECS throttles
// Describe* at a few tens of calls per second per account.
const DefaultWorkers = 8

// describeBatch is DescribeServices' limit of services per call.
const describeBatch = 10

// Service is one ECS service as DescribeServices reports it, with its
// cluster's name.
type Service struct {
	Cluster string
	ecstypes.Service
}

// Name is the service's name.
func (s Service) Name() string { return aws.ToString(s.ServiceName) }

// TaskDefinitionArn is the revision the service runs (its primary deployment).
func (s Service) TaskDefinitionArn() string { return aws.ToString(s.TaskDefinition) }

// Controller is the service's deployment controller type (ECS when unset).
func (s Service) Controller() ecstypes.DeploymentControllerType {
	if s.DeploymentController != nil && s.DeploymentController.Type != "" {
		return s.DeploymentController.Type
	}
	return ecstypes.DeploymentControllerTypeEcs
}

// DeployedAt is when the service's primary deployment started: the moment
// it was last moved to the revision it runs. Zero when unknown.
func (s Service) DeployedAt() time.Time {
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" && d.CreatedAt != nil {
			return *d.CreatedAt
		}
	}
	return time.Time{}
}

// Clusters returns the names of every cluster of the region, sorted.
func Clusters(ctx context.Context, api ECSAPI) ([]string, error) {
	var names []string
	p := ecs.NewListClustersPaginator(api, &ecs.ListClustersInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		for _, arn := range page.ClusterArns {
			names = append(names, ecsarn.Name(arn))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Services returns the ACTIVE services of the named clusters (every cluster
// of the region when none is named), sorted by cluster and name. A named
// cluster that does not exist is an error wrapping ErrUnknownCluster.
func Services(ctx context.Context, api ECSAPI, clusters []string, workers int) ([]Service, error) {
	return services(ctx, api, clusters, workers, nil)
}

// services is Services reporting each cluster read to pr.
func services(ctx context.Context, api ECSAPI, clusters []string, workers int, pr *progress) ([]Service, error) {
	if workers < 1 {
		workers = DefaultWorkers
	}
	named := len(clusters) > 0
	if !named {
		var err error
		if clusters, err = Clusters(ctx, api); err != nil {
			return nil, err
		}
	}
	clusters = dedupe(clusters)
	pr.stage(StageClusters, len(clusters))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var mu sync.Mutex
	var out []Service
	for _, cluster := range clusters {
		g.Go(func() error {
			arns, err := serviceArns(gctx, api, cluster)
			if err != nil {
				if isClusterNotFound(err) {
					if named {
						return fmt.Errorf("cluster %q: %w", cluster, ErrUnknownCluster)
					}
					pr.step(0)
					return nil // deleted since ListClusters
				}
				return fmt.Errorf("list services of cluster %s: %w", cluster, err)
			}
			read := 0
			for i := 0; i < len(arns); i += describeBatch {
				batch := arns[i:min(i+describeBatch, len(arns))]
				svcs, err := describeServices(gctx, api, cluster, batch)
				if err != nil {
					return err
				}
				read += len(svcs)
				mu.Lock()
				out = append(out, svcs...)
				mu.Unlock()
			}
			pr.step(read)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Name() < out[j].Name()
	})
	return out, nil
}

func serviceArns(ctx context.Context, api ECSAPI, cluster string) ([]string, error) {
	var arns []string
	p := ecs.NewListServicesPaginator(api, &ecs.ListServicesInput{Cluster: aws.String(cluster), MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, page.ServiceArns...)
	}
	return arns, nil
}

func describeServices(ctx context.Context, api ECSAPI, cluster string, names []string) ([]Service, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names})
	if err != nil {
		return nil, fmt.Errorf("describe services of cluster %s: %w", cluster, err)
	}
	svcs := make([]Service, 0, len(out.Services))
	for _, s := range out.Services {
		if aws.ToString(s.Status) != "ACTIVE" {
			continue
		}
		svcs = append(svcs, Service{Cluster: cluster, Service: s})
	}
	return svcs, nil
}

// DescribeService reads one service. A cluster that does not exist wraps
// ErrUnknownCluster; a service that does not exist (or is no longer
// ACTIVE) wraps ErrUnknownService.
func DescribeService(ctx context.Context, api ECSAPI, cluster, name string) (Service, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if isClusterNotFound(err) {
		return Service{}, fmt.Errorf("cluster %q: %w", cluster, ErrUnknownCluster)
	}
	if err != nil {
		return Service{}, fmt.Errorf("describe service %s in cluster %s: %w", name, cluster, err)
	}
	for _, s := range out.Services {
		if aws.ToString(s.Status) == "ACTIVE" {
			return Service{Cluster: ecsarn.Name(cluster), Service: s}, nil
		}
	}
	return Service{}, fmt.Errorf("service %q in cluster %q: %w", name, cluster, ErrUnknownService)
}

// ErrUnknownService is returned for a service that does not exist.
var ErrUnknownService = errors.New("service not found")

func isClusterNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ClusterNotFoundException"
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Revision is one task-definition revision with its tags.
type Revision struct {
	Arn          string
	Family       string
	Number       int
	RegisteredAt time.Time
	Doc          *taskdef.Document
	Tags         []taskdef.Tag
	// Lossy says why a revision registered from Doc would lack a field
	// of this one (a field the SDK does not model); nil when none would.
	// Scanning reads Doc regardless; only a rewrite refuses.
	Lossy error
}

// Tag returns the value of the tag key, and whether it is there.
func (r *Revision) Tag(key string) (string, bool) {
	for _, t := range r.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Generated reports whether pullheal registered the revision: it carries
// the rewrite-id or the generation tag.
func (r *Revision) Generated() bool {
	_, id := r.Tag(taskdef.TagRewriteID)
	return id || taskdef.GenerationOf(r.Tags) > 0
}

// Revisions reads task definitions (with their tags) once each, however
// many services run them and however many goroutines ask.
type Revisions struct {
	api ECSAPI
	mu  sync.Mutex
	m   map[string]*revEntry
}

type revEntry struct {
	done chan struct{}
	rev  *Revision
	err  error
}

// NewRevisions returns an empty cache over api.
func NewRevisions(api ECSAPI) *Revisions {
	return &Revisions{api: api, m: map[string]*revEntry{}}
}

// Get describes the revision arn (an ARN or FAMILY:REVISION).
func (r *Revisions) Get(ctx context.Context, arn string) (*Revision, error) {
	r.mu.Lock()
	e, ok := r.m[arn]
	if !ok {
		e = &revEntry{done: make(chan struct{})}
		r.m[arn] = e
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.rev, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.rev, e.err = describeRevision(ctx, r.api, arn)
	close(e.done)
	if e.err == nil && e.rev.Arn != arn {
		r.mu.Lock()
		if _, ok := r.m[e.rev.Arn]; !ok {
			r.m[e.rev.Arn] = e
		}
		r.mu.Unlock()
	}
	return e.rev, e.err
}

// ErrNoRevision is returned for a task definition that does not exist.
var ErrNoRevision = errors.New("no such task definition")

func describeRevision(ctx context.Context, api ECSAPI, arn string) (*Revision, error) {
	// The raw body shows a field the SDK does not model, which a
	// corrected revision would otherwise lose without a word.
	var body []byte
	out, err := api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	}, taskdef.RecordBody(&body))
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "ClientException" || ae.ErrorCode() == "InvalidParameterException") {
			// ECS answers an unknown revision with a ClientException.
			return nil, fmt.Errorf("describe %s: %w: %s", arn, ErrNoRevision, ae.ErrorMessage())
		}
		return nil, fmt.Errorf("describe %s: %w", arn, err)
	}
	doc, err := taskdef.FromSDK(out.TaskDefinition, out.Tags)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", arn, err)
	}
	full := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	fam, num, _ := ecsarn.TaskDefinition(full)
	rev := &Revision{Arn: full, Family: fam, Number: num, Doc: doc, Tags: doc.Tags(), Lossy: taskdef.CheckDescribed(body)}
	if out.TaskDefinition.RegisteredAt != nil {
		rev.RegisteredAt = *out.TaskDefinition.RegisteredAt
	}
	return rev, nil
}

// FamilyRevisions lists the ACTIVE revisions of family, newest first,
// stopping (exclusive) at revision stopAt when it is above 0.
func FamilyRevisions(ctx context.Context, api ECSAPI, family string, stopAt int) ([]string, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(api, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: aws.String(family), Status: ecstypes.TaskDefinitionStatusActive, Sort: ecstypes.SortOrderDesc, MaxResults: aws.Int32(100),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list revisions of %s: %w", family, err)
		}
		for _, arn := range page.TaskDefinitionArns {
			fam, num, _ := ecsarn.TaskDefinition(arn)
			if fam != family {
				continue // familyPrefix is a prefix: web matches web-admin
			}
			if stopAt > 0 && num <= stopAt {
				return arns, nil
			}
			arns = append(arns, arn)
		}
	}
	return arns, nil
}

// DescribeAll describes every arn with at most workers calls at once and
// returns the revisions in the order of arns.
func (r *Revisions) DescribeAll(ctx context.Context, arns []string, workers int) ([]*Revision, error) {
	return r.describeAll(ctx, arns, workers, nil)
}

// describeAll is DescribeAll reporting each revision described to pr.
func (r *Revisions) describeAll(ctx context.Context, arns []string, workers int, pr *progress) ([]*Revision, error) {
	pr.stage(StageTaskDefinitions, len(arns))
	if workers < 1 {
		workers = DefaultWorkers
	}
	out := make([]*Revision, len(arns))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, arn := range arns {
		g.Go(func() error {
			rev, err := r.Get(gctx, arn)
			out[i] = rev
			pr.step(0)
			return err
		})
	}
	return out, g.Wait()
}
