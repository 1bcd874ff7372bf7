package fake

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Events is agent.EventsAPI: it keeps every entry put.
type Events struct {
	Calls

	mu      sync.Mutex
	Entries []ebtypes.PutEventsRequestEntry
}

func (f *Events) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if err := f.record("PutEvents"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Entries = append(f.Entries, in.Entries...)
	out := &eventbridge.PutEventsOutput{}
	for range in.Entries {
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{})
	}
	return out, nil
}

// Put returns the entries put so far.
func (f *Events) Put() []ebtypes.PutEventsRequestEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ebtypes.PutEventsRequestEntry(nil), f.Entries...)
}
