package imagesync_test

import (
	"context"
	"testing"

	"github.com/pullheal/pullheal/internal/imagesync"
)

// BenchmarkResync: a scheduled sync of testdata/sync.yaml (six images, one
// customised, four refused) when everything is already in ECR. It costs
// HEADs upstream and reads of ECR, and no pull.
func BenchmarkResync(b *testing.B) {
	bed := startBed(b)
	pol := loadPolicy(b, "testdata/sync.yaml")
	ctx := context.Background()
	if _, err := imagesync.Sync(ctx, bed.config(), pol); err != nil {
		b.Fatal(err)
	}
	pulls := bed.srv.Hub.Pulls().Total
	b.ReportAllocs()
	for b.Loop() {
		rep, err := imagesync.Sync(ctx, bed.config(), pol)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.AlreadyMirrored != 6 {
			b.Fatalf("summary %+v", rep.Summary)
		}
	}
	if got := bed.srv.Hub.Pulls().Total; got != pulls {
		b.Fatalf("re-syncs made %d pulls", got-pulls)
	}
}

// BenchmarkFirstSync: the same policy into an empty registry (a new test
// bed per run, not timed).
func BenchmarkFirstSync(b *testing.B) {
	pol := loadPolicy(b, "testdata/sync.yaml")
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		bed := startBed(b)
		b.StartTimer()
		rep, err := imagesync.Sync(ctx, bed.config(), pol)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.Copied != 5 || rep.Summary.Customized != 1 {
			b.Fatalf("summary %+v", rep.Summary)
		}
		b.StopTimer()
		bed.srv.Close()
		b.StartTimer()
	}
}
