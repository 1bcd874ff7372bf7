package ecsevent_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/internal/imageref"
)

type reasonCase struct {
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Image     string `json:"image"`
	Cause     string `json:"cause"`
	Truncated bool   `json:"truncated"`
	Inferred  bool   `json:"inferred"`
	Explain   string `json:"explain"`
}

func loadReasons(t testing.TB) []reasonCase {
	var cases []reasonCase
	loadJSON(t, "testdata/reasons.json", &cases)
	distinct := map[string]bool{}
	for _, c := range cases {
		distinct[c.Reason] = true
	}
	if len(distinct) < 40 {
		t.Fatalf("testdata/reasons.json has %d distinct reasons, want at least 40", len(distinct))
	}
	return cases
}

func TestClassifyReason(t *testing.T) {
	type result struct {
		Cause               ecsevent.Cause
		Truncated, Inferred bool
	}
	for _, tc := range loadReasons(t) {
		t.Run(tc.Name, func(t *testing.T) {
			ref, err := imageref.Parse(tc.Image)
			if err != nil && tc.Image != "" {
				t.Fatalf("fixture image %q: %v", tc.Image, err)
			}
			cause, why, truncated, inferred := ecsevent.ClassifyReason(tc.Reason, ref)
			want := result{ecsevent.Cause(tc.Cause), tc.Truncated, tc.Inferred}
			if diff := cmp.Diff(want, result{cause, truncated, inferred}); diff != "" {
				t.Errorf("reason %q, image %q (-want +got):\n%s\nexplanation: %s", tc.Reason, tc.Image, diff, why)
			}
			if why == "" || strings.Contains(why, "\n") {
				t.Errorf("explanation %q is not one line", why)
			}
			if !strings.Contains(why, tc.Explain) {
				t.Errorf("explanation %q does not contain %q", why, tc.Explain)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	var cases []struct {
		Name string          `json:"name"`
		Task json.RawMessage `json:"task"`
		Want []struct {
			Container string `json:"container"`
			Cause     string `json:"cause"`
			DecidedBy string `json:"decidedBy"` // "container", "task" or "" for no failure
			Inferred  bool   `json:"inferred"`
			Truncated bool   `json:"truncated"`
			Transient bool   `json:"transient"`
		} `json:"want"`
	}
	loadJSON(t, "testdata/tasks.json", &cases)
	type row struct {
		Container, Cause, DecidedBy    string
		Inferred, Truncated, Transient bool
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			task, err := ecsevent.ParseTask(tc.Task)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []row
			for _, w := range tc.Want {
				want = append(want, row{w.Container, w.Cause, w.DecidedBy, w.Inferred, w.Truncated, w.Transient})
			}
			for i, f := range ecsevent.Classify(task) {
				by := ""
				switch {
				case f.Reason == "":
				case f.Reason == task.Containers[i].Reason:
					by = "container"
				case f.Reason == task.StoppedReason:
					by = "task"
				default:
					by = "neither: " + f.Reason
				}
				got = append(got, row{f.Container, string(f.Cause), by, f.Inferred, f.Truncated, f.Transient})
				if f.Explanation == "" {
					t.Errorf("container %s has no explanation", f.Container)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Classify mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassifyNoContainers(t *testing.T) {
	task := &ecsevent.Task{LastStatus: "STOPPED", StoppedReason: "CannotPullContainerError: toomanyrequests: You have reached your pull rate limit."}
	if got := ecsevent.Classify(task); got != nil {
		t.Errorf("Classify of a task without containers = %+v, want nil", got)
	}
	if got := ecsevent.Classify(nil); got != nil {
		t.Errorf("Classify(nil) = %+v, want nil", got)
	}
}

func TestIsTruncated(t *testing.T) {
	for in, want := range map[string]bool{
		"CannotPullContainerError: ...":         true,
		"CannotPullContainerError: …":           true,
		"CannotPullContainerError: x... \n":     true,
		strings.Repeat("a", ecsevent.ReasonCap): true,
		strings.Repeat("a", 255):                false,
		strings.Repeat("a", 252) + "...":        true,
		strings.Repeat("a", 1025):               false,
		"Task failed to start":                  false,
	} {
		if got := ecsevent.IsTruncated(in); got != want {
			t.Errorf("IsTruncated(%.40q... len %d) = %v, want %v", in, len(in), got, want)
		}
	}
}

func FuzzClassifyReason(f *testing.F) {
	for _, tc := range loadReasons(f) {
		f.Add(tc.Reason, tc.Image)
	}
	f.Fuzz(func(t *testing.T, reason, image string) {
		ref, _ := imageref.Parse(image)
		cause, why, truncated, inferred := ecsevent.ClassifyReason(reason, ref)
		switch cause {
		case ecsevent.RateLimit, ecsevent.OtherFailure, ecsevent.NoFailure:
		default:
			t.Fatalf("unknown cause %q", cause)
		}
		if why == "" {
			t.Fatal("no explanation")
		}
		if inferred && (!truncated || cause != ecsevent.RateLimit) {
			t.Fatalf("inferred with truncated=%v cause=%s", truncated, cause)
		}
		if cause == ecsevent.RateLimit && (ref.Kind == imageref.ECRPrivate || ref.Kind == imageref.ECRPublic) {
			t.Fatalf("ECR image %q classified as a rate limit by %q", image, reason)
		}
		if truncated != ecsevent.IsTruncated(reason) {
			t.Fatalf("truncated=%v, IsTruncated=%v", truncated, ecsevent.IsTruncated(reason))
		}
	})
}

func BenchmarkParseClassify(b *testing.B) {
	data := readFile(b, "testdata/events/fargate-rate-limited.json")
	b.ReportAllocs()
	for b.Loop() {
		e, err := ecsevent.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if fs := ecsevent.Classify(e.Task); fs[0].Cause != ecsevent.RateLimit {
			b.Fatalf("cause %s", fs[0].Cause)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	for _, name := range []string{"fargate-rate-limited", "ec2-daemon-rate-limited", "fargate-two-containers-task-reason"} {
		e, err := ecsevent.Parse(readFile(b, "testdata/events/"+name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ecsevent.Classify(e.Task)
			}
		})
	}
}
