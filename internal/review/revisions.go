// Package review lets engineers review what pullheal did: it lists the
// revisions pullheal generated (found by their provenance tags) with what
// each changed and where it runs, deploys a proposed one (approve), and
// rolls a service back from a generated one (revert), each guarded the way
// the agent guards its own updates and each announced with a review event.
package review

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// Statuses of a generated revision for one service.
const (
	Deployed   = "deployed"   // the service runs it
	Proposed   = "proposed"   // registered, the service still runs its source
	Superseded = "superseded" // the service moved on to another revision since
	Reverted   = "reverted"   // pullheal revert rolled the service back from it
	Drift      = "drift"      // the service was moved back to a revision that pulls from the rate-limited registry again
)

// Image is one container's image change.
type Image struct {
	Container string `json:"container"`
	From      string `json:"from"`
	To        string `json:"to"`
	Route     string `json:"route"`
}

// ServiceStatus is a generated revision's status for one service.
type ServiceStatus struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	Status  string `json:"status"`
}

// Revision is one revision pullheal generated.
type Revision struct {
	TaskDefinitionArn       string          `json:"taskDefinitionArn"`
	SourceTaskDefinitionArn string          `json:"sourceTaskDefinitionArn"`
	RewriteID               string          `json:"rewriteId"`
	Generation              int             `json:"generation"`
	Reason                  string          `json:"reason"`
	Images                  []Image         `json:"images"`
	Services                []ServiceStatus `json:"services"`
	// Diff is the change against the source revision (with Query.Diff).
	Diff string `json:"diff,omitempty"`
	// RegisteredAt orders the list; not part of the JSON contract.
	RegisteredAt time.Time `json:"-"`
}

// Query selects the generated revisions to list.
type Query struct {
	Clusters []string // none: every cluster of the region
	Service  string   // only revisions this service runs or ran
	Family   string   // only this family's revisions
	Diff     bool
	Workers  int
}

// Lister lists generated revisions.
type Lister struct {
	ECS fleet.ECSAPI
	// Rules are the pull-through cache rules, to tell a pull-through
	// target from a mirrored one; nil reports the route as "unknown".
	Rules []plan.PullThroughRule
}

// ErrInput marks a query or argument that names something that does not
// exist or is not what it must be; the CLI exits 2 for it.
var ErrInput = errors.New("bad input")

