package ecssim

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestCapReason(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int // length of the result
	}{
		{"short", "CannotPullContainerError: x", 27},
		{"exactly the limit", strings.Repeat("a", 1024), 1024},
		{"one over", strings.Repeat("a", 1025), 1024},
		// A multi-byte rune straddling byte 1021 is not split.
		{"rune at the cut", strings.Repeat("a", 1020) + "é" + strings.Repeat("b", 10), 1023},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := capReason(tc.in)
			if len(got) != tc.want || !utf8.ValidString(got) {
				t.Errorf("len %d valid %v, want %d", len(got), utf8.ValidString(got), tc.want)
			}
			if len(tc.in) > maxReasonBytes && !strings.HasSuffix(got, "...") {
				t.Errorf("a cut reason does not end in ...: %q", got[len(got)-5:])
			}
		})
	}
}

func TestNormalizeUnits(t *testing.T) {
	cases := []struct {
		in, unit, want string
		ok             bool
	}{
		{"256", "vcpu", "256", true},
		{"1 vCPU", "vcpu", "1024", true},
		{".25 VCPU", "vcpu", "256", true},
		{"0.5GB", "gb", "512", true},
		{"2 GB", "gb", "2048", true},
		{"0.3 GB", "gb", "", false}, // not a whole number of MiB
		{"0", "vcpu", "", false},
		{"-1", "gb", "", false},
		{"lots", "vcpu", "", false},
		{"2 TB", "gb", "", false},
	}
	for _, tc := range cases {
		got, ok := normalizeUnits(tc.in, tc.unit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizeUnits(%q, %q) = %q, %v; want %q, %v", tc.in, tc.unit, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFargateSizes(t *testing.T) {
	cases := map[[2]string]bool{
		{"256", "512"}: true, {"256", "3072"}: false, {"512", "4096"}: true, {"4096", "30720"}: true,
		{"8192", "20480"}: true, {"8192", "17408"}: false, {"16384", "122880"}: true, {"300", "1024"}: false,
	}
	for in, want := range cases {
		if got := fargateSizeOK(in[0], in[1]); got != want {
			t.Errorf("fargateSizeOK(%s, %s) = %v, want %v", in[0], in[1], got, want)
		}
	}
}

func TestRestartDelayDoublesUpToTheMaximum(t *testing.T) {
	e := &ECS{cfg: Config{RestartDelay: 10 * time.Second, MaxRestartDelay: time.Minute}}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, e.restartDelay(n))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReasonsForFailuresWithoutARegistryAnswer(t *testing.T) {
	dns := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "ghcr.io", IsNotFound: true}}
	cases := []struct {
		name          string
		err           error
		launchType    string
		wantContainer string
		wantTask      string
	}{
		{"fargate manifest GET cut off", &PullError{Ref: "ghcr.io/org/app:1", Stage: StageFetch, Method: "GET", URL: "https://ghcr.io/v2/org/app/manifests/sha256:ab", Err: dns}, "FARGATE",
			`CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://ghcr.io/v2/org/app/manifests/sha256:ab": dial tcp: lookup ghcr.io: no such host`, ""},
		{"ec2 registry unreachable", &PullError{Ref: "ghcr.io/org/app:1", Stage: StageResolve, Method: "HEAD", URL: "https://ghcr.io/v2/org/app/manifests/1", Err: dns}, "EC2",
			`CannotPullContainerError: Error response from daemon: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io: no such host`, "Task failed to start"},
		{"digest mismatch", &PullError{Ref: "docker.io/library/nginx:1.27", Stage: StageFetch, Err: &DigestMismatchError{Expected: "sha256:aa", Actual: "sha256:bb"}}, "FARGATE",
			`CannotPullContainerError: ref pull has been retried 1 time(s): failed commit on ref "manifest-sha256-aa": unexpected commit digest sha256:bb, expected sha256:aa: failed precondition`, ""},
		{"invalid reference on ec2", &PullError{Ref: "Nginx:1", Stage: StageResolve, Err: ErrInvalidReference}, "EC2",
			"CannotPullContainerError: Error response from daemon: invalid reference format", "Task failed to start"},
		{"ec2 ecr without credentials", &PullError{Ref: "1.dkr/x:1", Stage: StageResolve, Method: "HEAD", URL: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/x/manifests/1", StatusCode: 401, Anonymous: true, Challenge: "basic"}, "EC2",
			`CannotPullContainerError: Error response from daemon: Head "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/x/manifests/1": no basic auth credentials`, "Task failed to start"},
		{"ec2 manifest unknown", &PullError{Ref: "docker.io/library/nginx:nope", Repository: "docker.io/library/nginx", Stage: StageResolve, StatusCode: 404}, "EC2",
			"CannotPullContainerError: Error response from daemon: manifest for nginx:nope not found: manifest unknown: manifest unknown", "Task failed to start"},
		{"ec2 secret refused", &PullError{Stage: StageAuth, CredentialSource: "secretsmanager", Err: errors.New("AccessDeniedException: denied")}, "EC2",
			"CannotPullECRContainerError: AccessDeniedException: denied", "Task failed to start"},
		{"fargate secret refused", &PullError{Stage: StageAuth, CredentialSource: "secretsmanager", Err: errors.New("ResourceNotFoundException: no secret")}, "FARGATE",
			"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): ResourceNotFoundException: no secret", ""},
		{"a puller's own error", errors.New("disk full"), "FARGATE", "CannotPullContainerError: disk full", ""},
		{"fargate server error with a body", &PullError{Stage: StageFetch, URL: "https://quay.io/v2/a/manifests/sha256:1", StatusCode: 503, Errors: []RegistryError{{Code: "UNAVAILABLE", Message: "try later"}, {Code: "MANIFEST_UNKNOWN"}}}, "FARGATE",
			"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://quay.io/v2/a/manifests/sha256:1: 503 Service Unavailable - Server message: unavailable: try later; manifest unknown", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, tr := pullFailureReasons(tc.err, tc.launchType)
			want := tc.wantTask
			if want == "" {
				want = tc.wantContainer
			}
			if diff := cmp.Diff([]string{tc.wantContainer, want}, []string{c, tr}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
