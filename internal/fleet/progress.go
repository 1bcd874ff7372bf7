package fleet

import "sync"

// Stages of a scan, in order, as Progress reports them.
const (
	StageClusters        = "clusters"         // listing and describing each cluster's services
	StageTaskDefinitions = "task definitions" // describing each distinct revision the services run
	StageTasks           = "tasks"            // listing the tasks of each EC2 service without an execution role
	StageInstanceRoles   = "instance roles"   // finding the role of each container instance those tasks run on
	StagePullChecks      = "pull checks"      // asking whether each role may pull its ECR targets
	StageRevisions       = "revisions"        // --apply: finding or registering corrected revisions
	StageUpdates         = "service updates"  // --apply update: rolling the services, guarded
)

// Progress is how far a scan (or its apply) has got: Done of Total units
// of Stage, and the services read so far. A large fleet takes a while,
// and a terminal should show that it moves.
type Progress struct {
	Stage       string
	Done, Total int
	Services    int
}

// progress serialises reports, so that a caller's func need not be safe
// for concurrent use; a nil func reports nothing.
type progress struct {
	mu  sync.Mutex
	fn  func(Progress)
	cur Progress
}

func newProgress(fn func(Progress)) *progress { return &progress{fn: fn} }

// stage starts a stage of total units.
func (p *progress) stage(name string, total int) {
	p.update(func(c *Progress) { c.Stage, c.Done, c.Total = name, 0, total })
}

// step counts one unit done and services more read.
func (p *progress) step(services int) {
	p.update(func(c *Progress) { c.Done++; c.Services += services })
}

func (p *progress) update(f func(*Progress)) {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.cur)
	p.fn(p.cur)
}
