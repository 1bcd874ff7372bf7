package policysource_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/policysource"
)

// benchPolicy is a policy of realistic size: 40 deny rules, about 3 KB (a standard SSM parameter holds 4 KB).
func benchPolicy(tag string) string {
	var b strings.Builder
	b.WriteString("# " + tag + "\nversion: 1\ndeny:\n")
	for i := range 40 {
		b.WriteString("  - match: docker.io/example/image-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "\n    reason: not allowed in production\n")
	}
	return b.String()
}

// The cost of one reload when nothing changed (S3 answers 304, SSM's
// version and hash match) against one that reads and parses a new policy:
// what the agent spends every --policy-reload.
func BenchmarkReload(b *testing.B) {
	bed := newBed(b)
	ctx := context.Background()
	bed.putObject(b, "bench.yaml", benchPolicy("a"))
	bed.putParameter(b, "/bench", benchPolicy("a"))
	for _, loc := range []string{"s3://policies/bench.yaml", "ssm:/bench"} {
		r := bed.reader(b, loc)
		first, err := r.Read(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(loc+"/unchanged", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s, err := r.Read(ctx, first); err != nil || s != first {
					b.Fatalf("%v %p", err, s)
				}
			}
		})
		b.Run(loc+"/changed", func(b *testing.B) {
			b.ReportAllocs()
			stale := &policysource.Snapshot{}
			for b.Loop() {
				if _, err := r.Read(ctx, stale); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
