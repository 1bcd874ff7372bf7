package policysource_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/peers"
)

// The Reader against moto, an S3 and SSM emulator maintained by others: the
// same conditional reads, versions and errors as against the test bed's
// stand-ins, so that neither the stand-ins nor the Reader drift into
// agreeing only with each other.
func TestReaderAgainstMoto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	moto, err := peers.StartMoto(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Close()
	cfg := simtest.Config(moto.URL)
	s3c := policysource.NewS3Client(cfg)
	ssmc := policysource.NewSSMClient(cfg)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	putObject := func(body string) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String("p.yaml"), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	putParameter := func(body string) {
		t.Helper()
		if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/platform/policy"), Value: aws.String(body),
			Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(location string, prev *policysource.Snapshot) (*policysource.Snapshot, error) {
		t.Helper()
		loc, err := policysource.ParseLocation(location)
		if err != nil {
			t.Fatal(err)
		}
		r, err := policysource.ReaderFromConfig(cfg, loc, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return r.Read(ctx, prev)
	}

	putObject(fixture(t, "deny-nginx.yaml"))
	putParameter(fixture(t, "deny-nginx.yaml"))
	for _, tc := range []struct {
		location, firstVersion string
		change                 func(string)
	}{
		{"s3://policies/p.yaml", "", putObject},
		{"ssm:/platform/policy", "1", putParameter},
		{"ssm:arn:aws:ssm:us-east-1:123456789012:parameter/platform/policy", "", putParameter},
	} {
		first, err := read(tc.location, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.location, err)
		}
		if !strings.Contains(denied(first.Policy), "nginx") || first.Info.Version == "" || (tc.firstVersion != "" && first.Info.Version != tc.firstVersion) {
			t.Fatalf("%s: first read %+v", tc.location, first.Info)
		}
		if same, err := read(tc.location, first); err != nil || same != first {
			t.Fatalf("%s: unchanged read = %p, %v; want the same snapshot", tc.location, same, err)
		}
		tc.change(fixture(t, "deny-redis.yaml"))
		next, err := read(tc.location, first)
		if err != nil || next == first || next.Info.Version == first.Info.Version || !strings.Contains(denied(next.Policy), "redis") {
			t.Fatalf("%s: changed read = %+v, %v", tc.location, next, err)
		}
		tc.change(fixture(t, "deny-nginx.yaml"))
	}

	for location, want := range map[string]string{
		"s3://policies/missing.yaml": "s3://policies/missing.yaml: no such object (NoSuchKey)",
		"s3://nobucket/p.yaml":       "s3://nobucket/p.yaml: no such bucket (NoSuchBucket)",
		"ssm:/platform/missing":      "ssm:/platform/missing: no such parameter (ParameterNotFound)",
	} {
		_, err := read(location, nil)
		if err == nil || err.Error() != want || !policysource.IsBadInput(err) {
			t.Errorf("%s: %v, want %q", location, err, want)
		}
	}
}
