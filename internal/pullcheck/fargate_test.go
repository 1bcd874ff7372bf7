package pullcheck_test

import (
	"testing"

	"github.com/pullheal/pullheal/internal/pullcheck"
)

func TestOnFargate(t *testing.T) {
	const instance = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0a1b2c"
	tests := []struct {
		name            string
		launchType      string
		providers       []string
		instance        string
		compatibilities []string
		want            bool
	}{
		{"launch type FARGATE", "FARGATE", nil, "", []string{"EC2"}, true},
		{"launch type EC2 of a dual definition", "EC2", nil, instance, []string{"EC2", "FARGATE"}, false},
		{"no launch type, on a container instance", "", nil, instance, []string{"EC2", "FARGATE"}, false},
		{"no launch type, an Auto Scaling group provider", "", []string{"asg-web"}, "", []string{"EC2", "FARGATE"}, false},
		{"no launch type, FARGATE_SPOT among the providers", "", []string{"asg-web", "FARGATE_SPOT"}, "", []string{"EC2"}, true},
		{"no launch type, Fargate-only definition", "", nil, "", []string{"FARGATE"}, true},
		{"no launch type, EC2-only definition", "", nil, "", []string{"EC2"}, false},
		{"nothing known", "", nil, "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pullcheck.OnFargate(tc.launchType, tc.providers, tc.instance, tc.compatibilities); got != tc.want {
				t.Errorf("OnFargate(%q, %v, %q, %v) = %v, want %v", tc.launchType, tc.providers, tc.instance, tc.compatibilities, got, tc.want)
			}
		})
	}
}
