package ecssim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Puller pulls one container image for a launching task. An error makes
// the task stop; a *PullError lets the scheduler word it as ECS does.
type Puller interface {
	Pull(ctx context.Context, req PullRequest) error
}

// PullRequest is one container's pull.
type PullRequest struct {
	Image string
	// Platform is the os/arch an image index resolves to ("linux/amd64"),
	// from the task definition's runtimePlatform.
	Platform string
	Auth     PullAuth
}

// PullAuth is what the task brings to authenticate its pulls.
type PullAuth struct {
	// ExecutionRoleArn is the task's execution role ("" for none); Fargate
	// pulls from private ECR with its credentials only.
	ExecutionRoleArn string
	// EC2InstanceID is the EC2 instance of the container instance an EC2
	// task runs on ("" on Fargate or a synthetic container instance).
	// Without an execution role the ECS agent pulls from ECR with that
	// instance's role.
	EC2InstanceID string
	// RepositoryCredentials is the Secrets Manager secret ARN of the
	// container's repositoryCredentials, if any.
	RepositoryCredentials string
}

// PullStage says how far a pull got.
type PullStage string

// The stages of a pull, in order.
const (
	// StageAuth is getting credentials: the ECR token with the execution
	// role, or the repositoryCredentials secret.
	StageAuth PullStage = "auth"
	// StageResolve is resolving the reference to a digest (HEAD of the
	// manifest by tag).
	StageResolve PullStage = "resolve"
	// StagePlatform is choosing the platform's manifest from an index.
	StagePlatform PullStage = "platform"
	// StageFetch is fetching manifests by digest and checking the blobs.
	StageFetch PullStage = "fetch"
)

// RegistryError is one entry of a registry's error body.
type RegistryError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PullError is a failed pull with what the registry answered, so that the
// scheduler can render the text ECS would show.
type PullError struct {
	Image string
	// Repository and Ref name the image as containerd does
	// ("docker.io/library/nginx", "docker.io/library/nginx:1.27").
	Repository, Ref string
	Stage           PullStage
	// Method and URL identify the failed request. The URL names the real
	// registry host (registry-1.docker.io for Docker Hub), whatever local
	// address the request was redirected to.
	Method, URL string
	StatusCode  int             // 0 when no response arrived
	Errors      []RegistryError // the registry's error body, if it sent one
	// Anonymous reports that no credentials were presented; Challenge is
	// the registry's auth scheme ("basic" or "bearer").
	Anonymous bool
	Challenge string
	// Platform is the wanted platform (StagePlatform).
	Platform string
	// CredentialSource is "ecr" or "secretsmanager" for StageAuth.
	CredentialSource string
	Err              error
}

