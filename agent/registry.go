package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// ECRAPI lists the ECR calls the agent makes, with the SDK's signatures.
type ECRAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
	DescribePullThroughCacheRules(ctx context.Context, in *ecr.DescribePullThroughCacheRulesInput, opts ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error)
}

// RegistryConfig says where corrected images live.
type RegistryConfig struct {
	// Host is the ECR registry host; "" discovers it from the ECR
	// authorization token's proxy endpoint.
	Host string
	// PullThrough are declared pull-through cache rules. Unless
	// DiscoverRules is false, the account's rules are added to them.
	PullThrough   []plan.PullThroughRule
	DiscoverRules bool
	// RuleRefresh is how long discovered rules are trusted.
	RuleRefresh time.Duration
	// MirrorPrefix is the repository prefix of mirrored images.
	MirrorPrefix string
	Now          func() time.Time
	// Transport carries registry requests (preflight); nil is the default.
	Transport http.RoundTripper
}

// Registry knows the agent's ECR registry: its host, its credentials and
// its pull-through cache rules, each cached.
type Registry struct {
	cfg RegistryConfig
	ecr ECRAPI

	mu        sync.Mutex
	host      string
	auth      authn.Basic
	authUntil time.Time
	rules     []plan.PullThroughRule
	rulesAt   time.Time
}

// NewRegistry returns a Registry.
func NewRegistry(cfg RegistryConfig, client ECRAPI) (*Registry, error) {
	if client == nil {
		return nil, errors.New("registry: an ECR client is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RuleRefresh == 0 {
		cfg.RuleRefresh = 5 * time.Minute
	}
	if cfg.Transport == nil {
		cfg.Transport = remote.DefaultTransport
	}
	return &Registry{cfg: cfg, ecr: client, host: cfg.Host}, nil
}

// credentials returns the registry host and Basic credentials, refreshing
// the token five minutes before it expires.
func (r *Registry) credentials(ctx context.Context) (string, authn.Basic, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	if r.auth.Password != "" && now.Before(r.authUntil) {
		return r.host, r.auth, nil
	}
	out, err := r.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", authn.Basic{}, fmt.Errorf("get ECR authorization token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", authn.Basic{}, errors.New("get ECR authorization token: no authorization data")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return "", authn.Basic{}, fmt.Errorf("decode ECR authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", authn.Basic{}, errors.New("decode ECR authorization token: not user:password")
	}
	if r.host == "" {
		u, err := url.Parse(aws.ToString(d.ProxyEndpoint))
		if err != nil || u.Host == "" {
			return "", authn.Basic{}, fmt.Errorf("ECR proxy endpoint %q is not a URL", aws.ToString(d.ProxyEndpoint))
		}
		r.host = u.Host
	}
	r.auth = authn.Basic{Username: user, Password: pass}
	r.authUntil = now.Add(time.Hour)
	if d.ExpiresAt != nil {
		r.authUntil = d.ExpiresAt.Add(-5 * time.Minute)
	}
	return r.host, r.auth, nil
}

// Host returns the ECR registry host, discovering it if needed.
func (r *Registry) Host(ctx context.Context) (string, error) {
	host, _, err := r.credentials(ctx)
	return host, err
}

// Keychain resolves the agent's ECR credentials for the registry host.
func (r *Registry) Keychain(ctx context.Context) (authn.Keychain, error) {
	host, auth, err := r.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return hostKeychain{host: host, auth: auth}, nil
}

type hostKeychain struct {
	host string
	auth authn.Basic
}

func (k hostKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() == k.host {
		a := k.auth
		return &a, nil
	}
	return authn.Anonymous, nil
}

// PullThroughRules returns the declared rules plus the discovered ones.
func (r *Registry) PullThroughRules(ctx context.Context) ([]plan.PullThroughRule, error) {
	if !r.cfg.DiscoverRules {
		return r.cfg.PullThrough, nil
	}
	r.mu.Lock()
	if r.rules != nil && r.cfg.Now().Sub(r.rulesAt) < r.cfg.RuleRefresh {
		defer r.mu.Unlock()
		return r.rules, nil
	}
	r.mu.Unlock()
	rules := append([]plan.PullThroughRule(nil), r.cfg.PullThrough...)
	declared := map[string]bool{}
	for _, d := range rules {
		declared[d.Upstream] = true
	}
	p := ecr.NewDescribePullThroughCacheRulesPaginator(r.ecr, &ecr.DescribePullThroughCacheRulesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe pull-through cache rules: %w", err)
		}
		for _, rule := range page.PullThroughCacheRules {
			up := plan.UpstreamHostForURL(aws.ToString(rule.UpstreamRegistryUrl))
			// A declared rule wins over a discovered one for the same upstream.
			if up == "" || declared[up] {
				continue
			}
			rules = append(rules, plan.PullThroughRule{Upstream: up, Prefix: aws.ToString(rule.EcrRepositoryPrefix)})
		}
	}
	r.mu.Lock()
	r.rules, r.rulesAt = rules, r.cfg.Now()
	r.mu.Unlock()
	return rules, nil
}

// PlanConfig is the plan configuration for the registry's current state.
func (r *Registry) PlanConfig(ctx context.Context, p *policy.Policy) (plan.Config, error) {
	host, err := r.Host(ctx)
	if err != nil {
		return plan.Config{}, err
	}
	rules, err := r.PullThroughRules(ctx)
	if err != nil {
		return plan.Config{}, err
	}
	return plan.Config{Registry: host, PullThrough: rules, Policy: p, MirrorPrefix: r.cfg.MirrorPrefix}, nil
}

// Preflight fetches target's manifest through the pull-through cache with
// the agent's own ECR credentials. That warms the cache (the tasks' first
// pull then finds it) and proves the rule and its upstream credentials
// work before any revision points at it. A reference with a digest is
// warmed by its tag first: a cache cannot fill a first pull by digest.
func (r *Registry) Preflight(ctx context.Context, target string) error {
	kc, err := r.Keychain(ctx)
	if err != nil {
		return err
	}
	ref, err := imageref.Parse(target)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(r.cfg.Transport)}
	if ref.Tag != "" {
		tagged, err := name.NewTag(ref.Registry+"/"+ref.Repository+":"+ref.Tag, name.WeakValidation)
		if err != nil {
			return fmt.Errorf("preflight %s: %w", target, err)
		}
		desc, err := remote.Get(tagged, opts...)
		if err != nil {
			return fmt.Errorf("preflight %s: %w", tagged, err)
		}
		if ref.Digest == "" {
			return nil
		}
		if desc.Digest.String() == ref.Digest {
			return nil
		}
	}
	dig, err := name.NewDigest(ref.Registry+"/"+ref.Repository+"@"+ref.Digest, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("preflight %s: %w", target, err)
	}
	if _, err := remote.Head(dig, opts...); err != nil {
		return fmt.Errorf("preflight %s: %w", dig, err)
	}
	return nil
}

// isUpstreamLimited reports whether a registry error is a rate limit (the
// cache's upstream still refusing), which may pass.
func isUpstreamLimited(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500
	}
	return false
}
