package ecrsim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/regfile"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// SecretSource reads Secrets Manager secrets in-process (secretsim.Secrets
// satisfies it).
type SecretSource interface {
	SecretString(nameOrArn string) (string, error)
}

// Config configures the ECR stand-in.
type Config struct {
	Account string     // default 123456789012
	Region  string     // default us-east-1
	Clock   wire.Clock // default wire.SystemClock
	// RegistryURL is the registry's base URL, e.g. http://127.0.0.1:5000.
	// It may be left empty and set with SetRegistryURL once the listener
	// exists; until then the registry is named
	// https://ACCOUNT.dkr.ecr.REGION.amazonaws.com.
	RegistryURL string
	// Upstreams maps upstream registry hosts (registry-1.docker.io, quay.io,
	// ...) to the loopback base URLs standing in for them; requests keep
	// the upstream's name in their Host header. Hosts not listed are
	// unreachable. A token realm needs an entry of its own (auth.docker.io
	// for https://auth.docker.io/token): go-containerregistry refuses
	// realms on IP literals and plain-http realms of https registries.
	Upstreams map[string]string
	// UpstreamTransport carries requests to the upstreams (default
	// http.DefaultTransport).
	UpstreamTransport http.RoundTripper
	// Secrets holds the pull-through cache rules' credentials.
	Secrets SecretSource
	// StateDir, when set, keeps the registry across restarts (ecr.json and
	// ecr-blobs/; the directory may be shared with the other stand-ins).
	StateDir string
	// Logger receives upstream fetches at debug level; nil is silent.
	Logger *slog.Logger
	// IAM, when set, makes the registry enforce IAM for requests made with
	// a token issued to a role (TokenFor): manifest and layer GETs need
	// ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, a fetch through a
	// pull-through cache also ecr:BatchImportUpstreamImage, and
	// ecr:CreateRepository when the cache repository does not exist yet.
	// Denials answer 403 DENIED with ECR's wording. Nil enforces nothing.
	IAM Authorizer
}

func (c *Config) applyDefaults() {
	wire.FillDefaults(&c.Account, &c.Region, &c.Clock)
	if c.UpstreamTransport == nil {
		c.UpstreamTransport = http.DefaultTransport
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid field; empty fields take their
// defaults.
func (c Config) Validate() error {
	if err := wire.CheckAccountRegion(c.Account, c.Region); err != nil {
		return fmt.Errorf("ecrsim config: %w", err)
	}
	if c.RegistryURL != "" {
		if _, err := parseBaseURL(c.RegistryURL, false); err != nil {
			return fmt.Errorf("ecrsim config: registry url: %w", err)
		}
	}
	for host, base := range c.Upstreams {
		if host == "" || strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("ecrsim config: upstream host %q is not a host name", host)
		}
		if _, err := parseBaseURL(base, true); err != nil {
			return fmt.Errorf("ecrsim config: upstream %s: %w", host, err)
		}
	}
	return nil
}

// parseBaseURL accepts scheme://host[:port] with an optional trailing
// slash; with loopbackOnly, the host must be a loopback address.
func parseBaseURL(s string, loopbackOnly bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("%q: want scheme://host[:port] only", s)
	}
	if loopbackOnly && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%q: the test bed reaches loopback addresses only", s)
	}
	u.Path = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ECR is the ECR stand-in: API and registry. It is safe for concurrent use.
type ECR struct {
	cfg      Config
	blobs    *blobStore
	registry http.Handler
	uploads  http.Handler // go-containerregistry's blob protocol engine

	mu           sync.Mutex
	baseURL      *url.URL
	st           *state
	bytesIn      map[string]int64
	upstreamGets int
	flights      map[string]*flight
}

// state is everything that survives a restart.
type state struct {
	TokenKey     []byte                       `json:"tokenKey"`
	Repositories map[string]*repository       `json:"repositories"`
	Rules        map[string]*cacheRule        `json:"pullThroughCacheRules"`
	Templates    map[string]*creationTemplate `json:"repositoryCreationTemplates"`
	Settings     map[string]string            `json:"accountSettings"`
	// RegistryPolicy is the registry permissions policy (PutRegistryPolicy).
	RegistryPolicy string `json:"registryPolicy,omitempty"`
}

