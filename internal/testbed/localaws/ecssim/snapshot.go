package ecssim

import (
	"encoding/json"
	"fmt"
	"io"
)

// snapshotVersion is the format of Snapshot's output.
const snapshotVersion = 1

type snapshotFile struct {
	Version int    `json:"version"`
	Account string `json:"account"`
	Region  string `json:"region"`
	State   *state `json:"state"`
}

// Snapshot writes the whole state (task definitions, clusters, services,
// tasks, scheduler bookkeeping) as JSON, for Restore after a restart.
func (e *ECS) Snapshot(w io.Writer) error {
	e.mu.Lock()
	b, err := json.Marshal(snapshotFile{Version: snapshotVersion, Account: e.cfg.Account, Region: e.cfg.Region, State: e.st})
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("snapshot ecs: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("snapshot ecs: %w", err)
	}
	return nil
}

// Restore replaces the state with one written by Snapshot. The snapshot
// must be of the same account and region, since ARNs are derived from
// them. On error the current state is kept.
func (e *ECS) Restore(r io.Reader) error {
	var f snapshotFile
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("restore ecs: decode snapshot: %w", err)
	}
	switch {
	case f.Version != snapshotVersion:
		return fmt.Errorf("restore ecs: snapshot version %d, want %d", f.Version, snapshotVersion)
	case f.Account != e.cfg.Account || f.Region != e.cfg.Region:
		return fmt.Errorf("restore ecs: snapshot is of account %s in %s, this stand-in is %s in %s", f.Account, f.Region, e.cfg.Account, e.cfg.Region)
	case f.State == nil:
		return fmt.Errorf("restore ecs: snapshot has no state")
	}
	if err := f.State.check(); err != nil {
		return fmt.Errorf("restore ecs: %w", err)
	}
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st = f.State
	return nil
}

// check verifies the invariants the rest of the package relies on, so a
// damaged snapshot is refused rather than crashing a later call.
func (st *state) check() error {
	if st.Families == nil {
		st.Families = map[string]*family{}
	}
	if st.Clusters == nil {
		st.Clusters = map[string]*cluster{}
	}
	for name, f := range st.Families {
		if f == nil || f.Name != name {
			return fmt.Errorf("family %q: missing or misnamed", name)
		}
		for i, td := range f.Revisions {
			if td == nil || td.Revision != i+1 || td.Family != name || td.Doc == nil {
				return fmt.Errorf("family %q: revision %d is missing or out of order", name, i+1)
			}
			var fields tdFields
			if err := json.Unmarshal(rawJSON(td.Doc), &fields); err != nil {
				return fmt.Errorf("task definition %s:%d: %w", name, i+1, err)
			}
		}
	}
	for name, c := range st.Clusters {
		if c == nil || c.Name != name {
			return fmt.Errorf("cluster %q: missing or misnamed", name)
		}
		if c.Services == nil {
			c.Services = map[string]*service{}
		}
		if c.Tasks == nil {
			c.Tasks = map[string]*task{}
		}
		for sn, s := range c.Services {
			if s == nil || s.Name != sn || s.Cluster != name || len(s.Deployments) == 0 {
				return fmt.Errorf("service %s/%s: missing, misnamed or without a deployment", name, sn)
			}
			for _, d := range s.Deployments {
				if d == nil {
					return fmt.Errorf("service %s/%s: empty deployment", name, sn)
				}
			}
		}
		for id, t := range c.Tasks {
			if t == nil || t.ID != id || t.Cluster != name {
				return fmt.Errorf("task %s/%s: missing or misnamed", name, id)
			}
			for _, ct := range t.Containers {
				if ct == nil || len(ct.ID) < 8 {
					return fmt.Errorf("task %s/%s: damaged container", name, id)
				}
			}
		}
	}
	return nil
}
