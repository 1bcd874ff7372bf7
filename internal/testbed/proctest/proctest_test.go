package proctest_test

import (
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP pullheal_events_total events
# TYPE pullheal_events_total counter
pullheal_events_total{cause="rate-limit",outcome="corrected"} 1
pullheal_events_total{cause="rate-limit",outcome="duplicate"} 8
pullheal_events_total{cause="other",outcome="ignored"} 2
pullheal_revisions_registered_total 1
`
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pullheal_events_total", nil, 11},
		{"pullheal_events_total", []string{"cause", "rate-limit"}, 9},
		{"pullheal_events_total", []string{"cause", "rate-limit", "outcome", "duplicate"}, 8},
		{"pullheal_revisions_registered_total", nil, 1},
		{"pullheal_services_updated_total", nil, 0},
	} {
		got, err := proctest.SumMetric(text, tc.name, tc.labels...)
		if err != nil || got != tc.want {
			t.Errorf("SumMetric(%s, %v) = %v, %v; want %v", tc.name, tc.labels, got, err, tc.want)
		}
	}
	if _, err := proctest.SumMetric("pullheal_events_total\n", "pullheal_events_total"); err == nil {
		t.Error("a line without a value was accepted")
	}
}

// TestStartKeepsLogLines runs a shell that logs two JSON lines and exits.
func TestStartKeepsLogLines(t *testing.T) {
	p := proctest.Start(t, "sh", "/bin/sh", []string{"GREETING=hi"}, "-c",
		`echo out; echo '{"msg":"first"}' >&2; echo "{\"msg\":\"second\",\"greeting\":\"$GREETING\"}" >&2`)
	l := p.WaitLog(t, 10*time.Second, "the second line", func(l proctest.LogLine) bool { return l.Msg() == "second" })
	if l.Str("greeting") != "hi" {
		t.Errorf("line %v: the environment did not reach the process", l)
	}
	if _, err := p.Wait(t, 10*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if got := p.Logs(func(proctest.LogLine) bool { return true }); len(got) != 2 {
		t.Errorf("%d log lines, want 2", len(got))
	}
	if got := p.StdoutLines(); len(got) != 1 || got[0] != "out" {
		t.Errorf("stdout %q, want [out]", got)
	}
	if p.Running() {
		t.Error("still running after it exited")
	}
}
