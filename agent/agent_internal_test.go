package agent

import (
	"testing"
	"time"
)

func TestRetryDelayGrowsToTheVisibilityTimeout(t *testing.T) {
	a := &Agent{intake: Intake{Visibility: 30 * time.Second}}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 4: 16 * time.Second, 5: 30 * time.Second, 50: 30 * time.Second} {
		if got := a.retryDelay(n); got != want {
			t.Errorf("retryDelay(%d) = %s, want %s", n, got, want)
		}
	}
}
