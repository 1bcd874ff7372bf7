package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func sha256Of(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// readAllSmall reads r with small reads and returns what it passed on and the
// error that ended the stream.
func readAllSmall(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

func TestVerifier(t *testing.T) {
	data := bytes.Repeat([]byte("layer-bytes;"), 10) // 120 bytes
	wrong := append(bytes.Clone(data[:len(data)-1]), '!')
	sum512 := sha512.Sum512(data)
	tests := []struct {
		name     string
		source   []byte
		desc     v1.Descriptor
		wantOut  int // bytes passed on
		wantErr  string
		wantMiss bool // errors.Is(err, ErrDigestMismatch)
	}{
		{name: "match", source: data, desc: v1.Descriptor{Digest: sha256Of(data), Size: 120}, wantOut: 120},
		{name: "sha512", source: data, desc: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha512", Hex: hex.EncodeToString(sum512[:])}, Size: 120}, wantOut: 120},
		// The read that would complete the blob is withheld: 119 bytes
		// come in reads of 7, so the first 112 pass and the last 8 do not.
		{name: "last byte differs", source: wrong, desc: v1.Descriptor{Digest: sha256Of(data), Size: 120}, wantOut: 119 / 7 * 7, wantErr: "hashes to sha256:" + sha256Of(wrong).Hex, wantMiss: true},
		{name: "longer than promised", source: append(bytes.Clone(data), 'x'), desc: v1.Descriptor{Digest: sha256Of(data), Size: 120}, wantOut: 120, wantErr: "longer than 120 bytes", wantMiss: true},
		{name: "shorter than promised", source: data[:100], desc: v1.Descriptor{Digest: sha256Of(data), Size: 120}, wantOut: 100, wantErr: "ended after 100 of 120 bytes"},
		{name: "empty", source: nil, desc: v1.Descriptor{Digest: sha256Of(nil), Size: 0}, wantOut: 0},
		{name: "empty but promised other content", source: nil, desc: v1.Descriptor{Digest: sha256Of(data), Size: 0}, wantErr: "hashes to", wantMiss: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := newVerifier(bytes.NewReader(tc.source), tc.desc, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := readAllSmall(v)
			if len(out) != tc.wantOut {
				t.Errorf("passed on %d bytes, want %d", len(out), tc.wantOut)
			}
			if !bytes.Equal(out, tc.source[:len(out)]) {
				t.Error("passed on bytes that differ from the source")
			}
			n, verr, verified := v.close()
			switch {
			case tc.wantErr == "":
				if err != io.EOF || !verified || n != tc.desc.Size {
					t.Errorf("end %v, verified %v after %d bytes; want EOF, verified", err, verified, n)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(verr, err) {
					t.Errorf("error %v (verdict %v), want one containing %q", err, verr, tc.wantErr)
				}
				if errors.Is(err, ErrDigestMismatch) != tc.wantMiss {
					t.Errorf("errors.Is(%v, ErrDigestMismatch) = %v, want %v", err, !tc.wantMiss, tc.wantMiss)
				}
				if verified {
					t.Error("verdict verified after an error")
				}
			}
		})
	}
}

func TestVerifierNames(t *testing.T) {
	if _, err := newVerifier(nil, v1.Descriptor{Digest: v1.Hash{Algorithm: "md5", Hex: "00"}, Size: 1}, nil); err == nil || !strings.Contains(err.Error(), `unsupported digest algorithm "md5"`) {
		t.Errorf("md5 digest: %v", err)
	}
	if _, err := newVerifier(nil, v1.Descriptor{Digest: sha256Of(nil), Size: -1}, nil); err == nil || !strings.Contains(err.Error(), "negative size") {
		t.Errorf("negative size: %v", err)
	}
	// A source that fails mid-stream: the error says which blob.
	v, _ := newVerifier(iotest.ErrReader(errors.New("connection reset by peer")), v1.Descriptor{Digest: sha256Of([]byte("x")), Size: 1}, nil)
	if _, err := v.Read(make([]byte, 4)); err == nil || !strings.Contains(err.Error(), "read blob sha256:") || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failing source: %v", err)
	}
	// After close, reads stop and the verdict no longer changes.
	v, _ = newVerifier(bytes.NewReader([]byte("abc")), v1.Descriptor{Digest: sha256Of([]byte("abc")), Size: 3}, nil)
	if _, err := v.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n, err, ok := v.close(); n != 1 || err != nil || ok {
		t.Errorf("close mid-stream = %d, %v, %v; want 1, nil, false", n, err, ok)
	}
	if _, err := v.Read(make([]byte, 8)); !errors.Is(err, errVerifierClosed) {
		t.Errorf("read after close: %v", err)
	}
}

// FuzzVerifier checks that a verifier passes on exactly the source when the
// digest matches, and never the whole of it when it does not.
func FuzzVerifier(f *testing.F) {
	f.Add([]byte("hello, layer"), uint8(3), false)
	f.Add([]byte{}, uint8(1), true)
	f.Add(bytes.Repeat([]byte{0}, 4096), uint8(255), true)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, corrupt bool) {
		want := sha256Of(data)
		if corrupt {
			b := []byte(want.Hex)
			b[0] = "01"[(b[0]-'0'+1)%2]
			want.Hex = string(b)
		}
		v, err := newVerifier(bytes.NewReader(data), v1.Descriptor{Digest: want, Size: int64(len(data))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, int(chunk)+1)
		var out []byte
		for {
			n, err := v.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				if corrupt {
					t.Fatalf("corrupt blob of %d bytes ended cleanly", len(data))
				}
				break
			}
			if err != nil {
				if !corrupt || !errors.Is(err, ErrDigestMismatch) {
					t.Fatalf("error %v (corrupt %v)", err, corrupt)
				}
				if len(data) > 0 && len(out) >= len(data) {
					t.Fatalf("corrupt blob passed on whole (%d bytes)", len(out))
				}
				break
			}
		}
		if !bytes.Equal(out, data[:len(out)]) {
			t.Fatal("passed-on bytes differ from the source")
		}
	})
}

func TestParseRateLimitHeader(t *testing.T) {
	type parsed struct {
		N      int
		Window time.Duration
		OK     bool
	}
	tests := map[string]parsed{
		"76;w=21600":        {76, 6 * time.Hour, true},
		" 100 ; w=21600 ":   {100, 6 * time.Hour, true},
		"0;w=21600":         {0, 6 * time.Hour, true},
		"42":                {42, 0, true},
		"5;w=abc":           {5, 0, true},
		"5;burst=10;w=3600": {5, time.Hour, true},
		"":                  {},
		"-1;w=21600":        {},
		"many;w=21600":      {},
	}
	for in, want := range tests {
		n, w, ok := ParseRateLimitHeader(in)
		if diff := cmp.Diff(want, parsed{n, w, ok}); diff != "" {
			t.Errorf("ParseRateLimitHeader(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func FuzzParseRateLimitHeader(f *testing.F) {
	for _, s := range []string{"76;w=21600", "", "1;w=", ";;;", "9999999999999999999;w=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, w, ok := ParseRateLimitHeader(s)
		if ok && (n < 0 || w < 0) {
			t.Fatalf("ParseRateLimitHeader(%q) = %d, %s", s, n, w)
		}
		if !ok && (n != 0 || w != 0) {
			t.Fatalf("ParseRateLimitHeader(%q) not ok but returned %d, %s", s, n, w)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)
	type got struct {
		D  time.Duration
		OK bool
	}
	tests := map[string]got{
		"7":                             {7 * time.Second, true},
		"0":                             {0, true},
		"Tue, 02 Jun 2026 10:00:30 GMT": {30 * time.Second, true},
		"Tue, 02 Jun 2026 09:59:00 GMT": {0, true}, // in the past: now
		"-5":                            {},
		"soon":                          {},
		"":                              {},
	}
	for in, want := range tests {
		h := http.Header{}
		if in != "" {
			h.Set("Retry-After", in)
		}
		d, ok := retryAfter(h, now)
		if diff := cmp.Diff(want, got{d, ok}); diff != "" {
			t.Errorf("retryAfter(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	base := 500 * time.Millisecond
	for attempt := 1; attempt <= 12; attempt++ {
		step := min(base<<(attempt-1), 30*time.Second)
		for i := 0; i < 50; i++ {
			d := backoffDelay(base, attempt)
			if d < step/2 || d > step {
				t.Fatalf("backoffDelay(%s, %d) = %s, want within [%s, %s]", base, attempt, d, step/2, step)
			}
		}
	}
}

func TestFilterIndexGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/index.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := filterIndex(raw, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := jsonIndent(&pretty, got); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/index-filtered.golden.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
		t.Errorf("filtered index (-want +got):\n%s", diff)
	}
	again, err := filterIndex(raw, []int{0, 2})
	if err != nil || !bytes.Equal(again, got) {
		t.Error("filtering the same index twice gave different bytes")
	}
	if _, err := v1.ParseIndexManifest(bytes.NewReader(got)); err != nil {
		t.Errorf("filtered index does not parse: %v", err)
	}
}

// retrySequence answers with the given statuses in turn (200 after them),
// with headers per answer, and counts requests.
type retrySequence struct {
	mu      sync.Mutex
	answers []answer
	n       int
}

type answer struct {
	status int
	header map[string]string
}

func (s *retrySequence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	a := answer{status: http.StatusOK}
	if s.n < len(s.answers) {
		a = s.answers[s.n]
	}
	s.n++
	s.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
}

func TestRetryTransport(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		streamBody bool // a body that cannot be replayed
		answers    []answer
		wantStatus int
		wantTries  int
		wantWaits  []time.Duration
	}{
		{name: "503 then fine", method: http.MethodGet, answers: []answer{{status: 503}}, wantStatus: 200, wantTries: 2, wantWaits: []time.Duration{-1}},
		{name: "429 with Retry-After", method: http.MethodGet, answers: []answer{{429, map[string]string{"Retry-After": "2"}}}, wantStatus: 200, wantTries: 2, wantWaits: []time.Duration{2 * time.Second}},
		{name: "Retry-After too long", method: http.MethodGet, answers: []answer{{429, map[string]string{"Retry-After": "600"}}}, wantStatus: 429, wantTries: 1},
		{name: "budget spent", method: http.MethodGet, answers: []answer{{429, map[string]string{"RateLimit-Remaining": "0;w=21600"}}}, wantStatus: 429, wantTries: 1},
		{name: "gives up after the attempts", method: http.MethodHead, answers: []answer{{status: 502}, {status: 502}, {status: 502}, {status: 502}}, wantStatus: 502, wantTries: 3, wantWaits: []time.Duration{-1, -1}},
		{name: "client errors are final", method: http.MethodGet, answers: []answer{{status: 404}}, wantStatus: 404, wantTries: 1},
		{name: "replayable PUT is retried", method: http.MethodPut, answers: []answer{{status: 500}}, wantStatus: 200, wantTries: 2, wantWaits: []time.Duration{-1}},
		{name: "streamed body is not", method: http.MethodPut, streamBody: true, answers: []answer{{status: 500}}, wantStatus: 500, wantTries: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq := &retrySequence{answers: tc.answers}
			srv := httptest.NewServer(seq)
			defer srv.Close()
			var waits []time.Duration
			rt := &retryTransport{
				inner: http.DefaultTransport, attempts: 3, backoff: 100 * time.Millisecond, maxWait: time.Minute,
				now: time.Now, log: discardLogger(),
				sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
			}
			var body io.Reader
			if tc.method == http.MethodPut {
				body = strings.NewReader("manifest")
				if tc.streamBody {
					body = io.MultiReader(strings.NewReader("stream"))
				}
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || seq.n != tc.wantTries {
				t.Errorf("status %d after %d tries, want %d after %d", resp.StatusCode, seq.n, tc.wantStatus, tc.wantTries)
			}
			// -1 stands for "a backoff": between half a step and a step.
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tc.wantWaits)
			}
			for i, w := range tc.wantWaits {
				if w >= 0 && waits[i] != w || w < 0 && (waits[i] < 50*time.Millisecond || waits[i] > 200*time.Millisecond) {
					t.Errorf("wait %d = %s, want %s", i, waits[i], w)
				}
			}
		})
	}
}

func jsonIndent(w *bytes.Buffer, raw []byte) error {
	if err := json.Indent(w, raw, "", "  "); err != nil {
		return err
	}
	w.WriteByte('\n')
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRedactURLError(t *testing.T) {
	err := &url.Error{Op: "Put", URL: "https://registry.example/v2/a/blobs/uploads/1?_state=SIGNED-STATE&digest=sha256%3Aab", Err: io.ErrUnexpectedEOF}
	got := redactURLError(err)
	if msg := got.Error(); strings.Contains(msg, "SIGNED-STATE") || !strings.Contains(msg, "digest=sha256%3Aab") {
		t.Errorf("redacted error %q", msg)
	}
	if !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Errorf("redacted error %v lost its cause", got)
	}
	plain := errors.New("plain")
	if redactURLError(plain) != plain {
		t.Error("a non-URL error was changed")
	}
}

// TestBudgetHoldsReservationsUntilTheirResponses: two parallel copies of
// one Mirror, 5 pulls left, 4 kept in reserve. The first reserves the one
// pull there is; a HEAD of the second, answered before the first's GET
// reached the registry, still advertises 5. The second must be refused all
// the same, and the first's GET response settles its reservation.
func TestBudgetHoldsReservationsUntilTheirResponses(t *testing.T) {
	b := newBudgets()
	advertise := func(n string) http.Header {
		return http.Header{"Ratelimit-Remaining": {n + ";w=21600"}, "Ratelimit-Limit": {"100;w=21600"}}
	}
	now := time.Now()
	b.observe("index.docker.io", advertise("5"), now, false)
	if err := b.take("index.docker.io", 1, 4, true); err != nil {
		t.Fatalf("first copy: %v", err)
	}
	b.observe("index.docker.io", advertise("5"), now, false) // the second copy's HEAD
	if err := b.take("registry-1.docker.io", 1, 4, true); !errors.Is(err, ErrRateLimitReserve) {
		t.Fatalf("second copy: %v, want the reserve refusal", err)
	}
	b.observe("index.docker.io", advertise("4"), now, true) // the first copy's GET
	if err := b.take("index.docker.io", 1, 4, false); !errors.Is(err, ErrRateLimitReserve) {
		t.Fatalf("after the GET: %v, want the reserve refusal (4 left, 4 kept)", err)
	}
	b.observe("index.docker.io", advertise("9"), now, false) // the window moved on
	if err := b.take("index.docker.io", 1, 4, true); err != nil {
		t.Errorf("with 9 left: %v", err)
	}
}