func (e *PullError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pull %s: %s", e.Image, e.Stage)
	if e.URL != "" {
		fmt.Fprintf(&b, ": %s %s", e.Method, e.URL)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if m := serverMessage(e.Errors); m != "" {
		b.WriteString(": " + m)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *PullError) Unwrap() error { return e.Err }

// ErrInvalidReference is the cause of a PullError for an image name that
// is not a valid reference.
var ErrInvalidReference = errors.New("invalid reference format")

// DigestMismatchError is the cause of a PullError for a manifest whose
// content does not hash to the digest it was fetched by.
type DigestMismatchError struct{ Expected, Actual string }

func (e *DigestMismatchError) Error() string {
	return "unexpected commit digest " + e.Actual + ", expected " + e.Expected
}

// Credentials returns a registry user name and password.
type Credentials func(ctx context.Context, key string) (username, password string, err error)

// RegistryPullerConfig configures a RegistryPuller.
type RegistryPullerConfig struct {
	// Hosts redirects registry hosts to local base URLs, for example
	// "docker.io" -> "http://127.0.0.1:5001" for a Docker Hub stand-in or
	// "123456789012.dkr.ecr.us-east-1.amazonaws.com" -> the ECR stand-in.
	// "docker.io" also covers index.docker.io and registry-1.docker.io.
	// Requests to a host that is neither mapped nor a loopback address
	// fail as a DNS failure would: the test bed never leaves the machine.
	Hosts map[string]string
	// ECRCredentials returns Basic credentials for an ECR registry host
	// for a task's execution role (its ARN); it is called only for tasks
	// with an execution role, as Fargate does.
	ECRCredentials func(ctx context.Context, host, executionRole string) (username, password string, err error)
	// InstanceRole returns the role ARN of an EC2 instance's instance
	// profile ("" for an instance without one): an EC2 task without an
	// execution role pulls from ECR with it. Nil pulls anonymously.
	InstanceRole func(ctx context.Context, ec2InstanceID string) (string, error)
	// SecretCredentials returns the user name and password stored in a
	// repositoryCredentials secret (by ARN).
	SecretCredentials Credentials
	// Transport carries the redirected requests; nil uses a transport
	// without proxies.
	Transport http.RoundTripper
}

// RegistryPuller pulls the way Fargate does: it resolves the tag with a
// HEAD, fetches the manifest by digest (and, for an index, the manifest of
// the task's platform) and checks that every blob exists.
type RegistryPuller struct {
	hosts     map[string]*url.URL
	ecrCreds  func(ctx context.Context, host, executionRole string) (string, string, error)
	instRole  func(ctx context.Context, ec2InstanceID string) (string, error)
	secrCreds Credentials
	base      http.RoundTripper
}

// NewRegistryPuller returns a RegistryPuller.
func NewRegistryPuller(cfg RegistryPullerConfig) (*RegistryPuller, error) {
	p := &RegistryPuller{hosts: map[string]*url.URL{}, ecrCreds: cfg.ECRCredentials, instRole: cfg.InstanceRole, secrCreds: cfg.SecretCredentials, base: cfg.Transport}
	for host, raw := range cfg.Hosts {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("registry puller: host %q maps to %q, which is not an http(s) base URL", host, raw)
		}
		h := strings.ToLower(host)
		if h == "" {
			return nil, errors.New("registry puller: empty host in the host mapping")
		}
		p.hosts[h] = u
	}
	if p.base == nil {
		p.base = &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	}
	return p, nil
}

var dockerHubHosts = []string{"docker.io", "index.docker.io", "registry-1.docker.io"}

func isDockerHub(host string) bool {
	for _, h := range dockerHubHosts {
		if host == h {
			return true
		}
	}
	return false
}

var ecrHostRe = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// isECRImage reports whether an image is in a private ECR registry.
func isECRImage(image string) bool {
	host, _, ok := strings.Cut(image, "/")
	return ok && ecrHostRe.MatchString(strings.ToLower(host))
}

// displayHost is the host ECS's messages name for a registry.
func displayHost(host string) string {
	if isDockerHub(host) {
		return "registry-1.docker.io"
	}
	return host
}

// Pull implements Puller.
func (p *RegistryPuller) Pull(ctx context.Context, req PullRequest) error {
	pe := &PullError{Image: req.Image, Repository: req.Image, Ref: req.Image}
	ref, err := name.ParseReference(req.Image)
	if err != nil {
		pe.Stage, pe.Err = StageResolve, ErrInvalidReference
		return pe
	}
	repo := ref.Context()
	reg := repo.Registry
	host := reg.RegistryStr()
	pe.Repository = repo.RegistryStr() + "/" + repo.RepositoryStr()
	if isDockerHub(host) {
		pe.Repository = "docker.io/" + repo.RepositoryStr()
	}
	sep := ":"
	if strings.HasPrefix(ref.Identifier(), "sha256:") {
		sep = "@"
	}
	pe.Ref = pe.Repository + sep + ref.Identifier()
	platform, err := v1.ParsePlatform(firstNonEmpty(req.Platform, "linux/amd64"))
	if err != nil {
		return fmt.Errorf("pull %s: platform %q: %w", req.Image, req.Platform, err)
	}

	auth, err := p.credentials(ctx, host, req, pe)
	if err != nil {
		pe.Stage, pe.Err = StageAuth, err
		return pe
	}
	pe.Anonymous = auth == authn.Anonymous

	realBase := reg.Scheme() + "://" + host + "/v2/" + repo.RepositoryStr()
	shownBase := reg.Scheme() + "://" + displayHost(host) + "/v2/" + repo.RepositoryStr()
	manifestURL := func(id string) (real, shown string) {
		return realBase + "/manifests/" + id, shownBase + "/manifests/" + id
	}

	rt := &redirect{hosts: p.hosts, base: p.base}
	_, resolveURL := manifestURL(ref.Identifier())
	fail := func(stage PullStage, method, shown string, err error) error {
		pe.Stage, pe.Method, pe.URL = stage, method, shown
		var te *transport.Error
		if errors.As(err, &te) {
			pe.StatusCode = te.StatusCode
			for _, d := range te.Errors {
				pe.Errors = append(pe.Errors, RegistryError{Code: string(d.Code), Message: d.Message})
			}
			return pe
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		pe.Err = err
		return pe
	}
	challenge, err := transport.Ping(ctx, reg, rt)
	if err != nil {
		return fail(StageResolve, http.MethodHead, resolveURL, err)
	}
	pe.Challenge = strings.ToLower(challenge.Scheme)
	tr, err := transport.NewWithContext(ctx, reg, auth, rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return fail(StageResolve, http.MethodHead, resolveURL, err)
	}
	client := &http.Client{Transport: tr}

	// Resolve: HEAD by tag (free on Docker Hub) gives the digest.
	real, shown := manifestURL(ref.Identifier())
	resp, err := do(ctx, client, http.MethodHead, real)
	if err != nil {
		return fail(StageResolve, http.MethodHead, shown, err)
	}
	if resp.StatusCode != http.StatusOK {
		return p.statusFail(pe, StageResolve, http.MethodHead, shown, resp)
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if d, ok := ref.(name.Digest); ok {
		digest = d.DigestStr()
	}
	if digest == "" {
		return fail(StageResolve, http.MethodHead, shown, errors.New("registry sent no Docker-Content-Digest"))
	}

	// Fetch by digest: the GET that Docker Hub counts against the limit.
	body, mediaType, err := p.fetchManifest(ctx, client, pe, manifestURL, digest)
	if err != nil {
		return err
	}
	if mediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(body)))
		if err != nil {
			return fail(StageFetch, http.MethodGet, shownManifest(manifestURL, digest), fmt.Errorf("parse index: %w", err))
		}
		child := ""
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.Satisfies(*platform) {
				child = m.Digest.String()
				break
			}
		}
		if child == "" {
			pe.Stage, pe.Platform = StagePlatform, platform.String()
			return pe
		}
		if body, _, err = p.fetchManifest(ctx, client, pe, manifestURL, child); err != nil {
			return err
		}
	}
	m, err := v1.ParseManifest(strings.NewReader(string(body)))
	if err != nil {
		return fail(StageFetch, http.MethodGet, shownManifest(manifestURL, digest), fmt.Errorf("parse manifest: %w", err))
	}
	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	for _, b := range blobs {
		real, shown := realBase+"/blobs/"+b.Digest.String(), shownBase+"/blobs/"+b.Digest.String()
		resp, err := do(ctx, client, http.MethodHead, real)
		if err != nil {
			return fail(StageFetch, http.MethodHead, shown, err)
		}
		if resp.StatusCode != http.StatusOK {
			return p.statusFail(pe, StageFetch, http.MethodHead, shown, resp)
		}
	}
	return nil
}

