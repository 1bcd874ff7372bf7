package ecssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func newClock() *wire.ManualClock {
	return wire.NewManualClock(time.Date(2026, 6, 2, 10, 14, 51, 725_000_000, time.UTC))
}

// recorder is an EventPublisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []wire.Event
}

func (r *recorder) PublishEvent(_ context.Context, e wire.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// forResource returns the events about one resource, in order.
func (r *recorder) forResource(arn string) []wire.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wire.Event
	for _, e := range r.events {
		for _, res := range e.Resources {
			if res == arn {
				out = append(out, e)
			}
		}
	}
	return out
}

type bed struct {
	ecs    *ecssim.ECS
	client *ecs.Client
	clock  *wire.ManualClock
	events *recorder
	url    string
}

// newBed serves a fresh ECS stand-in on loopback and returns an SDK client
// configured only by the SDK's standard settings.
func newBed(t testing.TB, puller ecssim.Puller) *bed {
	t.Helper()
	clock, events := newClock(), &recorder{}
	e, err := ecssim.New(ecssim.Config{Clock: clock, Events: events, Puller: puller})
	if err != nil {
		t.Fatalf("new ecs: %v", err)
	}
	return bedFor(t, e, clock, events)
}

// bedFor serves an existing stand-in.
func bedFor(t testing.TB, e *ecssim.ECS, clock *wire.ManualClock, events *recorder) *bed {
	t.Helper()
	url := simtest.Serve(t, e.Service())
	return &bed{
		ecs: e, clock: clock, events: events, url: url,
		client: ecs.NewFromConfig(simtest.Config(url), func(o *ecs.Options) {
			// A retried request would hide a transport glitch behind a
			// second registration; fail loudly instead.
			o.Retryer = aws.NopRetryer{}
			// A fresh connection per request: the race detector's timing
			// exposes net/http reusing a connection the server is closing
			// (seen about once in 40 runs), which a retryer would absorb.
			o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		}),
	}
}

// raw posts a JSON body to an operation without the SDK and returns the
// status and body.
func (b *bed) raw(t testing.TB, op string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", ecssim.TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (b *bed) tick(t testing.TB) {
	t.Helper()
	if err := b.ecs.Tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

func (b *bed) createCluster(t testing.TB, name string) {
	t.Helper()
	if _, err := b.client.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}

// fargateTaskDef is a minimal Fargate definition running image.
func fargateTaskDef(family, image string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		ContainerDefinitions:    []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true)}},
	}
}

var awsvpc = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0a1b2c3d"}}}

func register(t testing.TB, c *ecs.Client, in *ecs.RegisterTaskDefinitionInput) string {
	t.Helper()
	out, err := c.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatalf("register %s: %v", aws.ToString(in.Family), err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// fault makes the test registry answer one kind of request for a
// repository with an error.
type fault struct {
	On      string            `json:"on"` // "tag" (resolve), "digest" (manifest GET by digest) or "blob"
	Status  int               `json:"status"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// testRegistry is go-containerregistry's in-process registry behind a
// handler that can require Basic auth (as ECR does) and inject faults (as
// Docker Hub's rate limit does).
type testRegistry struct {
	srv   *httptest.Server
	inner http.Handler
	basic string // required "user:password", or ""

	mu sync.Mutex
	// bearer makes the registry challenge like Docker Hub, with a token
	// realm at https://auth.docker.io/token served by this same handler.
	bearer       bool
	faults       map[string]fault // by repository
	manifestGets int
	hosts        map[string]int // Host headers seen
}

func newTestRegistry(t testing.TB, basic string) *testRegistry {
	t.Helper()
	r := &testRegistry{inner: registry.New(registry.Logger(log.New(io.Discard, "", 0))), basic: basic, faults: map[string]fault{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRegistry) setFault(repo string, f fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[repo] = f
}

func (r *testRegistry) gets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifestGets
}

func (r *testRegistry) setBearer(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bearer = on
}

func (r *testRegistry) hostHeaders() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.hosts {
		out[k] = v
	}
	return out
}

func (r *testRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

const testToken = "hub-token"

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.hosts == nil {
		r.hosts = map[string]int{}
	}
	r.hosts[req.Host]++
	bearer := r.bearer
	r.mu.Unlock()
	if bearer {
		if req.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, testToken)
			return
		}
		if req.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if r.basic != "" {
		user, pass, ok := req.BasicAuth()
		if !ok || user+":"+pass != r.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="https://`+req.Host+`/",service="ecr.amazonaws.com"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			if req.Method != http.MethodHead {
				fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"Not Authorized"}]}`)
			}
			return
		}
	}
	path := strings.TrimPrefix(req.URL.Path, "/v2/")
	kind, repo, ref := "", "", ""
	if i := strings.LastIndex(path, "/manifests/"); i >= 0 {
		repo, ref = path[:i], path[i+len("/manifests/"):]
		kind = "tag"
		if strings.HasPrefix(ref, "sha256:") {
			kind = "digest"
		}
	} else if i := strings.LastIndex(path, "/blobs/"); i >= 0 {
		repo, kind = path[:i], "blob"
	}
	r.mu.Lock()
	if kind != "" && kind != "blob" && req.Method == http.MethodGet {
		r.manifestGets++
	}
	f, hasFault := r.faults[repo]
	r.mu.Unlock()
	if hasFault && f.On == kind && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		if req.Method != http.MethodHead {
			fmt.Fprint(w, f.Body)
		}
		return
	}
	r.inner.ServeHTTP(w, req)
}

// push writes an image or index to repo:tag and returns its digest.
func (r *testRegistry) push(t testing.TB, repoTag string, img any) string {
	t.Helper()
	ref, err := name.ParseReference(r.host() + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{}
	if r.basic != "" {
		user, pass, _ := strings.Cut(r.basic, ":")
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	}
	var d v1.Hash
	switch v := img.(type) {
	case v1.Image:
		err = remote.Write(ref, v, opts...)
		if err == nil {
			d, err = v.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v, opts...)
		if err == nil {
			d, err = v.Digest()
		}
	default:
		t.Fatalf("push %T", img)
	}
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return d.String()
}

func randomImage() (v1.Image, error) { return random.Image(256, 2) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
