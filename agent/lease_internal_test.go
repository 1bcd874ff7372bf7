package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestReleaseOfADoneLeaseIsANoOp(t *testing.T) {
	l := newLocalLeases(nil)
	ctx := context.Background()
	first, err := l.Acquire(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Finish(ctx, &doneRecord{TaskDefinitionArn: "arn:x"}); err != nil {
		t.Fatal(err)
	}
	again, err := l.Acquire(ctx, "r1")
	if err != nil || again.done == nil {
		t.Fatalf("second acquire = %+v, %v; want the done record", again, err)
	}
	again.Release(ctx) // panicked once: a done lease has no release function
	first.Release(ctx)
}

func TestLocalLeasesBusyThenReleased(t *testing.T) {
	l := newLocalLeases(nil)
	ctx := context.Background()
	held, err := l.Acquire(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "r1"); !errors.Is(err, errBusy) {
		t.Fatalf("second acquire while held: %v, want errBusy", err)
	}
	held.Release(ctx)
	if _, err := l.Acquire(ctx, "r1"); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

// TestLocalLeasesForget: a single replica's memory of finished heals is
// bounded in size and in time; a forgotten one is found again through its
// revision's rewrite-ID tag (never Fresh), so forgetting costs a search,
// not a second revision.
func TestLocalLeasesForget(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLocalLeases(func() time.Time { return now })
	ctx := context.Background()
	finish := func(id string) {
		t.Helper()
		ls, err := l.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ls.Fresh {
			t.Fatal("a local lease claimed to be fresh")
		}
		if err := ls.Finish(ctx, &doneRecord{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range localDoneMax + 10 {
		finish(fmt.Sprint(i))
	}
	if n := len(l.done.m); n > localDoneMax {
		t.Errorf("%d finished leases remembered, want at most %d", n, localDoneMax)
	}
	if ls, _ := l.Acquire(ctx, "0"); ls == nil || ls.done != nil {
		t.Errorf("the oldest finished lease is still remembered past the bound")
	}
	last := fmt.Sprint(localDoneMax + 9)
	if ls, _ := l.Acquire(ctx, last); ls == nil || ls.done == nil {
		t.Fatalf("the newest finished lease was forgotten")
	}
	now = now.Add(localDoneRetention + time.Second)
	if ls, _ := l.Acquire(ctx, last); ls == nil || ls.done != nil {
		t.Errorf("a finished lease is remembered past its retention")
	}
}
