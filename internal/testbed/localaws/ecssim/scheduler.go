package ecssim

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Tick runs one scheduling round synchronously, at the clock's current
// time:
//
//  1. STOPPED tasks older than the retention are forgotten;
//  2. each service launches tasks of its PRIMARY deployment up to its
//     desired count (unless its restart backoff has not passed) and stops
//     tasks above it;
//  3. every task still to start is moved to PENDING and its images pulled
//     through the Puller; it then becomes RUNNING, or stops with the text
//     ECS shows for the failed pull (stopCode TaskFailedToStart);
//  4. tasks whose desired status is STOPPED stop;
//  5. a deployment whose tasks all run drains the older ones and
//     completes, and a service at its desired count reaches steady state.
//
// Every task state change is published as an "ECS Task State Change"
// event; the returned error joins event delivery failures (the state
// changes stand) and the context's error if it ended the round early.
func (e *ECS) Tick(ctx context.Context) error {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	var errs []error

	e.mu.Lock()
	var events []wire.Event
	e.purgeStopped()
	events = append(events, e.reconcileServices()...)
	toStart := e.tasksToStart()
	e.mu.Unlock()
	errs = append(errs, e.publish(ctx, events))

	for _, ref := range toStart {
		evs, err := e.startTask(ctx, ref)
		errs = append(errs, e.publish(ctx, evs))
		if err != nil {
			errs = append(errs, err)
			return errors.Join(errs...)
		}
	}

	e.mu.Lock()
	events = e.completeStops()
	events = append(events, e.settleServices()...)
	e.mu.Unlock()
	errs = append(errs, e.publish(ctx, events))
	return errors.Join(errs...)
}

