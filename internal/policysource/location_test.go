package policysource_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/policysource"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    policysource.Location
		wantErr string
	}{
		{in: "policy.yaml", want: policysource.Location{Kind: policysource.File, Path: "policy.yaml"}},
		{in: "/etc/pullheal/policy.yaml", want: policysource.Location{Kind: policysource.File, Path: "/etc/pullheal/policy.yaml"}},
		{in: "./ssm:odd.yaml", want: policysource.Location{Kind: policysource.File, Path: "./ssm:odd.yaml"}},
		{in: "s3://my-bucket/prod/policy.yaml", want: policysource.Location{Kind: policysource.S3, Bucket: "my-bucket", Key: "prod/policy.yaml"}},
		{in: "s3://a.b-c/k", want: policysource.Location{Kind: policysource.S3, Bucket: "a.b-c", Key: "k"}},
		{in: "ssm:/pullheal/policy", want: policysource.Location{Kind: policysource.SSM, Parameter: "/pullheal/policy"}},
		{in: "ssm:pullheal-policy", want: policysource.Location{Kind: policysource.SSM, Parameter: "pullheal-policy"}},
		{in: "ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/pullheal/policy",
			want: policysource.Location{Kind: policysource.SSM, Parameter: "arn:aws:ssm:eu-west-1:123456789012:parameter/pullheal/policy", Region: "eu-west-1"}},
		{in: "ssm:arn:aws-cn:ssm:cn-north-1:123456789012:parameter/flat",
			want: policysource.Location{Kind: policysource.SSM, Parameter: "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/flat", Region: "cn-north-1"}},

		{in: "", wantErr: "policy location is empty"},
		{in: "s3://bucket", wantErr: "want s3://BUCKET/KEY"},
		{in: "s3://bucket/", wantErr: "want s3://BUCKET/KEY"},
		{in: "s3://Bucket/k", wantErr: "only lower-case letters"},
		{in: "s3://ab/k", wantErr: "3 to 63 characters"},
		{in: "s3://-ab/k", wantErr: "begin and end with a letter or digit"},
		{in: "s3://a..b/k", wantErr: "two adjacent periods"},
		{in: "s3://bucket/" + strings.Repeat("k", 1025), wantErr: "S3 keys are at most 1024"},
		{in: "s3://bucket/a\nb", wantErr: "not printable"},
		{in: "https://example.com/policy.yaml", wantErr: `scheme "https" is not supported`},
		{in: "ssm:", wantErr: "want ssm:NAME"},
		{in: "ssm:/p:3", wantErr: "selectors are not supported"},
		{in: "ssm:a b", wantErr: "only letters, digits"},
		{in: "ssm:a/b", wantErr: "begins with '/'"},
		{in: "ssm:" + strings.Repeat("/a", 16), wantErr: "more than 15 hierarchy levels"},
		{in: "ssm:arn:aws:s3:::bucket/key", wantErr: "want an SSM parameter ARN"},
		{in: "ssm:arn:aws:ssm:us-east-1:123456789012:document/x", wantErr: "want an SSM parameter ARN"},
		{in: "ssm:arn:aws:ssm:us-east-1:123456789012:parameter/", wantErr: "want ssm:NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := policysource.ParseLocation(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "policy location ") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %q is not one line naming the location", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}