const (
	stateFile = "ecr.json"
	blobDir   = "ecr-blobs"
)

// New returns an ECR stand-in, loading its state from cfg.StateDir when
// that holds any.
func New(cfg Config) (*ECR, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	e := &ECR{
		cfg:     cfg,
		bytesIn: map[string]int64{},
		flights: map[string]*flight{},
		st: &state{
			Repositories: map[string]*repository{},
			Rules:        map[string]*cacheRule{},
			Templates:    map[string]*creationTemplate{},
			Settings:     map[string]string{},
		},
	}
	if cfg.RegistryURL != "" {
		e.baseURL, _ = parseBaseURL(cfg.RegistryURL, false)
	}
	var err error
	if cfg.StateDir == "" {
		e.blobs = newBlobStore("")
	} else {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("ecrsim state dir: %w", err)
		}
		if e.blobs, err = newDiskBlobStore(filepath.Join(cfg.StateDir, blobDir)); err != nil {
			return nil, err
		}
		if err := e.load(); err != nil {
			return nil, err
		}
	}
	if len(e.st.TokenKey) == 0 {
		e.st.TokenKey = make([]byte, 32)
		_, _ = rand.Read(e.st.TokenKey)
		if err := e.save(); err != nil {
			return nil, err
		}
	}
	e.uploads = newUploadEngine(e)
	e.registry = http.HandlerFunc(e.serveRegistry)
	return e, nil
}

// SetRegistryURL names the registry (scheme://host:port) once its listener
// exists; proxyEndpoint and repositoryUri follow it.
func (e *ECR) SetRegistryURL(base string) error {
	u, err := parseBaseURL(base, false)
	if err != nil {
		return fmt.Errorf("set registry url: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.baseURL = u
	return nil
}

// RegistryHost is the host[:port] that repository URIs start with.
func (e *ECR) RegistryHost() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.registryHostLocked()
}

func (e *ECR) registryHostLocked() string {
	if e.baseURL != nil {
		return e.baseURL.Host
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", e.cfg.Account, e.cfg.Region)
}

func (e *ECR) proxyEndpointLocked() string {
	if e.baseURL != nil {
		return e.baseURL.String()
	}
	return "https://" + e.registryHostLocked()
}

// Registry returns the registry's handler (the OCI distribution API).
func (e *ECR) Registry() http.Handler { return e.registry }

// UpstreamManifestGets counts the manifest GETs the pull-through cache sent
// upstream (HEADs are not counted: Docker Hub does not charge them).
func (e *ECR) UpstreamManifestGets() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.upstreamGets
}

// BlobBytesReceived counts the blob bytes clients uploaded into repo
// (mounted, skipped and cached blobs add nothing).
func (e *ECR) BlobBytesReceived(repo string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bytesIn[repo]
}

func (e *ECR) now() time.Time { return e.cfg.Clock.Now() }

func (e *ECR) load() error {
	path := filepath.Join(e.cfg.StateDir, stateFile)
	b, err := regfile.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("ecrsim read state: %w", err)
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("ecrsim read state %s: %w", path, err)
	}
	if st.Repositories == nil {
		st.Repositories = map[string]*repository{}
	}
	if st.Rules == nil {
		st.Rules = map[string]*cacheRule{}
	}
	if st.Templates == nil {
		st.Templates = map[string]*creationTemplate{}
	}
	if st.Settings == nil {
		st.Settings = map[string]string{}
	}
	for _, r := range st.Repositories {
		r.initMaps()
	}
	e.st = st
	return nil
}

// save writes the state file when a StateDir is configured. Callers hold
// e.mu (or own e exclusively, as New does).
func (e *ECR) save() error {
	if e.cfg.StateDir == "" {
		return nil
	}
	b, err := json.Marshal(e.st)
	if err != nil {
		return fmt.Errorf("encode ecrsim state: %w", err)
	}
	tmp, err := os.CreateTemp(e.cfg.StateDir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("write ecrsim state: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ecrsim state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(e.cfg.StateDir, stateFile)); err != nil {
		return fmt.Errorf("write ecrsim state: %w", err)
	}
	return nil
}
