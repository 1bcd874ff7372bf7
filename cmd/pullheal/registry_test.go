package main

import (
	"encoding/json"
	"testing"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/taskdef"
)

// TestECRRegistryOfAccountAndRegion: the registry named by an ARN's or an
// event's account and region is the host ECS pulls from in that region's
// partition, and pullheal itself recognises it as that account's ECR.
func TestECRRegistryOfAccountAndRegion(t *testing.T) {
	for _, tc := range []struct {
		account, region, want string
	}{
		{"123456789012", "us-east-1", "123456789012.dkr.ecr.us-east-1.amazonaws.com"},
		{"123456789012", "ap-southeast-5", "123456789012.dkr.ecr.ap-southeast-5.amazonaws.com"},
		{"123456789012", "us-gov-west-1", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"},
		{"123456789012", "cn-north-1", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"},
		{"210987654321", "cn-northwest-1", "210987654321.dkr.ecr.cn-northwest-1.amazonaws.com.cn"},
		{"", "us-east-1", ""},
		{"123456789012", "", ""},
	} {
		t.Run(tc.account+"/"+tc.region, func(t *testing.T) {
			got := ecrRegistry(tc.account, tc.region)
			if got != tc.want {
				t.Fatalf("ecrRegistry(%q, %q) = %q, want %q", tc.account, tc.region, got, tc.want)
			}
			if got == "" {
				return
			}
			account, region, ok := imageref.ECRHost(got)
			if !ok || account != tc.account || region != tc.region {
				t.Errorf("imageref.ECRHost(%q) = %q, %q, %v; want the same account and region back", got, account, region, ok)
			}
		})
	}
}

// TestChinaRegionRegistryFromTheInput: without --registry, a task
// definition or an event of the aws-cn partition names a registry under
// amazonaws.com.cn, and an image already there is left alone.
func TestChinaRegionRegistryFromTheInput(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "rewrite", "--pull-through", "docker.io=docker-hub", "testdata/taskdefs/cn-describe.json")
	if code != 0 {
		t.Fatalf("rewrite: exit %d: %s", code, stderr)
	}
	doc, err := taskdef.Decode([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"web":   "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/docker-hub/library/nginx:1.27",
		"agent": "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/platform/agent:2.3",
	}
	for _, c := range doc.Containers() {
		if c.Image != want[c.Name] {
			t.Errorf("rewrite: container %s image %q, want %q", c.Name, c.Image, want[c.Name])
		}
	}

	code, stdout, stderr = runCLI(t, "", "explain", "--pull-through", "docker.io=docker-hub", "--output", "json", "testdata/cn-fargate-rate-limited.json")
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, stderr)
	}
	var got Explanation
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Containers) == 0 || got.Containers[0].Target != "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/docker-hub/library/nginx:1.27" {
		t.Errorf("explain: containers %+v, want web's target in cn-northwest-1's registry under amazonaws.com.cn", got.Containers)
	}
}
