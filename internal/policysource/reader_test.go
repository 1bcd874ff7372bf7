package policysource_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/testbed/localaws/s3sim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ssmsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
	"github.com/pullheal/pullheal/policy"
)

// bed serves the S3 and SSM stand-ins on one loopback listener, as the
// test bed does, and records the status of every S3 GET.
type bed struct {
	cfg      aws.Config
	s3       *s3.Client
	ssm      *ssm.Client
	mu       sync.Mutex
	statuses []int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func newBed(t testing.TB) *bed {
	t.Helper()
	s3s, err := s3sim.New(s3sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ssms, err := ssmsim.New(ssmsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{}
	mux := wire.NewMux(ssms.Service())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case mux.Handles(r):
			mux.ServeHTTP(w, r)
		case s3s.Handles(r):
			sw := &statusWriter{ResponseWriter: w, status: 200}
			s3s.ServeHTTP(sw, r)
			if r.Method == http.MethodGet {
				b.mu.Lock()
				b.statuses = append(b.statuses, sw.status)
				b.mu.Unlock()
			}
		default:
			http.Error(w, "unrouted", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	b.cfg = simtest.Config(srv.URL)
	// The same client pullheal reads with: path-style because an endpoint
	// is set.
	b.s3 = policysource.NewS3Client(b.cfg)
	b.ssm = policysource.NewSSMClient(b.cfg)
	if _, err := b.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bed) lastStatus() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.statuses) == 0 {
		return 0
	}
	return b.statuses[len(b.statuses)-1]
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (b *bed) putObject(t testing.TB, key, body string) {
	t.Helper()
	if _, err := b.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (b *bed) putParameter(t testing.TB, name, value string) {
	t.Helper()
	_, err := b.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
		Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
}

func (b *bed) reader(t testing.TB, location string) *policysource.Reader {
	t.Helper()
	loc, err := policysource.ParseLocation(location)
	if err != nil {
		t.Fatal(err)
	}
	r, err := policysource.ReaderFromConfig(b.cfg, loc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func denied(p *policy.Policy) string {
	if p == nil || len(p.Deny) == 0 {
		return ""
	}
	return strings.Join(p.Deny[0].Match, ",")
}

// An S3 policy is read once; an unchanged object answers 304 and keeps the
// snapshot; a changed one is read, hashed and parsed; an invalid one gives
// the policy's problems under the s3:// name.
func TestReadS3(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.putObject(t, "prod/policy.yaml", fixture(t, "deny-nginx.yaml"))
	r := b.reader(t, "s3://policies/prod/policy.yaml")
	first, err := r.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Info.Source != "s3://policies/prod/policy.yaml" || first.Info.Version == "" || strings.Contains(first.Info.Version, `"`) ||
		len(first.Info.SHA256) != 64 || !strings.Contains(denied(first.Policy), "nginx") {
		t.Fatalf("first read = %+v, deny %q", first.Info, denied(first.Policy))
	}
	same, err := r.Read(ctx, first)
	if err != nil || same != first {
		t.Fatalf("unchanged read = %p, %v; want the same snapshot %p", same, err, first)
	}
	if s := b.lastStatus(); s != http.StatusNotModified {
		t.Fatalf("unchanged read was answered %d, want 304", s)
	}
	b.putObject(t, "prod/policy.yaml", fixture(t, "deny-redis.yaml"))
	next, err := r.Read(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if next == first || next.Info.Version == first.Info.Version || next.Info.SHA256 == first.Info.SHA256 || !strings.Contains(denied(next.Policy), "redis") {
		t.Fatalf("changed read = %+v deny %q", next.Info, denied(next.Policy))
	}
	b.putObject(t, "prod/policy.yaml", fixture(t, "invalid.yaml"))
	_, err = r.Read(ctx, next)
	var pe *policy.Error
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "s3://policies/prod/policy.yaml:3:5: ") || !policysource.IsBadInput(err) {
		t.Fatalf("invalid policy: %v", err)
	}
}

// An SSM SecureString is read decrypted; the same version is not parsed
// again; a new version is.
func TestReadSSM(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.putParameter(t, "/pullheal/policy", fixture(t, "deny-nginx.yaml"))
	for _, loc := range []string{"ssm:/pullheal/policy", "ssm:arn:aws:ssm:us-east-1:123456789012:parameter/pullheal/policy"} {
		t.Run(loc, func(t *testing.T) {
			r := b.reader(t, loc)
			first, err := r.Read(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if first.Info.Source != loc || first.Info.Version == "" || !strings.Contains(denied(first.Policy), "nginx") {
				t.Fatalf("first = %+v deny %q", first.Info, denied(first.Policy))
			}
			if same, err := r.Read(ctx, first); err != nil || same != first {
				t.Fatalf("unchanged = %p %v, want %p", same, err, first)
			}
		})
	}
	r := b.reader(t, "ssm:/pullheal/policy")
	first, _ := r.Read(ctx, nil)
	b.putParameter(t, "/pullheal/policy", fixture(t, "deny-redis.yaml"))
	next, err := r.Read(ctx, first)
	if err != nil || next.Info.Version != "2" || !strings.Contains(denied(next.Policy), "redis") {
		t.Fatalf("new version = %+v %v", next, err)
	}
	// The same bytes under a new version: the version moves, the parsed
	// policy is shared.
	b.putParameter(t, "/pullheal/policy", fixture(t, "deny-redis.yaml"))
	bumped, err := r.Read(ctx, next)
	if err != nil || bumped == next || bumped.Policy != next.Policy || bumped.Info.Version != "3" {
		t.Fatalf("same content, new version = %+v %v", bumped, err)
	}
}

// Locations that cannot be read give one line naming the location and the
// problem; missing things are the user's input.
func TestReadErrors(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.putObject(t, "big.yaml", "version: 1\n"+strings.Repeat("#", policy.MaxFileSize))
	b.putObject(t, "lc.yaml", fixture(t, "lifecycle-file.yaml"))
	b.putParameter(t, "/lc", fixture(t, "lifecycle-file.yaml"))
	for _, tc := range []struct {
		location, want string
	}{
		{"s3://policies/missing.yaml", "s3://policies/missing.yaml: no such object (NoSuchKey)"},
		{"s3://nobucket/policy.yaml", "s3://nobucket/policy.yaml: no such bucket (NoSuchBucket)"},
		{"ssm:/missing", "ssm:/missing: no such parameter (ParameterNotFound)"},
		{"s3://policies/big.yaml", "s3://policies/big.yaml: object is 1048587 bytes; a policy is at most 1048576"},
		{"s3://policies/lc.yaml", "s3://policies/lc.yaml:4:5: lifecyclePolicyFile: a policy read from S3 or SSM cannot name a local file"},
		{"ssm:/lc", "ssm:/lc:4:5: lifecyclePolicyFile: a policy read from S3 or SSM cannot name a local file"},
	} {
		t.Run(tc.location, func(t *testing.T) {
			_, err := b.reader(t, tc.location).Read(ctx, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || !policysource.IsBadInput(err) {
				t.Fatalf("err = %v, want one input-error line starting %q", err, tc.want)
			}
		})
	}
}

// AccessDenied, as S3 and SSM send it, names the permission the role
// lacks. A server that never answers is cut by the timeout and is not the
// user's input.
func TestReadDeniedAndTimeout(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/slow"):
			select {
			case <-r.Context().Done():
			case <-block:
			}
		case r.Header.Get("X-Amz-Target") != "":
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/agent/x is not authorized to perform: ssm:GetParameter"}`))
		default:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R</RequestId><HostId>H</HostId></Error>`))
		}
	}))
	t.Cleanup(srv.Close)
	cfg := simtest.Config(srv.URL)
	cfg.RetryMaxAttempts = 1
	read := func(location string, timeout time.Duration) error {
		loc, err := policysource.ParseLocation(location)
		if err != nil {
			t.Fatal(err)
		}
		r, err := policysource.ReaderFromConfig(cfg, loc, timeout)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Read(context.Background(), nil)
		return err
	}
	err := read("s3://policies/policy.yaml", 5*time.Second)
	if err == nil || err.Error() != "s3://policies/policy.yaml: access denied (AccessDenied: Access Denied); the agent's role needs s3:GetObject on arn:aws:s3:::policies/policy.yaml" || !policysource.IsBadInput(err) {
		t.Fatalf("S3 denied: %v", err)
	}
	err = read("ssm:/pullheal/policy", 5*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "ssm:/pullheal/policy: access denied (AccessDeniedException: User: ") || !policysource.IsBadInput(err) {
		t.Fatalf("SSM denied: %v", err)
	}
	start := time.Now()
	err = read("s3://policies/slow", 300*time.Millisecond)
	if err == nil || policysource.IsBadInput(err) || !strings.HasPrefix(err.Error(), "s3://policies/slow: ") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow server: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("the read took %s with a 300ms timeout", d)
	}
}

// S3 refusing a request sent to the wrong region names the bucket's
// region; the read is sent there.
func TestReadS3OtherRegion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/s3/") {
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
			w.WriteHeader(http.StatusMovedPermanently)
			_, _ = w.Write([]byte(`<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>`))
			return
		}
		w.Header().Set("ETag", `"abc"`)
		_, _ = w.Write([]byte("version: 1\n"))
	}))
	t.Cleanup(srv.Close)
	loc, _ := policysource.ParseLocation("s3://policies/policy.yaml")
	r, err := policysource.ReaderFromConfig(simtest.Config(srv.URL), loc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Read(context.Background(), nil)
	if err != nil || snap.Info.Version != "abc" {
		t.Fatalf("read = %+v, %v", snap, err)
	}
}

// A file's version is its modification time; unchanged bytes keep the
// snapshot.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(fixture(t, "deny-nginx.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	loc, _ := policysource.ParseLocation(path)
	r, _ := policysource.NewReader(loc, nil, nil, 0)
	first, err := r.Read(context.Background(), nil)
	if err != nil || first.Info.Version != "2026-01-02T03:04:05Z" || first.Info.Source != path {
		t.Fatalf("first = %+v %v", first, err)
	}
	if same, err := r.Read(context.Background(), first); err != nil || same != first {
		t.Fatalf("unchanged = %p %v", same, err)
	}
	if err := os.WriteFile(path, []byte(fixture(t, "deny-redis.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := r.Read(context.Background(), first)
	if err != nil || !strings.Contains(denied(next.Policy), "redis") {
		t.Fatalf("changed = %+v %v", next, err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.yaml"), "no such file"},
		{dir, "is a directory, not a regular file"},
	} {
		loc, _ := policysource.ParseLocation(tc.path)
		r, _ := policysource.NewReader(loc, nil, nil, 0)
		_, err := r.Read(context.Background(), nil)
		if err == nil || err.Error() != tc.path+": "+tc.want || !policysource.IsBadInput(err) {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if tc.want == "no such file" && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: does not unwrap to fs.ErrNotExist", tc.path)
		}
	}
}
