package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// ECRAPI lists the ECR calls the agent makes, with the SDK's signatures.
type ECRAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
	DescribePullThroughCacheRules(ctx context.Context, in *ecr.DescribePullThroughCacheRulesInput, opts ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error)
}

// ECRConfig says where corrected images live.
type ECRConfig struct {
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

// ECRAccount is the account's ECR registry as the agent sees it: its host,
// its credentials and its pull-through cache rules, each cached, and the
// preflight that proves a pull-through target serves.
type ECRAccount struct {
	cfg      ECRConfig
	ecr      ECRAPI
	keychain *mirror.ECRKeychain

	mu      sync.Mutex
	rules   []plan.PullThroughRule
	rulesAt time.Time
}

// NewECRAccount returns the account's registry.
func NewECRAccount(cfg ECRConfig, client ECRAPI) (*ECRAccount, error) {
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
	var extra []string
	if cfg.Host != "" {
		extra = append(extra, cfg.Host)
	}
	return &ECRAccount{cfg: cfg, ecr: client, keychain: mirror.NewECRKeychain(client, cfg.Now, extra...)}, nil
}

// Host returns the ECR registry host: the configured one, or the token's
// proxy endpoint.
func (r *ECRAccount) Host(ctx context.Context) (string, error) {
	if r.cfg.Host != "" {
		return r.cfg.Host, nil
	}
	return r.keychain.Endpoint(ctx)
}

// Keychain resolves the agent's ECR credentials (GetAuthorizationToken,
// cached and renewed before expiry) for the registry.
func (r *ECRAccount) Keychain() *mirror.ECRKeychain { return r.keychain }

// PullThroughRules returns the declared rules plus the discovered ones.
func (r *ECRAccount) PullThroughRules(ctx context.Context) ([]plan.PullThroughRule, error) {
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

// PlanConfig is the plan configuration for the registry's current state,
// and whether its rules include the account's.
func (r *ECRAccount) PlanConfig(ctx context.Context, p *policy.Policy) (plan.Config, bool, error) {
	host, err := r.Host(ctx)
	if err != nil {
		return plan.Config{}, false, err
	}
	rules, err := r.PullThroughRules(ctx)
	if err != nil {
		return plan.Config{}, false, err
	}
	return plan.Config{Registry: host, PullThrough: rules, Policy: p, MirrorPrefix: r.cfg.MirrorPrefix}, r.cfg.DiscoverRules, nil
}

// Preflight fetches target's manifest through the pull-through cache with
// the agent's own ECR credentials. That warms the cache (the tasks' first
// pull then finds it) and proves the rule and its upstream credentials
// work before any revision points at it. A reference with a digest is
// warmed by its tag first: a cache cannot fill a first pull by digest.
func (r *ECRAccount) Preflight(ctx context.Context, target string) error {
	kc := r.keychain
	ref, err := imageref.Parse(target)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	// One attempt: SQS redelivery is the retry, and go-containerregistry's
	// own backoff would hold a worker for seconds past a shutdown.
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(r.cfg.Transport),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
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
