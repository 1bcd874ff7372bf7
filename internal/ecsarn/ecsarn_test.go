package ecsarn_test

import (
	"testing"

	"github.com/pullheal/pullheal/internal/ecsarn"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		in, name, family string
		rev              int
		ok               bool
	}{
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:42", "web:42", "web", 42, true},
		{"arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/a-b_c:1", "a-b_c:1", "a-b_c", 1, true},
		{"web:7", "web:7", "web", 7, true},
		{"web", "web", "web", 0, false},
		{"web:latest", "web:latest", "web:latest", 0, false},
		{"web:0", "web:0", "web:0", 0, false},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/prod", "prod", "prod", 0, false},
		{"prod", "prod", "prod", 0, false},
	} {
		if got := ecsarn.Name(tc.in); got != tc.name {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.name)
		}
		fam, rev, ok := ecsarn.TaskDefinition(tc.in)
		if fam != tc.family || rev != tc.rev || ok != tc.ok {
			t.Errorf("TaskDefinition(%q) = %q, %d, %v; want %q, %d, %v", tc.in, fam, rev, ok, tc.family, tc.rev, tc.ok)
		}
	}
}

func TestAccountRegion(t *testing.T) {
	acct, region, ok := ecsarn.AccountRegion("arn:aws:ecs:eu-west-1:210987654321:task-definition/web:1")
	if !ok || acct != "210987654321" || region != "eu-west-1" {
		t.Errorf("got %q %q %v", acct, region, ok)
	}
	for _, bad := range []string{"", "web:1", "arn:aws:iam::123456789012:role/x"} {
		if _, _, ok := ecsarn.AccountRegion(bad); ok {
			t.Errorf("AccountRegion(%q) ok", bad)
		}
	}
}
