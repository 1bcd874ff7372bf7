package agent

import "testing"

func TestOnFargate(t *testing.T) {
	const instance = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0a1b2c"
	tests := []struct {
		name            string
		launchType      string
		instance        string
		compatibilities []string
		want            bool
	}{
		{"launch type FARGATE", "FARGATE", "", []string{"EC2"}, true},
		{"launch type EC2 of a dual definition", "EC2", instance, []string{"EC2", "FARGATE"}, false},
		{"no launch type, on a container instance", "", instance, []string{"EC2", "FARGATE"}, false},
		{"no launch type, Fargate-only definition", "", "", []string{"FARGATE"}, true},
		{"no launch type, EC2-only definition", "", "", []string{"EC2"}, false},
		{"nothing known", "", "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := onFargate(tc.launchType, tc.instance, tc.compatibilities); got != tc.want {
				t.Errorf("onFargate(%q, %q, %v) = %v, want %v", tc.launchType, tc.instance, tc.compatibilities, got, tc.want)
			}
		})
	}
}
