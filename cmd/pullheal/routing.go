package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// The flags explain and rewrite share: where corrected images go.
func routingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "policy", Usage: "platform team's policy (what may be mirrored, denied, typosquats): " + policyUsage},
		&cli.StringFlag{Name: "registry", Usage: "ECR registry `HOST` that corrected images live in (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"},
		&cli.StringSliceFlag{Name: "pull-through", Usage: "a pull-through cache rule `UPSTREAM=PREFIX` (docker.io=docker-hub); repeatable"},
	}
}

// routing builds the plan configuration from the shared flags. fallback is
// the registry to use when neither the flag nor the policy names one.
func routing(c *cli.Context, fallback string) (plan.Config, error) {
	var cfg plan.Config
	if location := c.String("policy"); location != "" {
		snap, _, err := readPolicy(c.Context, location, nil)
		if err != nil {
			return cfg, err
		}
		p := snap.Policy
		// plan reads the policy's registry, declared rules and mirror
		// prefix itself; flags override them.
		cfg.Policy = p
	}
	if r := c.String("registry"); r != "" {
		if err := policy.CheckRegistry(r); err != nil {
			return cfg, inputErrorf("--registry %q: %v", r, err)
		}
		cfg.Registry = r
	}
	if cfg.Registry == "" && (cfg.Policy == nil || cfg.Policy.Registry == "") {
		cfg.Registry = fallback
	}
	for _, s := range c.StringSlice("pull-through") {
		// A flag wins over the policy's rule for the same upstream: plan
		// takes the first rule for an upstream, flags before the policy's.
		rule, err := plan.ParsePullThrough(s)
		if err != nil {
			return cfg, inputErrorf("--pull-through %q: %v", s, err)
		}
		cfg.PullThrough = append(cfg.PullThrough, rule)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, inputErrorf("%s (give --registry HOST or set registry in the policy)", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

// ecrRegistry is the ECR registry host of an account and region.
func ecrRegistry(account, region string) string {
	if account == "" || region == "" {
		return ""
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", account, region)
}
