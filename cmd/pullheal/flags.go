package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/plan"
	"github.com/pullheal/pullheal/policy"
)

// The flags several commands share, each declared once here with the
// function that reads it. They are functions, not variables: a cli.Flag
// keeps state from the run that parsed it.

func policyFlag() cli.Flag {
	return &cli.StringFlag{Name: "policy", Usage: "platform team's policy (what may be mirrored, denied, typosquats): " + policyUsage}
}

func insecureFlag() cli.Flag {
	return &cli.BoolFlag{Name: "insecure", Usage: "allow plain HTTP to registries (implicit for loopback addresses)"}
}

func registryFlag() cli.Flag {
	return &cli.StringFlag{Name: "registry", Usage: "ECR registry `HOST` that corrected images live in (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"}
}

func pullThroughFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "pull-through", Usage: "a pull-through cache rule `UPSTREAM=PREFIX` (docker.io=docker-hub); repeatable"}
}

func registryEndpointsFlag() cli.Flag {
	return &cli.StringFlag{Name: "registry-endpoints", Usage: "`HOST=URL,...`: reach these registry hosts at other base URLs (the local test bed, a proxy)"}
}

func dockerHubSecretFlag() cli.Flag {
	return &cli.StringFlag{Name: "dockerhub-secret", Usage: "Secrets Manager secret `ID` with the Docker Hub account upstream pulls use ({\"username\",\"accessToken\"})"}
}

func reserveFlag() cli.Flag {
	return &cli.IntFlag{Name: "reserve", Usage: "refuse to spend the upstream's last `N` advertised pulls"}
}

// clusterFlag, serviceFlag and familyFlag name the workload a policy
// decides for (its scope rules).
func clusterFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster", Usage: "decide for a workload in cluster `NAME` (scope rules)"}
}

func serviceFlag() cli.Flag {
	return &cli.StringFlag{Name: "service", Usage: "decide for service `NAME` (scope rules)"}
}

func familyFlag() cli.Flag {
	return &cli.StringFlag{Name: "family", Usage: "decide for task-definition family `NAME` (scope rules)"}
}

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Value: "text", Usage: "output `FORMAT`: json or text"}
}

func logLevelFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"}
}

// routingFlags are where corrected images go: policy, registry and
// pull-through rules (agent, explain, rewrite).
func routingFlags() []cli.Flag {
	return []cli.Flag{policyFlag(), registryFlag(), pullThroughFlag()}
}

// policyFromFlag loads --policy; nil when it is not given.
func policyFromFlag(c *cli.Context) (*policy.Policy, error) {
	path := c.String("policy")
	if path == "" {
		return nil, nil
	}
	snap, _, err := readPolicy(c.Context, path, nil)
	if err != nil {
		return nil, err
	}
	return snap.Policy, nil
}

// registryFromFlag reads --registry; "" when it is not given.
func registryFromFlag(c *cli.Context) (string, error) {
	r := c.String("registry")
	if r == "" {
		return "", nil
	}
	if err := policy.CheckRegistry(r); err != nil {
		return "", inputErrorf("--registry %q: %v", r, err)
	}
	return r, nil
}

// pullThroughFromFlag reads every --pull-through.
func pullThroughFromFlag(c *cli.Context) ([]plan.PullThroughRule, error) {
	var rules []plan.PullThroughRule
	for _, s := range c.StringSlice("pull-through") {
		rule, err := plan.ParsePullThrough(s)
		if err != nil {
			return nil, inputErrorf("--pull-through %q: %v", s, err)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// endpointsFromFlag reads --registry-endpoints.
func endpointsFromFlag(c *cli.Context) (hostmap.Map, error) {
	m, err := hostmap.Parse(c.String("registry-endpoints"))
	if err != nil {
		return nil, inputErrorf("--registry-endpoints: %v", err)
	}
	return m, nil
}

// routing builds the plan configuration from the routing flags, offline.
// fallback is the registry to use when neither the flag nor the policy
// names one.
func routing(c *cli.Context, fallback string) (plan.Config, error) {
	var cfg plan.Config
	var err error
	// plan reads the policy's registry, declared rules and mirror prefix
	// itself; flags override them.
	if cfg.Policy, err = policyFromFlag(c); err != nil {
		return cfg, err
	}
	if cfg.Registry, err = registryFromFlag(c); err != nil {
		return cfg, err
	}
	if cfg.Registry == "" && (cfg.Policy == nil || cfg.Policy.Registry == "") {
		cfg.Registry = fallback
	}
	// A flag wins over the policy's rule for the same upstream: plan takes
	// the first rule for an upstream, flags before the policy's.
	if cfg.PullThrough, err = pullThroughFromFlag(c); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, inputErrorf("%s (give --registry HOST or set registry in the policy)", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

// ecrRegistry is the ECR registry host of an account and region. The
// China regions (cn-north-1, cn-northwest-1: the aws-cn partition) serve
// ECR under amazonaws.com.cn; every other region ECS runs in under
// amazonaws.com.
func ecrRegistry(account, region string) string {
	if account == "" || region == "" {
		return ""
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.%s", account, region, suffix)
}

// checkListenAddress checks the ADDRESS of a --FLAG a server listens on,
// host:port (port 0 or none picks a free one), before anything starts.
func checkListenAddress(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return inputErrorf("--%s %q: %v", flag, addr, err)
	}
	if port == "" {
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return inputErrorf("--%s %q: port %q: want a number from 0 to 65535", flag, addr, port)
	}
	return nil
}
