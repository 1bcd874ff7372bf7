package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics from gatherer, /healthz (the poll loop is alive
// and its receives have not been failing for Intake.UnhealthyAfter)
// and /readyz (the queue has answered at least once).
func (a *Agent) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if problem := a.receiveProblem(); problem != "" {
			http.Error(w, problem, http.StatusServiceUnavailable)
			return
		}
		last := a.lastPoll.Load()
		// A long poll returns within WaitTime; allow a slow network on top.
		if last != 0 && time.Since(time.Unix(0, last)) > a.intake.WaitTime+time.Minute {
			http.Error(w, "poll loop stalled", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a.lastPoll.Load() == 0 {
			http.Error(w, "queue not reached yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
