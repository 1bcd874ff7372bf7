package mirror_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

const ecrHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// awsStandIn serves one AWS JSON-protocol operation on loopback, for the
// real SDK clients, and counts its calls.
type awsStandIn struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls int
}

func newAWSStandIn(t *testing.T, prefix, op string, handle func() (any, error)) *awsStandIn {
	t.Helper()
	s := &awsStandIn{}
	mux := wire.NewMux(wire.Service{TargetPrefix: prefix, JSONVersion: "1.1", Ops: map[string]wire.Op{
		op: func(context.Context, []byte) (any, error) {
			s.mu.Lock()
			s.calls++
			s.mu.Unlock()
			return handle()
		},
	}})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *awsStandIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func ecrClient(url string) *ecr.Client {
	return ecr.New(ecr.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	})
}

// ecrTokens answers GetAuthorizationToken with user:password tokens that
// expire after ttl on clock.
func ecrTokens(t *testing.T, clock *fakeClock, password string, ttl time.Duration) *awsStandIn {
	return newAWSStandIn(t, "AmazonEC2ContainerRegistry_V20150921", "GetAuthorizationToken", func() (any, error) {
		return map[string]any{"authorizationData": []any{map[string]any{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + password)),
			"expiresAt":          wire.Epoch(clock.now().Add(ttl)),
			"proxyEndpoint":      "https://" + ecrHost,
		}}}, nil
	})
}

