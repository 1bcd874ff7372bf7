package mirror_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pullheal/pullheal/internal/mirror"
)

// hubBudget makes a registry advertise a pull budget the way Docker Hub
// does: every manifest response carries the headers, and each manifest GET
// spends one pull. At zero, manifest GETs get Docker Hub's 429.
// With quiet set it sends the headers only with its 429, so that a client
// cannot see the end coming.
type hubBudget struct {
	mu        sync.Mutex
	remaining int
	quiet     bool
}

func (h *hubBudget) fault(w http.ResponseWriter, r *http.Request) bool {
	if !strings.Contains(r.URL.Path, "/manifests/") {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method == http.MethodGet && h.remaining == 0 {
		w.Header().Set("RateLimit-Limit", "100;w=21600")
		w.Header().Set("RateLimit-Remaining", "0;w=21600")
		tooManyRequests("")(w, r)
		return true
	}
	if r.Method == http.MethodGet {
		h.remaining--
	}
	if h.quiet {
		return false
	}
	w.Header().Set("RateLimit-Limit", "100;w=21600")
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(h.remaining)+";w=21600")
	return false
}

func TestRateLimitReserve(t *testing.T) {
	tests := []struct {
		name      string
		remaining int
		quiet     bool
		reserve   int
		wantErr   error
		wantGETs  int // manifest GETs the source served
		wantLeft  int // remaining budget the Mirror reports afterwards
		wantSleep bool
	}{
		// An index of two platforms needs three manifest GETs.
		{name: "budget enough", remaining: 10, reserve: 2, wantGETs: 3, wantLeft: 7},
		{name: "reserve reached before any GET", remaining: 3, reserve: 2, wantErr: mirror.ErrRateLimitReserve, wantLeft: 3},
		// Index plus one child fit; once the index names two children the
		// copy stops, one GET spent.
		{name: "reserve reached after the index", remaining: 4, reserve: 2, wantErr: mirror.ErrRateLimitReserve, wantGETs: 1, wantLeft: 3},
		// Even without a reserve a copy that cannot finish is not started.
		{name: "budget too small", remaining: 2, reserve: 0, wantErr: mirror.ErrRateLimitReserve, wantGETs: 1, wantLeft: 1},
		// A registry that tells nothing until it refuses: the copy runs into
		// Docker Hub's 429, whose headers say the budget is spent, so there
		// is no retry and no wait.
		{name: "budget spent", remaining: 1, quiet: true, wantErr: mirror.ErrRateLimited, wantGETs: 2, wantLeft: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestRegistry(t)
			dst := newTestRegistry(t)
			src.pushIndex("library/app:1", multiArch(t, 512, 1, "linux/amd64", "linux/arm64"))
			budget := &hubBudget{remaining: tc.remaining, quiet: tc.quiet}
			src.setFault(budget.fault)
			gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pull_budget_remaining"})
			clock := newFakeClock()
			m, err := mirror.New(
				mirror.WithEndpoint("docker.io", src.srv.URL),
				mirror.WithRateLimitReserve(tc.reserve),
				mirror.WithRateLimitGauge(gauge),
				mirror.WithJobs(1), // children one by one, so that GET counts are exact
				clock.option(),
			)
			if err != nil {
				t.Fatal(err)
			}

			_, err = m.Copy(t.Context(), "docker.io/library/app:1", dst.ref("mirror/library/app:1"))

			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, mirror.ErrRateLimitReserve) && !strings.Contains(err.Error(), "in reserve") {
				t.Errorf("error %q does not explain the reserve", err)
			}
			if _, gets := src.counts(); gets != tc.wantGETs {
				t.Errorf("source served %d manifest GETs, want %d", gets, tc.wantGETs)
			}
			rl, ok := m.RateLimit("docker.io")
			if !ok {
				t.Fatal("no rate limit recorded for docker.io")
			}
			want := mirror.RateLimit{Limit: 100, Remaining: tc.wantLeft, Window: 6 * time.Hour}
			if diff := cmp.Diff(want, rl, cmpopts.IgnoreFields(mirror.RateLimit{}, "ObservedAt")); diff != "" {
				t.Errorf("rate limit (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(gauge); got != float64(tc.wantLeft) {
				t.Errorf("gauge %v, want %d", got, tc.wantLeft)
			}
			if len(clock.sleeps()) != 0 {
				t.Errorf("waited %v, want no waits", clock.sleeps())
			}
			if tc.wantErr != nil && dst.checkAbsentOrComplete("mirror/library/app:1") {
				t.Error("destination tagged after a refused copy")
			}
		})
	}
}

func TestRateLimitUnknownRegistry(t *testing.T) {
	m, err := mirror.New()
	if err != nil {
		t.Fatal(err)
	}
	if rl, ok := m.RateLimit("quay.io"); ok {
		t.Errorf("RateLimit(quay.io) = %+v, true before any request", rl)
	}
	if _, ok := m.RateLimit("not a host!"); ok {
		t.Error("RateLimit of a malformed host reported a budget")
	}
}