func shownManifest(manifestURL func(string) (string, string), digest string) string {
	_, shown := manifestURL(digest)
	return shown
}

// fetchManifest GETs a manifest by digest and checks its content.
func (p *RegistryPuller) fetchManifest(ctx context.Context, client *http.Client, pe *PullError, manifestURL func(string) (string, string), digest string) ([]byte, types.MediaType, error) {
	real, shown := manifestURL(digest)
	resp, err := do(ctx, client, http.MethodGet, real)
	if err != nil {
		pe.Stage, pe.Method, pe.URL = StageFetch, http.MethodGet, shown
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		pe.Err = err
		return nil, "", pe
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", p.statusFail(pe, StageFetch, http.MethodGet, shown, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	if err != nil {
		pe.Stage, pe.Method, pe.URL, pe.Err = StageFetch, http.MethodGet, shown, err
		return nil, "", pe
	}
	if alg, want, ok := strings.Cut(digest, ":"); ok && alg == "sha256" {
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			pe.Stage, pe.Method, pe.URL = StageFetch, http.MethodGet, shown
			pe.Err = &DigestMismatchError{Expected: digest, Actual: "sha256:" + got}
			return nil, "", pe
		}
	}
	mt := types.MediaType(resp.Header.Get("Content-Type"))
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests []any           `json:"manifests"`
	}
	if json.Unmarshal(body, &probe) == nil {
		switch {
		case probe.MediaType != "":
			mt = probe.MediaType
		case probe.Manifests != nil:
			mt = types.OCIImageIndex
		}
	}
	return body, mt, nil
}

