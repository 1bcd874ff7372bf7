package ecrsim

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/pullheal/pullheal/internal/iampolicy"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Authorizer decides an ECR request by an IAM principal against its
// identity policies and the resource policies given (iamsim.IAM).
type Authorizer interface {
	Allowed(principal, action, resource string, resourcePolicies ...*iampolicy.Policy) (iampolicy.Decision, error)
}

// principalKey carries the principal a registry request's token was issued
// to, from authenticate to the handlers that authorise.
type principalKey struct{}

func withPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

func principalOf(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// TokenFor issues a registry credential for an IAM role (its ARN): the ECS
// scheduler pulls with the task execution role's token, and with Config.IAM
// set the registry allows that role only what its policies grant, as ECR
// does. Token() is a credential of the test bed's own, unrestricted caller.
func (e *ECR) TokenFor(role string) AuthorizationToken {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issueTokenForLocked(role)
}

func (e *ECR) repoArn(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", e.cfg.Region, e.cfg.Account, name)
}

// Which resource policies ECR consults for an action (the ECR user guide:
// a registry permissions policy covers only pull-through cache and
// replication actions; a repository policy covers the repository's own).
var (
	pullActions   = policySources{repository: true}
	importActions = policySources{registry: true, repository: true}
	createActions = policySources{registry: true}
)

type policySources struct{ registry, repository bool }

// authorize checks action on repoName for the request's principal; nil when
// the request is the test bed's own or IAM is not enforced.
func (e *ECR) authorize(ctx context.Context, action, repoName string, from policySources) *regError {
	principal := principalOf(ctx)
	if principal == "" || e.cfg.IAM == nil {
		return nil
	}
	e.mu.Lock()
	var texts []string
	if from.registry && e.st.RegistryPolicy != "" {
		texts = append(texts, e.st.RegistryPolicy)
	}
	if repo := e.st.Repositories[repoName]; from.repository && repo != nil && repo.Policy != "" {
		texts = append(texts, repo.Policy)
	}
	e.mu.Unlock()
	var policies []*iampolicy.Policy
	for _, t := range texts {
		if p, err := iampolicy.ParsePolicy(t); err == nil {
			policies = append(policies, p)
		}
	}
	resource := e.repoArn(repoName)
	d, err := e.cfg.IAM.Allowed(principal, action, resource, policies...)
	if err == nil && d == iampolicy.Allowed {
		return nil
	}
	session := sessionArn(principal)
	why := "because no identity-based policy allows the " + action + " action"
	switch {
	case err != nil:
		why = "because the role does not exist"
	case d == iampolicy.ExplicitDeny:
		why = "with an explicit deny in an identity-based policy"
	}
	return &regError{Status: http.StatusForbidden, Code: "DENIED",
		Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", session, action, resource, why)}
}

// sessionArn is how ECR names a role's session in its denials.
func sessionArn(roleArn string) string {
	parts := strings.SplitN(roleArn, ":", 6)
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "role/") {
		return roleArn
	}
	name := parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	return "arn:aws:sts::" + parts[4] + ":assumed-role/" + name + "/ecs-task"
}

func encodePrincipal(p string) string { return base64.RawURLEncoding.EncodeToString([]byte(p)) }

func decodePrincipal(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil
}

func (e *ECR) putRegistryPolicy(_ context.Context, body []byte) (any, error) {
	var in struct{ PolicyText string }
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	if _, err := iampolicy.ParsePolicy(in.PolicyText); err != nil {
		return nil, invalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided': %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.RegistryPolicy = in.PolicyText
	if err := e.saveErr(); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": e.cfg.Account, "policyText": in.PolicyText}, nil
}

func (e *ECR) getRegistryPolicy(_ context.Context, body []byte) (any, error) {
	var in struct{}
	if err := e.decode(body, &in, nil); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.RegistryPolicy == "" {
		return nil, wire.Errorf(http.StatusBadRequest, "RegistryPolicyNotFoundException", "Registry policy does not exist in the registry with id '%s'", e.cfg.Account)
	}
	return map[string]any{"registryId": e.cfg.Account, "policyText": e.st.RegistryPolicy}, nil
}

func (e *ECR) deleteRegistryPolicy(ctx context.Context, body []byte) (any, error) {
	out, err := e.getRegistryPolicy(ctx, body)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.st.RegistryPolicy = ""
	err = e.saveErr()
	e.mu.Unlock()
	return out, err
}

func (e *ECR) setRepositoryPolicy(_ context.Context, body []byte) (any, error) {
	return e.putRepoDoc(body, repositoryPolicyDoc)
}

func (e *ECR) getRepositoryPolicy(_ context.Context, body []byte) (any, error) {
	return e.getRepoDoc(body, repositoryPolicyDoc)
}

func checkRepositoryPolicy(text string) error {
	if _, err := iampolicy.ParsePolicy(text); err != nil {
		return invalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided': %v", err)
	}
	return nil
}