func resolveAuth(t *testing.T, kc authn.Keychain, host string) *authn.AuthConfig {
	t.Helper()
	reg, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.Resolve(t.Context(), kc, reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authn.Authorization(t.Context(), auth)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestECRKeychainCachesAndRefreshes(t *testing.T) {
	clock := newFakeClock()
	tokens := ecrTokens(t, clock, "token-1", 12*time.Hour)
	kc := mirror.NewECRKeychain(ecrClient(tokens.srv.URL), clock.now, "ecr.local:5000")

	steps := []struct {
		advance   time.Duration
		host      string
		wantUser  string
		wantCalls int
	}{
		{host: ecrHost, wantUser: "AWS", wantCalls: 1},
		{host: "123456789012.dkr-ecr.us-east-1.on.aws", wantUser: "AWS", wantCalls: 1},
		{host: "ecr.local:5000", wantUser: "AWS", wantCalls: 1},
		{host: "docker.io", wantUser: "", wantCalls: 1}, // not ECR: anonymous
		{advance: 11*time.Hour + 54*time.Minute, host: ecrHost, wantUser: "AWS", wantCalls: 1},
		// Within five minutes of expiry the token is replaced.
		{advance: 2 * time.Minute, host: ecrHost, wantUser: "AWS", wantCalls: 2},
	}
	for i, s := range steps {
		_ = clock.sleep(t.Context(), s.advance)
		cfg := resolveAuth(t, kc, s.host)
		if cfg.Username != s.wantUser {
			t.Errorf("step %d: user %q for %s, want %q", i, cfg.Username, s.host, s.wantUser)
		}
		if s.wantUser != "" && cfg.Password != "token-1" {
			t.Errorf("step %d: password is not the token", i)
		}
		if got := tokens.count(); got != s.wantCalls {
			t.Errorf("step %d: %d GetAuthorizationToken calls, want %d", i, got, s.wantCalls)
		}
	}
}

func TestECRKeychainErrorsHideToken(t *testing.T) {
	const secret = "not-a-pair-s3cr3t"
	tests := []struct {
		name   string
		answer func() (any, error)
		want   string
	}{
		{"malformed token", func() (any, error) {
			return map[string]any{"authorizationData": []any{map[string]any{
				"authorizationToken": base64.StdEncoding.EncodeToString([]byte(secret)),
			}}}, nil
		}, "not user:password"},
		{"not base64", func() (any, error) {
			return map[string]any{"authorizationData": []any{map[string]any{"authorizationToken": secret + "!"}}}, nil
		}, "not base64"},
		{"no data", func() (any, error) { return map[string]any{"authorizationData": []any{}}, nil }, "no authorization data"},
		{"access denied", func() (any, error) {
			return nil, wire.Errorf(http.StatusBadRequest, "AccessDeniedException", "not authorized to perform ecr:GetAuthorizationToken")
		}, "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			standIn := newAWSStandIn(t, "AmazonEC2ContainerRegistry_V20150921", "GetAuthorizationToken", tc.answer)
			kc := mirror.NewECRKeychain(ecrClient(standIn.srv.URL), nil)
			reg, _ := name.NewRegistry(ecrHost)
			_, err := kc.ResolveContext(t.Context(), reg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

// requireBasic makes a registry demand HTTP basic credentials.
func requireBasic(user, password string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == password {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	}
}

func TestCopyToECRWithAuthorizationToken(t *testing.T) {
	clock := newFakeClock()
	tokens := ecrTokens(t, clock, "ecr-pass", 12*time.Hour)
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/app:1", multiArch(t, 256, 1, "linux/amd64", "linux/arm64"))
	dst.setFault(requireBasic("AWS", "ecr-pass"))
	target := ecrHost + "/mirror/library/app:1"
	endpoint := mirror.WithEndpoint(ecrHost, dst.srv.URL)

	// Without credentials the registry refuses.
	if _, err := mirror.Copy(t.Context(), src.ref("library/app:1"), target, endpoint, newFakeClock().option()); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("anonymous copy: error %v, want 401 Unauthorized", err)
	}
	m, err := mirror.New(endpoint, mirror.WithDestinationKeychain(mirror.NewECRKeychain(ecrClient(tokens.srv.URL), clock.now)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		res, err := m.Copy(t.Context(), src.ref("library/app:1"), target)
		if err != nil {
			t.Fatal(err)
		}
		if want := ecrHost + "/mirror/library/app@" + res.TargetDigest; res.Target != want {
			t.Errorf("target %q, want %q (the registry's name, not the endpoint)", res.Target, want)
		}
	}
	if tokens.count() != 1 {
		t.Errorf("%d GetAuthorizationToken calls for two copies, want 1", tokens.count())
	}
	dst.setFault(nil)
	if !dst.checkAbsentOrComplete("mirror/library/app:1") {
		t.Error("destination tag absent")
	}
}

func secretsClient(url string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	})
}

func TestCopyFromDockerHubWithSecret(t *testing.T) {
	secrets := newAWSStandIn(t, "secretsmanager", "GetSecretValue", func() (any, error) {
		return map[string]any{"Name": "ecr-pullthroughcache/docker-hub", "SecretString": `{"username":"hubuser","accessToken":"dckr_pat_x"}`}, nil
	})
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	src.pushIndex("library/nginx:1.27", multiArch(t, 256, 1, "linux/amd64"))
	src.pushIndex("library/nginx:1.28", multiArch(t, 256, 1, "linux/amd64"))
	src.setFault(requireBasic("hubuser", "dckr_pat_x"))
	clock := newFakeClock()
	kc := mirror.NewDockerHubKeychain(mirror.SecretsManagerCredentials(secretsClient(secrets.srv.URL), "ecr-pullthroughcache/docker-hub"), clock.now)
	m, err := mirror.New(mirror.WithEndpoint("docker.io", src.srv.URL), mirror.WithSourceKeychain(kc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.27", "1.28"} {
		if _, err := m.Copy(t.Context(), "nginx:"+tag, dst.ref("mirror/library/nginx")); err != nil {
			t.Fatal(err)
		}
	}
	if secrets.count() != 1 {
		t.Errorf("secret read %d times for two copies, want once", secrets.count())
	}
	// After the cache's lifetime the secret is read again (it may rotate).
	_ = clock.sleep(t.Context(), 16*time.Minute)
	if got := resolveAuth(t, kc, "index.docker.io"); got.Username != "hubuser" || secrets.count() != 2 {
		t.Errorf("after 16 minutes: user %q, %d reads; want hubuser, 2", got.Username, secrets.count())
	}
	if got := resolveAuth(t, kc, "quay.io"); *got != (authn.AuthConfig{}) {
		t.Errorf("credentials offered to quay.io: %+v", got)
	}
	var tags []string
	for _, tag := range []string{"1.27", "1.28"} {
		if dst.digestOf("mirror/library/nginx:"+tag) != "" {
			tags = append(tags, tag)
		}
	}
	if diff := cmp.Diff([]string{"1.27", "1.28"}, tags); diff != "" {
		t.Errorf("mirrored tags (-want +got):\n%s", diff)
	}
}

func TestSecretsManagerCredentialsErrors(t *testing.T) {
	const secretValue = "hunter2-value"
	tests := []struct {
		name   string
		answer func() (any, error)
		want   string
	}{
		{"not JSON", func() (any, error) { return map[string]any{"SecretString": secretValue}, nil }, "not a JSON object"},
		{"no token", func() (any, error) {
			return map[string]any{"SecretString": `{"username":"u","password":"` + secretValue + `"}`}, nil
		}, "lacks username or accessToken"},
		{"binary secret", func() (any, error) { return map[string]any{"SecretBinary": "aGVsbG8="}, nil }, "no string value"},
		{"missing secret", func() (any, error) {
			return nil, wire.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		}, "ResourceNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			standIn := newAWSStandIn(t, "secretsmanager", "GetSecretValue", tc.answer)
			creds := mirror.SecretsManagerCredentials(secretsClient(standIn.srv.URL), "hub")
			_, _, err := creds(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error %q leaks the secret", err)
			}
			kc := mirror.NewDockerHubKeychain(creds, nil)
			reg, _ := name.NewRegistry("docker.io")
			if _, err := kc.ResolveContext(t.Context(), reg); err == nil {
				t.Error("keychain resolved Docker Hub without credentials")
			} else if errors.Is(err, context.Canceled) {
				t.Errorf("unexpected cancellation: %v", err)
			}
		})
	}
}