// List returns the generated revisions of the families in scope, newest
// first. A family is in scope when a service of the selected clusters runs
// one of its revisions (narrowed by Service), or when Family names it.
func (l *Lister) List(ctx context.Context, q Query) ([]Revision, error) {
	svcs, err := fleet.Services(ctx, l.ECS, q.Clusters, q.Workers)
	if errors.Is(err, fleet.ErrUnknownCluster) {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err != nil {
		return nil, err
	}
	if q.Service != "" {
		var kept []fleet.Service
		for _, s := range svcs {
			if s.Name() == q.Service {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%w: service %q not found in %s", ErrInput, q.Service, clusterWords(q.Clusters))
		}
		svcs = kept
	}
	families := map[string][]fleet.Service{}
	for _, s := range svcs {
		fam, _, _ := ecsarn.TaskDefinition(s.TaskDefinitionArn())
		if q.Family != "" && fam != q.Family {
			continue
		}
		families[fam] = append(families[fam], s)
	}
	if q.Family != "" && q.Service == "" {
		if _, ok := families[q.Family]; !ok {
			families[q.Family] = nil
		}
	}
	revs := fleet.NewRevisions(l.ECS)
	var out []Revision
	for _, fam := range sortedKeys(families) {
		arns, err := fleet.FamilyRevisions(ctx, l.ECS, fam, 0)
		if err != nil {
			return nil, err
		}
		described, err := revs.DescribeAll(ctx, arns, q.Workers)
		if err != nil {
			return nil, err
		}
		for _, g := range described {
			if !g.Generated() {
				continue
			}
			r, err := l.revision(ctx, revs, g, families[fam], q)
			if err != nil {
				return nil, err
			}
			if q.Service != "" && len(r.Services) == 0 {
				continue
			}
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].RegisteredAt.Equal(out[j].RegisteredAt) {
			return out[i].RegisteredAt.After(out[j].RegisteredAt)
		}
		// Registered in the same millisecond: the higher revision is newer
		// (compared as numbers: web:10 after web:9).
		fi, ni, _ := ecsarn.TaskDefinition(out[i].TaskDefinitionArn)
		fj, nj, _ := ecsarn.TaskDefinition(out[j].TaskDefinitionArn)
		if fi != fj {
			return fi < fj
		}
		return ni > nj
	})
	return out, nil
}

func (l *Lister) revision(ctx context.Context, revs *fleet.Revisions, g *fleet.Revision, svcs []fleet.Service, q Query) (Revision, error) {
	src, _ := g.Tag(taskdef.TagSourceRevision)
	id, _ := g.Tag(taskdef.TagRewriteID)
	reason, _ := g.Tag(taskdef.TagReason)
	r := Revision{TaskDefinitionArn: g.Arn, SourceTaskDefinitionArn: src, RewriteID: id, Generation: max(taskdef.GenerationOf(g.Tags), 1),
		Reason: reason, Images: []Image{}, Services: []ServiceStatus{}, RegisteredAt: g.RegisteredAt}
	var source *fleet.Revision
	// pullheal rewrite of a file without an ARN (in CI) names the family
	// alone: no revision to compare with.
	if _, _, ok := ecsarn.TaskDefinition(src); ok {
		s, err := revs.Get(ctx, src)
		switch {
		case err == nil:
			source = s
		case errors.Is(err, fleet.ErrNoRevision):
			// Deleted since: the images are then unknown, the rest stands.
		default:
			return r, err
		}
	}
	if source != nil {
		r.Images = l.images(source.Doc, g.Doc)
		if q.Diff {
			r.Diff = taskdef.Diff(source.Doc, g.Doc)
		}
	}
	for _, s := range svcs {
		st := Status(g, s)
		if st == Superseded {
			cur, err := revs.Get(ctx, s.TaskDefinitionArn())
			if err != nil && !errors.Is(err, fleet.ErrNoRevision) {
				return r, err
			}
			st = DriftOf(st, r.Images, cur)
		}
		if st != "" {
			r.Services = append(r.Services, ServiceStatus{Cluster: s.Cluster, Service: s.Name(), Status: st})
		}
	}
	return r, nil
}

// Status is the status of generated revision g for service s, or "" when
// s has nothing to do with it: it runs neither g nor its source and has not
// been moved since g was registered. Superseded may be refined by DriftOf.
//
// ECS keeps no history of the revisions a service ran, so the time of the
// service's primary deployment stands in for it: a deployment newer than g
// means the service was moved after g existed.
func Status(g *fleet.Revision, s fleet.Service) string {
	current := s.TaskDefinitionArn()
	if current == g.Arn {
		return Deployed
	}
	src, _ := g.Tag(taskdef.TagSourceRevision)
	if v, ok := g.Tag(agent.TagReverted); ok && (current == src || names(v, s)) {
		return Reverted
	}
	movedSince := s.DeployedAt().After(g.RegisteredAt)
	if current == src {
		if movedSince {
			return Drift // moved back onto the source, which pulls from the rate-limited registry
		}
		return Proposed
	}
	if !movedSince {
		return ""
	}
	return Superseded
}

// DriftOf refines Superseded: a service that moved to a revision whose
// container still pulls the image g moved away (from the same registry)
// drifted. It needs the revision the service runs.
func DriftOf(status string, images []Image, current *fleet.Revision) string {
	if status != Superseded || current == nil {
		return status
	}
	now := map[string]string{}
	for _, c := range current.Doc.Containers() {
		now[c.Name] = c.Image
	}
	for _, im := range images {
		from, err1 := imageref.Parse(im.From)
		cur, err2 := imageref.Parse(now[im.Container])
		if err1 == nil && err2 == nil && from.Registry == cur.Registry {
			return Drift
		}
	}
	return status
}

// names reports whether a pullheal:reverted value names service s.
func names(v string, s fleet.Service) bool {
	for _, f := range strings.Fields(v) {
		if f == s.Cluster+"/"+s.Name() {
			return true
		}
	}
	return false
}

// images compares the containers of the source and the generated revision.
func (l *Lister) images(src, gen *taskdef.Document) []Image {
	before := map[string]string{}
	for _, c := range src.Containers() {
		before[c.Name] = c.Image
	}
	out := []Image{}
	for _, c := range gen.Containers() {
		from, ok := before[c.Name]
		if !ok || from == c.Image {
			continue
		}
		out = append(out, Image{Container: c.Name, From: from, To: c.Image, Route: l.route(from, c.Image)})
	}
	return out
}

// route tells how an image reached ECR: through a pull-through cache rule
// when its repository is the rule's prefix over the source's repository,
// mirrored otherwise.
func (l *Lister) route(from, to string) string {
	if l.Rules == nil {
		return "unknown"
	}
	f, err1 := imageref.Parse(from)
	t, err2 := imageref.Parse(to)
	if err1 != nil || err2 != nil {
		return "unknown"
	}
	for _, r := range l.Rules {
		if r.Upstream == f.Registry && t.Repository == r.Prefix+"/"+f.Repository {
			return string(plan.PullThrough)
		}
	}
	return string(plan.Mirror)
}

func clusterWords(clusters []string) string {
	if len(clusters) == 0 {
		return "any cluster"
	}
	return "cluster " + strings.Join(clusters, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
