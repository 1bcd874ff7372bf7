package eventsim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

const snapshotVersion = 1

type snapshot struct {
	wire.SnapshotHeader
	Buses []busState `json:"buses"`
}

type busState struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Created     time.Time   `json:"created"`
	Modified    time.Time   `json:"modified"`
	Rules       []ruleState `json:"rules"`
}

type ruleState struct {
	Name        string            `json:"name"`
	Pattern     *string           `json:"pattern,omitempty"`
	Schedule    string            `json:"schedule,omitempty"`
	State       string            `json:"state"`
	Description string            `json:"description,omitempty"`
	RoleArn     string            `json:"roleArn,omitempty"`
	Targets     []json.RawMessage `json:"targets"`
}

// Snapshot writes every bus, rule and target as JSON, for
// `pullheal local --state DIR`.
func (e *EventBridge) Snapshot(w io.Writer) error {
	e.mu.RLock()
	snap := snapshot{SnapshotHeader: wire.SnapshotHeader{Version: snapshotVersion, Account: e.account, Region: e.region}, Buses: []busState{}}
	for _, name := range slices.Sorted(maps.Keys(e.buses)) {
		b := e.buses[name]
		bs := busState{Name: b.name, Description: b.description, Created: b.created, Modified: b.modified, Rules: []ruleState{}}
		for _, rname := range slices.Sorted(maps.Keys(b.rules)) {
			r := b.rules[rname]
			rs := ruleState{Name: r.name, Schedule: r.schedule, State: r.state, Description: r.description, RoleArn: r.roleArn, Targets: []json.RawMessage{}}
			if r.pattern != nil {
				src := r.pattern.String()
				rs.Pattern = &src
			}
			for _, id := range slices.Sorted(maps.Keys(r.targets)) {
				rs.Targets = append(rs.Targets, r.targets[id].raw)
			}
			bs.Rules = append(bs.Rules, rs)
		}
		snap.Buses = append(snap.Buses, bs)
	}
	e.mu.RUnlock()
	b, err := wire.EncodeSnapshot("eventbridge", snap)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write eventbridge snapshot: %w", err)
	}
	return nil
}

// Restore replaces all buses, rules and targets with those of a Snapshot of
// the same account and region. Patterns and targets are validated as
// PutRule and PutTargets would; on error nothing changes.
func (e *EventBridge) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "eventbridge", &snap); err != nil {
		return err
	}
	if err := snap.Check("eventbridge", snapshotVersion, e.account, e.region); err != nil {
		return err
	}
	buses := map[string]*bus{}
	for _, bs := range snap.Buses {
		if !busNamePattern.MatchString(bs.Name) {
			return fmt.Errorf("eventbridge snapshot: invalid bus name %q", bs.Name)
		}
		if buses[bs.Name] != nil {
			return fmt.Errorf("eventbridge snapshot: bus %q appears twice", bs.Name)
		}
		b := &bus{name: bs.Name, description: bs.Description, created: bs.Created, modified: bs.Modified, rules: map[string]*rule{}}
		for _, rs := range bs.Rules {
			if !ruleNamePattern.MatchString(rs.Name) {
				return fmt.Errorf("eventbridge snapshot: bus %q: invalid rule name %q", bs.Name, rs.Name)
			}
			if b.rules[rs.Name] != nil {
				return fmt.Errorf("eventbridge snapshot: bus %q: rule %q appears twice", bs.Name, rs.Name)
			}
			switch rs.State {
			case "ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
			default:
				return fmt.Errorf("eventbridge snapshot: rule %q: invalid state %q", rs.Name, rs.State)
			}
			if rs.Pattern == nil && rs.Schedule == "" {
				return fmt.Errorf("eventbridge snapshot: rule %q has neither pattern nor schedule", rs.Name)
			}
			ru := &rule{name: rs.Name, bus: bs.Name, schedule: rs.Schedule, state: rs.State, description: rs.Description, roleArn: rs.RoleArn, targets: map[string]*target{}}
			if rs.Pattern != nil {
				p, err := ParsePattern(*rs.Pattern)
				if err != nil {
					return fmt.Errorf("eventbridge snapshot: rule %q: %w", rs.Name, err)
				}
				ru.pattern = p
			}
			for _, raw := range rs.Targets {
				t, err := parseTarget(raw)
				if err != nil {
					return fmt.Errorf("eventbridge snapshot: rule %q: target: %w", rs.Name, err)
				}
				ru.targets[t.id] = t
			}
			b.rules[rs.Name] = ru
		}
		buses[bs.Name] = b
	}
	if buses[DefaultBus] == nil {
		return fmt.Errorf("eventbridge snapshot: the default bus is missing")
	}
	e.mu.Lock()
	e.buses = buses
	e.mu.Unlock()
	return nil
}
