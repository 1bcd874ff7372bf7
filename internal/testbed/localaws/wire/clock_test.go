package wire_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func TestManualClockMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
	c := wire.NewManualClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("after ten concurrent one-second advances Now() = %v, want %v", got, want)
	}
}
