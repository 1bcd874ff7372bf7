// Package fake holds small behaviour fakes of the narrow AWS interfaces
// package agent declares (agent.ECSAPI, agent.SQSAPI, agent.EventsAPI,
// agent.ECRAPI), for unit tests that need one branch of the agent in a
// millisecond. They keep just enough state to answer like the service
// (revisions count up, a service runs one revision) and record every call.
// The wire-compatible stand-ins under internal/testbed are for integration
// tests; nothing in a product package imports either.
package fake

import (
	"sync"
)

// Calls records operation names in call order; every fake embeds one.
type Calls struct {
	mu    sync.Mutex
	calls []string
	// Errors makes the named operation fail with this error.
	Errors map[string]error
}

func (c *Calls) record(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, op)
	return c.Errors[op]
}

// Names returns the operations called so far, in order.
func (c *Calls) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Count returns how often op was called.
func (c *Calls) Count(op string) int {
	n := 0
	for _, name := range c.Names() {
		if name == op {
			n++
		}
	}
	return n
}

// Fail makes op fail with err from now on.
func (c *Calls) Fail(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Errors == nil {
		c.Errors = map[string]error{}
	}
	c.Errors[op] = err
}
