package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// accountPlan is the agent's own view of the account's ECR registry, for
// the commands that decide as it does (scan, rewrite --discover): the
// registry (registry, else the policy's, else the host of the caller's ECR
// authorization token) and its pull-through rules (rules, then the
// account's from DescribePullThroughCacheRules unless discover is off or
// the policy declares its own), as the plan configuration it heals with.
func accountPlan(ctx context.Context, awsCfg aws.Config, pol *policy.Policy, registry string, rules []plan.PullThroughRule,
	discover bool, t http.RoundTripper) (*agent.ECRAccount, plan.Config, error) {
	if registry == "" && pol != nil {
		registry = pol.Registry
	}
	mirrorPrefix := ""
	if pol != nil {
		mirrorPrefix = pol.Mirror.Prefix
		discover = discover && pol.PullThrough.Source != policy.PullThroughDeclared
	}
	reg, err := agent.NewECRAccount(agent.ECRConfig{Host: registry, PullThrough: rules, DiscoverRules: discover,
		MirrorPrefix: mirrorPrefix, Transport: t}, ecr.NewFromConfig(awsCfg))
	if err != nil {
		return nil, plan.Config{}, err
	}
	cfg, _, err := reg.PlanConfig(ctx, pol)
	if err != nil {
		return nil, cfg, fmt.Errorf("read the ECR registry and its pull-through rules: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, cfg, inputErrorf("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return reg, cfg, nil
}
