package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullheal/pullheal/internal/buildinfo"
)

// Metrics are the agent's Prometheus metrics. They are registered on the
// registry passed to NewMetrics, never on the global one.
type Metrics struct {
	Events              *prometheus.CounterVec
	HealingSeconds      prometheus.Histogram
	PullsAvoided        prometheus.Counter
	RevisionsRegistered prometheus.Counter
	ServicesUpdated     prometheus.Counter
	MessagesInFlight    prometheus.Gauge
	MessageErrors       *prometheus.CounterVec
	// MessagesOverBudget counts messages whose handling ran out of its
	// budget (Intake.Budget) and was cut off.
	MessagesOverBudget prometheus.Counter
	// ReceiveFailures counts failed ReceiveMessage calls.
	ReceiveFailures prometheus.Counter
	// UpstreamRemaining is the pull budget the upstream registry last
	// advertised (ratelimit-remaining) to the mirror route.
	UpstreamRemaining prometheus.Gauge
	// BuildInfo is 1, labelled with the running build, so that dashboards
	// can tell which version each replica runs.
	BuildInfo *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullheal_events_total",
			Help: "ECS events handled, by the failure cause found and the outcome.",
		}, []string{"cause", "outcome"}),
		HealingSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pullheal_healing_duration_seconds",
			Help:    "Time from receiving a rate-limit failure to the corrected revision being registered and rolled out.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		PullsAvoided: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pullheal_upstream_pulls_avoided_total",
			Help: "Upstream image pulls moved to ECR: rewritten images times the service's desired count at the time of healing.",
		}),
		RevisionsRegistered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pullheal_revisions_registered_total",
			Help: "Corrected task-definition revisions registered.",
		}),
		ServicesUpdated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pullheal_services_updated_total",
			Help: "Services rolled onto a corrected revision.",
		}),
		MessagesInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pullheal_messages_in_flight",
			Help: "SQS messages being handled now.",
		}),
		MessageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullheal_message_errors_total",
			Help: "Messages that could not be handled, by disposition (deleted as permanent, or left for redelivery).",
		}, []string{"disposition"}),
		MessagesOverBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pullheal_messages_over_budget_total",
			Help: "Messages whose handling ran past the message budget and was cut off; each is released for a retry.",
		}),
		ReceiveFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pullheal_receive_failures_total",
			Help: "SQS ReceiveMessage calls that failed.",
		}),
		UpstreamRemaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pullheal_upstream_ratelimit_remaining",
			Help: "Pulls left in the upstream registry's rate-limit window, as it last advertised to the mirror route (ratelimit-remaining).",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pullheal_build_info",
			Help: "Always 1; the labels name the running build (version, commit, Go version).",
		}, []string{"version", "commit", "goversion"}),
	}
	bi := buildinfo.Get()
	m.BuildInfo.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)
	reg.MustRegister(m.BuildInfo, m.UpstreamRemaining, m.Events, m.HealingSeconds, m.PullsAvoided, m.RevisionsRegistered, m.ServicesUpdated, m.MessagesInFlight, m.MessageErrors, m.MessagesOverBudget, m.ReceiveFailures)
	return m
}
