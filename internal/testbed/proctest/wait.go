package proctest

import (
	"context"
	"testing"
	"time"
)

// Eventually polls cond every interval until it holds; on timeout the test
// fails with cond's last account of the state.
func Eventually(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(interval)
	}
}

// Context is a context for one test's calls, ended with the test and
// after 30 s at most.
func Context(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
