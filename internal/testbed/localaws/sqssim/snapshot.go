package sqssim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// snapshotVersion is the version of the Snapshot format.
const snapshotVersion = 1

type snapshot struct {
	wire.SnapshotHeader
	Queues []queueState `json:"queues"`
}

type queueState struct {
	Name      string            `json:"name"`
	Created   time.Time         `json:"created"`
	Modified  time.Time         `json:"modified"`
	LastPurge time.Time         `json:"lastPurge,omitzero"`
	Settings  settings          `json:"settings"`
	Tags      map[string]string `json:"tags,omitempty"`
	Messages  []*message        `json:"messages"`
}

// Snapshot writes every queue and message, in-flight state and receipt
// handles included, as JSON, so that `pullheal local --state DIR` survives a
// restart. Messages past their retention period are left out.
func (s *SQS) Snapshot(w io.Writer) error {
	s.mu.Lock()
	snap := snapshot{SnapshotHeader: wire.SnapshotHeader{Version: snapshotVersion, Account: s.account, Region: s.region}, Queues: []queueState{}}
	now := s.clock.Now()
	for _, name := range slices.Sorted(maps.Keys(s.queues)) {
		q := s.queues[name]
		q.dropExpired(now)
		st := queueState{
			Name: q.name, Created: q.created, Modified: q.modified, LastPurge: q.lastPurge,
			Settings: q.settings.clone(), Tags: q.tags, Messages: []*message{},
		}
		for _, m := range q.msgs {
			if !m.deleted {
				c := *m
				st.Messages = append(st.Messages, &c)
			}
		}
		snap.Queues = append(snap.Queues, st)
	}
	b, err := wire.EncodeSnapshot("sqs", snap)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write sqs snapshot: %w", err)
	}
	return nil
}

// Restore replaces all queues with those of a Snapshot. The snapshot must be
// of the same account and region; on error nothing changes.
func (s *SQS) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "sqs", &snap); err != nil {
		return err
	}
	if err := snap.Check("sqs", snapshotVersion, s.account, s.region); err != nil {
		return err
	}
	queues := map[string]*queue{}
	for i, st := range snap.Queues {
		if !queueNamePattern.MatchString(st.Name) {
			return fmt.Errorf("sqs snapshot: queue %d: invalid name %q", i, st.Name)
		}
		if queues[st.Name] != nil {
			return fmt.Errorf("sqs snapshot: queue %q appears twice", st.Name)
		}
		if err := st.Settings.validate(); err != nil {
			return fmt.Errorf("sqs snapshot: queue %q: %w", st.Name, err)
		}
		if st.Settings.Passive == nil {
			st.Settings.Passive = map[string]string{}
		}
		q := newQueue(st.Name, s.arn(st.Name), st.Created, st.Settings)
		q.modified, q.lastPurge = st.Modified, st.LastPurge
		for k, v := range st.Tags {
			q.tags[k] = v
		}
		for j, m := range st.Messages {
			if m == nil || m.ID == "" || m.Body == "" {
				return fmt.Errorf("sqs snapshot: queue %q: message %d: missing id or body", st.Name, j)
			}
			if q.byID[m.ID] != nil {
				return fmt.Errorf("sqs snapshot: queue %q: message %s appears twice", st.Name, m.ID)
			}
			m.checksum()
			q.msgs = append(q.msgs, m)
			q.byID[m.ID] = m
		}
		queues[st.Name] = q
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		q.signal() // release long pollers of the replaced queues
	}
	s.queues = queues
	return nil
}

// validate checks restored settings against SQS's ranges.
func (s settings) validate() error {
	check := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s %d out of range [%d, %d]", name, v, lo, hi)
		}
		return nil
	}
	for _, err := range []error{
		check("visibility timeout", s.VisibilityTimeout, 0, maxVisibilityTimeout),
		check("retention period", s.MessageRetentionPeriod, minRetention, maxRetention),
		check("receive wait time", s.ReceiveMessageWaitTimeSeconds, 0, maxWaitTimeSeconds),
		check("delay", s.DelaySeconds, 0, maxDelaySeconds),
		check("maximum message size", s.MaximumMessageSize, minMessageSize, maxMessageSize),
	} {
		if err != nil {
			return err
		}
	}
	if s.Redrive != nil {
		if err := check("maxReceiveCount", s.Redrive.MaxReceiveCount, 1, maxReceiveCountLimit); err != nil {
			return err
		}
	}
	return nil
}
