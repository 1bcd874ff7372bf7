package pullcheck

import (
	"slices"
	"strings"
)

// OnFargate tells whether tasks run on Fargate (where only an execution
// role can pull from private ECR), from the best evidence there is: the
// launch type, which ECS sets on every task it starts; without one, where
// they are placed: a container instance means EC2, and of capacity
// providers FARGATE and FARGATE_SPOT are Fargate while any other is an
// Auto Scaling group of EC2 instances; without either, the task
// definition's compatibilities. The agent asks it of a stopped task, scan
// of a service.
func OnFargate(launchType string, capacityProviders []string, containerInstanceArn string, compatibilities []string) bool {
	switch {
	case launchType != "":
		return strings.EqualFold(launchType, "FARGATE")
	case containerInstanceArn != "":
		return false
	case len(capacityProviders) > 0:
		return slices.ContainsFunc(capacityProviders, func(p string) bool { return p == "FARGATE" || p == "FARGATE_SPOT" })
	}
	return slices.Contains(compatibilities, "FARGATE")
}