// statusFail records a non-2xx answer and its error body.
func (p *RegistryPuller) statusFail(pe *PullError, stage PullStage, method, shown string, resp *http.Response) error {
	defer resp.Body.Close()
	pe.Stage, pe.Method, pe.URL, pe.StatusCode = stage, method, shown, resp.StatusCode
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Errors []RegistryError `json:"errors"`
	}
	if json.Unmarshal(b, &body) == nil {
		pe.Errors = body.Errors
	}
	return pe
}

var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex), string(types.DockerManifestList),
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
}, ",")

func do(ctx context.Context, client *http.Client, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if method == http.MethodHead {
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

// credentials picks the credentials Fargate would present. Errors are
// failures of the credential source itself.
func (p *RegistryPuller) credentials(ctx context.Context, host string, req PullRequest, pe *PullError) (authn.Authenticator, error) {
	var src Credentials
	var key string
	switch {
	case ecrHostRe.MatchString(host):
		// Without an execution role Fargate has no ECR token to present;
		// on EC2 the ECS agent presents the container instance's role.
		role := req.Auth.ExecutionRoleArn
		if role == "" && req.Auth.EC2InstanceID != "" && p.instRole != nil {
			r, err := p.instRole(ctx, req.Auth.EC2InstanceID)
			if err != nil {
				return nil, err
			}
			role = r
		}
		if role == "" || p.ecrCreds == nil {
			return authn.Anonymous, nil
		}
		src, key, pe.CredentialSource = func(ctx context.Context, host string) (string, string, error) {
			return p.ecrCreds(ctx, host, role)
		}, host, "ecr"
	case req.Auth.RepositoryCredentials != "" && p.secrCreds != nil:
		src, key, pe.CredentialSource = p.secrCreds, req.Auth.RepositoryCredentials, "secretsmanager"
	default:
		return authn.Anonymous, nil
	}
	user, pass, err := src(ctx, key)
	if err != nil {
		return nil, err
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}

// redirect sends requests for mapped registry hosts to their local base
// URLs and refuses every other non-loopback host, so that a pull never
// leaves the machine. Responses keep the original request, so errors name
// the real registry URL. A token realm is redirected like any other host:
// a Docker Hub stand-in challenging with realm https://auth.docker.io/token
// needs "auth.docker.io" in the mapping too (go-containerregistry refuses a
// plain-http or loopback realm for an https registry).
type redirect struct {
	hosts map[string]*url.URL
	base  http.RoundTripper
}

func (r *redirect) lookup(host string) *url.URL {
	h := strings.ToLower(host)
	if u, ok := r.hosts[h]; ok {
		return u
	}
	if isDockerHub(h) {
		for _, alias := range dockerHubHosts {
			if u, ok := r.hosts[alias]; ok {
				return u
			}
		}
	}
	return nil
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	target := r.lookup(req.URL.Host)
	if target == nil {
		target = r.lookup(req.URL.Hostname())
	}
	if target == nil {
		if ip := net.ParseIP(req.URL.Hostname()); (ip != nil && ip.IsLoopback()) || req.URL.Hostname() == "localhost" {
			return r.base.RoundTrip(req)
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: req.URL.Hostname(), IsNotFound: true}}
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = target.Scheme
	out.URL.Host = target.Host
	// The Host header stays the registry's own (registry-1.docker.io for
	// Docker Hub), as a real client sends it, so that a stand-in serving
	// several registries can tell which one was meant.
	out.Host = displayHost(req.URL.Host)
	if p := strings.TrimSuffix(target.Path, "/"); p != "" {
		out.URL.Path = p + req.URL.Path
		out.URL.RawPath = ""
	}
	resp, err := r.base.RoundTrip(out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}