// Run calls Tick every interval until ctx ends. Tick errors are logged.
func (e *ECS) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("run scheduler: interval must be positive, got %v", interval)
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("scheduling round failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

type taskRef struct{ cluster, id string }

// sortedClusters returns the clusters in name order, so that a round is
// deterministic. Callers hold e.mu.
func (e *ECS) sortedClusters() []*cluster {
	out := make([]*cluster, 0, len(e.st.Clusters))
	for _, c := range e.st.Clusters {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedServices(c *cluster) []*service {
	out := make([]*service, 0, len(c.Services))
	for _, s := range c.Services {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedTasks(c *cluster) []*task {
	out := make([]*task, 0, len(c.Tasks))
	for _, t := range c.Tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (e *ECS) purgeStopped() {
	cutoff := e.now().Add(-e.cfg.StoppedRetention)
	for _, c := range e.st.Clusters {
		for id, t := range c.Tasks {
			if t.LastStatus == statusStopped && t.StoppedAt.Before(cutoff) {
				delete(c.Tasks, id)
			}
		}
	}
}

// liveTasks lists a service's tasks that are meant to run, of one
// deployment or (id "") of all.
func liveTasks(c *cluster, s *service, id string) []*task {
	var out []*task
	for _, t := range sortedTasks(c) {
		if t.Service == s.Name && t.DesiredStatus == statusRunning && (id == "" || t.StartedBy == id) {
			out = append(out, t)
		}
	}
	return out
}

func taskIDs(ts []*task) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = "(task " + t.ID + ")"
	}
	return strings.Join(parts, " ")
}

// reconcileServices launches and stops service tasks toward the desired
// count. Callers hold e.mu.
func (e *ECS) reconcileServices() []wire.Event {
	var events []wire.Event
	now := e.now()
	for _, c := range e.sortedClusters() {
		for _, s := range sortedServices(c) {
			if s.Status == "INACTIVE" {
				continue
			}
			primary := s.Deployments[0]
			if s.Status == "DRAINING" {
				if live := liveTasks(c, s, ""); len(live) > 0 {
					for _, t := range live {
						e.requestStop(t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+primary.ID+")")
						events = append(events, e.stateEvent(t))
					}
					e.addEvent(s, fmt.Sprintf("has stopped %d running tasks: %s.", len(live), taskIDs(live)))
				}
				continue
			}
			live := liveTasks(c, s, primary.ID)
			if excess := len(live) - primary.DesiredCount; excess > 0 {
				// Tasks that have not started go first, then the newest.
				sort.SliceStable(live, func(i, j int) bool {
					ri, rj := live[i].LastStatus == statusRunning, live[j].LastStatus == statusRunning
					if ri != rj {
						return !ri
					}
					return live[i].CreatedAt.After(live[j].CreatedAt)
				})
				stopped := live[:excess]
				for _, t := range stopped {
					e.requestStop(t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+primary.ID+")")
					events = append(events, e.stateEvent(t))
				}
				e.addEvent(s, fmt.Sprintf("has stopped %d running tasks: %s.", len(stopped), taskIDs(stopped)))
				continue
			}
			missing := primary.DesiredCount - len(live)
			if missing <= 0 || now.Before(s.NextLaunchAt) {
				continue
			}
			td, why := e.lookupTaskDef(primary.TaskDefinition)
			if why != tdOK {
				continue
			}
			tags := []tag(nil)
			switch s.PropagateTags {
			case "SERVICE":
				tags = s.Tags
			case "TASK_DEFINITION":
				tags = td.Tags
			}
			l := launch{
				LaunchType: s.LaunchType, PlatformVersion: s.PlatformVersion, Group: "service:" + s.Name,
				StartedBy: primary.ID, Service: s.Name, Tags: tags, EnableExec: s.EnableExecuteCommand,
				Network: primary.NetworkConfig,
			}
			var started []*task
			for range missing {
				t, err := e.newTask(c, td, l)
				if err != nil {
					break
				}
				started = append(started, t)
				events = append(events, e.stateEvent(t))
			}
			if len(started) > 0 {
				s.Steady = false
				e.addEvent(s, fmt.Sprintf("has started %d tasks: %s.", len(started), taskIDs(started)))
			}
		}
	}
	return events
}

// tasksToStart lists tasks waiting to pull, oldest first. Callers hold e.mu.
func (e *ECS) tasksToStart() []taskRef {
	var out []taskRef
	for _, c := range e.sortedClusters() {
		for _, t := range sortedTasks(c) {
			if t.DesiredStatus == statusRunning && (t.LastStatus == statusProvisioning || t.LastStatus == statusPending) {
				out = append(out, taskRef{c.Name, t.ID})
			}
		}
	}
	return out
}

func (e *ECS) taskByRef(ref taskRef) *task {
	c := e.st.Clusters[ref.cluster]
	if c == nil {
		return nil
	}
	return c.Tasks[ref.id]
}

// startTask moves one task to PENDING, pulls its images outside the lock
// and records the outcome. It returns the events to publish, and an error
// only when ctx ended the pull (the task then stays PENDING for the next
// round).
func (e *ECS) startTask(ctx context.Context, ref taskRef) ([]wire.Event, error) {
	e.mu.Lock()
	t := e.taskByRef(ref)
	if t == nil || t.DesiredStatus != statusRunning || (t.LastStatus != statusProvisioning && t.LastStatus != statusPending) {
		e.mu.Unlock()
		return nil, nil
	}
	var events []wire.Event
	now := e.now()
	if t.LastStatus == statusProvisioning {
		t.LastStatus = statusPending
		t.Connectivity, t.ConnectivityAt = "CONNECTED", now
		e.bump(t)
		events = append(events, e.stateEvent(t))
	}
	t.PullStartedAt = now
	arn := e.taskArn(t)
	reqs := make([]PullRequest, len(t.Containers))
	instance := e.ec2InstanceOf(t)
	for i, c := range t.Containers {
		reqs[i] = PullRequest{Image: c.Image, Platform: t.Platform, Auth: PullAuth{ExecutionRoleArn: t.ExecutionRoleArn,
			EC2InstanceID: instance, RepositoryCredentials: c.RepositoryCredentials}}
	}
	e.mu.Unlock()

	results := make([]error, len(reqs))
	for i, req := range reqs {
		results[i] = e.cfg.Puller.Pull(ctx, req)
		if ctx.Err() != nil {
			return events, fmt.Errorf("pull %s for %s: %w", req.Image, arn, ctx.Err())
		}
		if results[i] != nil {
			e.log.Info("pull failed", "task_arn", arn, "image", req.Image, "error", results[i])
		} else {
			e.log.Info("pulled", "task_arn", arn, "image", req.Image)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	t = e.taskByRef(ref)
	if t == nil || t.DesiredStatus != statusRunning {
		return events, nil // stopped while pulling; completeStops finishes it
	}
	return append(events, e.finishStart(t, results)...), nil
}

// finishStart records the outcome of a task's pulls. Callers hold e.mu.
func (e *ECS) finishStart(t *task, results []error) []wire.Event {
	now := e.now()
	t.PullStoppedAt = now
	var firstErr error
	for i, err := range results {
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err != nil {
			t.Containers[i].Reason, _ = pullFailureReasons(err, t.LaunchType)
		}
	}
	s := e.serviceOf(t)
	if firstErr == nil {
		t.LastStatus, t.StartedAt = statusRunning, now
		for _, c := range t.Containers {
			c.LastStatus = statusRunning
			c.RuntimeID = t.ID + "-" + c.ID[:8]
		}
		e.bump(t)
		if s != nil {
			s.ConsecutiveFailures, s.NextLaunchAt = 0, time.Time{}
		}
		return []wire.Event{e.stateEvent(t)}
	}

	_, taskReason := pullFailureReasons(firstErr, t.LaunchType)
	t.DesiredStatus = statusStopped
	t.StopCode = "TaskFailedToStart"
	t.StoppedReason = taskReason
	t.StoppingAt, t.ExecutionStoppedAt = now, now
	if s != nil {
		for _, d := range s.Deployments {
			if d.ID == t.StartedBy {
				d.FailedTasks++
				d.UpdatedAt = now
			}
		}
		s.ConsecutiveFailures++
		s.NextLaunchAt = now.Add(e.restartDelay(s.ConsecutiveFailures))
		s.Steady = false
		if s.ConsecutiveFailures == 3 {
			e.addEvent(s, "is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
		}
	}
	return e.finishStop(t)
}

// restartDelay is the service throttle after n consecutive failed starts.
func (e *ECS) restartDelay(n int) time.Duration {
	d := e.cfg.RestartDelay
	for i := 1; i < n && d < e.cfg.MaxRestartDelay; i++ {
		d *= 2
	}
	return min(d, e.cfg.MaxRestartDelay)
}

func (e *ECS) serviceOf(t *task) *service {
	if t.Service == "" {
		return nil
	}
	c := e.st.Clusters[t.Cluster]
	if c == nil {
		return nil
	}
	return c.Services[t.Service]
}

// finishStop takes a task whose desired status is STOPPED to STOPPED,
// through DEPROVISIONING for awsvpc tasks (their network interface is
// released first). Callers hold e.mu.
func (e *ECS) finishStop(t *task) []wire.Event {
	var events []wire.Event
	now := e.now()
	if t.StoppingAt.IsZero() {
		t.StoppingAt = now
	}
	if t.ExecutionStoppedAt.IsZero() {
		t.ExecutionStoppedAt = now
	}
	for _, c := range t.Containers {
		c.LastStatus = statusStopped
	}
	if t.NetworkMode == "awsvpc" && t.LastStatus != statusDeprovisioning {
		t.LastStatus = statusDeprovisioning
		e.bump(t)
		events = append(events, e.stateEvent(t))
	}
	t.LastStatus, t.StoppedAt = statusStopped, now
	e.bump(t)
	return append(events, e.stateEvent(t))
}

// completeStops stops every task whose desired status is STOPPED. Callers
// hold e.mu.
func (e *ECS) completeStops() []wire.Event {
	var events []wire.Event
	for _, c := range e.sortedClusters() {
		for _, t := range sortedTasks(c) {
			if t.DesiredStatus == statusStopped && t.LastStatus != statusStopped {
				events = append(events, e.finishStop(t)...)
			}
		}
	}
	return events
}

// settleServices drains superseded deployments once the PRIMARY one runs
// its desired count, completes rollouts and records steady states.
// Callers hold e.mu.
func (e *ECS) settleServices() []wire.Event {
	var events []wire.Event
	now := e.now()
	for _, c := range e.sortedClusters() {
		for _, s := range sortedServices(c) {
			if s.Status == "INACTIVE" {
				continue
			}
			if s.Status == "DRAINING" {
				if len(liveTasks(c, s, "")) == 0 {
					s.Status = "INACTIVE"
				}
				continue
			}
			primary := s.Deployments[0]
			running, pending := taskCounts(c, s, primary.ID)
			if running < primary.DesiredCount || pending > 0 {
				continue
			}
			if len(s.Deployments) > 1 {
				var drained []*task
				for _, d := range s.Deployments[1:] {
					for _, t := range liveTasks(c, s, d.ID) {
						e.requestStop(t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+primary.ID+")")
						events = append(events, e.stateEvent(t))
						events = append(events, e.finishStop(t)...)
						drained = append(drained, t)
					}
				}
				if len(drained) > 0 {
					e.addEvent(s, fmt.Sprintf("has stopped %d running tasks: %s.", len(drained), taskIDs(drained)))
				}
				s.Deployments = s.Deployments[:1]
			}
			if primary.RolloutState == "IN_PROGRESS" {
				primary.RolloutState = "COMPLETED"
				primary.RolloutStateReason = "ECS deployment " + primary.ID + " completed."
				primary.UpdatedAt = now
				e.addEvent(s, "(deployment "+primary.ID+") deployment completed.")
			}
			if !s.Steady {
				s.Steady = true
				e.addEvent(s, "has reached a steady state.")
			}
		}
	}
	return events
}
