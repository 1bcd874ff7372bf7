package conformance_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompare pins down what the comparison treats as equal: only random
// ids, timestamps, endpoints, tag order and the spelling of absence; any
// other change of a value is a difference.
func TestCompare(t *testing.T) {
	cases := []struct {
		name, bed, moto string
		want            []string
	}{
		{"equal", `{"a":"x","n":1}`, `{"a":"x","n":1}`, nil},
		{"value", `{"a":"x"}`, `{"a":"y"}`, []string{"a"}},
		{"type", `{"cpu":"0"}`, `{"cpu":0}`, []string{"cpu"}},
		{"member only one side has", `{"a":"x"}`, `{}`, []string{"a"}},
		{"absent, null, empty alike", `{"a":null,"b":[],"c":{},"d":""}`, `{}`, nil},
		{"nested index", `{"l":[{"k":1},{"k":2}]}`, `{"l":[{"k":1},{"k":3}]}`, []string{"l[1].k"}},
		{"list length", `{"l":[1]}`, `{"l":[1,2]}`, []string{"l"}},
		{"timestamps", `{"createdAt":1700000000.5,"Attributes":{"CreatedTimestamp":"1700000000"}}`, `{"createdAt":1800000000,"Attributes":{"CreatedTimestamp":"1"}}`, nil},
		{"ISO timestamps", `{"CreateDate":"2026-12-02T07:07:04Z"}`, `{"CreateDate":"2026-12-02T07:07:04.163053Z"}`, nil},
		{"not a timestamp", `{"version":1}`, `{"version":2}`, []string{"version"}},
		{"not a date, though named one", `{"UpdateDate":"soon"}`, `{"UpdateDate":"later"}`, []string{"UpdateDate"}},
		{"EC2 and IAM ids", `{"ec2InstanceId":"i-0123456789abcdef0","RoleId":"AROAAAAAAAAAAAAAAAAAA"}`, `{"ec2InstanceId":"i-fedcba98","RoleId":"AROABBBBBBBBBBBBBBBBB"}`, nil},
		{"random ids", `{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef","MessageId":"a"}`,
			`{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/prod/4f0c2f8e-6f5b-4b7a-9d2e-0a1b2c3d4e5f","MessageId":"b"}`, nil},
		{"other cluster in the ARN", `{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"}`,
			`{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/dev/0123456789abcdef0123456789abcdef"}`, []string{"taskArn"}},
		{"digests stay", `{"MD5OfMessageBody":"0123456789abcdef0123456789abcdef"}`, `{"MD5OfMessageBody":"fedcba9876543210fedcba9876543210"}`, []string{"MD5OfMessageBody"}},
		{"endpoint", `{"QueueUrl":"http://bed/123456789012/q"}`, `{"QueueUrl":"http://moto/123456789012/q"}`, nil},
		{"tag order", `{"tags":[{"key":"b","value":"2"},{"key":"a","value":"1"}]}`, `{"tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}`, nil},
		{"embedded JSON spacing", `{"p":"{\"a\":1}"}`, `{"p":"{\"a\": 1}"}`, nil},
		{"embedded JSON value", `{"p":"{\"a\":1}"}`, `{"p":"{\"a\": 2}"}`, []string{"p.<json>.a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a, b any
			if err := json.Unmarshal([]byte(tc.bed), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.moto), &b); err != nil {
				t.Fatal(err)
			}
			var diffs []difference
			compare("", normalize(a, "http://bed"), normalize(b, "http://moto"), &diffs)
			var got []string
			for _, d := range diffs {
				got = append(got, d.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("differences (-want +got):\n%s", diff)
			}
		})
	}
}
