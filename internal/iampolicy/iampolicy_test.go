package iampolicy_test

import (
	"errors"
	"testing"

	"github.com/pullheal/pullheal/internal/iampolicy"
)

const (
	repo = "arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/library/nginx"
	role = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
)

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name, doc, principal, action, resource string
		want                                   iampolicy.Decision
		conditional                            bool
	}{
		{"wildcard action, case-insensitive", `{"Statement":{"Effect":"Allow","Action":"ECR:Batch?etImage","Resource":"*"}}`, "", "ecr:batchgetimage", repo, iampolicy.Allowed, false},
		{"? is one character", `{"Statement":{"Effect":"Allow","Action":"ecr:Batch?etImage","Resource":"*"}}`, "", "ecr:BatchGetImages", repo, iampolicy.ImplicitDeny, false},
		{"* crosses slashes in resources", `{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:123456789012:repository/docker-hub/*"}}`, "", "ecr:BatchGetImage", repo, iampolicy.Allowed, false},
		{"NotResource", `{"Statement":{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/docker-hub/*"}}`, "", "ecr:BatchGetImage", repo, iampolicy.ImplicitDeny, false},
		{"NotAction", `{"Statement":{"Effect":"Allow","NotAction":"ecr:Delete*","Resource":"*"}}`, "", "ecr:BatchGetImage", repo, iampolicy.Allowed, false},
		{"deny wins", `{"Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"*"}]}`, "", "ecr:BatchGetImage", repo, iampolicy.ExplicitDeny, false},
		{"a condition is reported, not assumed", `{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"web"}}}}`, "", "ecr:BatchGetImage", repo, iampolicy.ImplicitDeny, true},
		{"resource policy: account root is every role of it", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchImportUpstreamImage","Resource":"*"}}`, role, "ecr:BatchImportUpstreamImage", repo, iampolicy.Allowed, false},
		{"resource policy: bare account id", `{"Statement":{"Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":"ecr:*","Resource":"*"}}`, role, "ecr:CreateRepository", repo, iampolicy.Allowed, false},
		{"resource policy: another account", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:*","Resource":"*"}}`, role, "ecr:CreateRepository", repo, iampolicy.ImplicitDeny, false},
		{"resource policy: role pattern", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ecs*"},"Action":"ecr:*","Resource":"*"}}`, role, "ecr:CreateRepository", repo, iampolicy.Allowed, false},
		{"resource policy: service principal is not a role", `{"Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"ecr:*","Resource":"*"}}`, role, "ecr:CreateRepository", repo, iampolicy.ImplicitDeny, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := iampolicy.ParsePolicy(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			got := iampolicy.Evaluate([]*iampolicy.Policy{p}, tc.principal, tc.action, tc.resource)
			if got.Decision != tc.want || got.Conditional != tc.conditional {
				t.Errorf("got %s (conditional %v), want %s (conditional %v)", got.Decision, got.Conditional, tc.want, tc.conditional)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, doc := range []string{
		``, `null`, `[]`, `{}`, `{"Statement":[]}`,
		`{"Statement":{"Effect":"Maybe","Action":"x","Resource":"*"}}`,
		`{"Statement":{"Effect":"Allow","Resource":"*"}}`,
		`{"Statement":{"Effect":"Allow","Action":7,"Resource":"*"}}`,
		`{"Statement":{"Effect":"Allow","Action":"x","Principal":"someone"}}`,
	} {
		if _, err := iampolicy.ParsePolicy(doc); !errors.Is(err, iampolicy.ErrMalformed) {
			t.Errorf("ParsePolicy(%s) = %v, want ErrMalformed", doc, err)
		}
	}
}
