package ssmsim_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ssmsim"
)

func newClient(t *testing.T) (*ssm.Client, *ssmsim.SSM) {
	t.Helper()
	sim, err := ssmsim.New(ssmsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return ssm.NewFromConfig(simtest.Config(simtest.Serve(t, sim.Service()))), sim
}

func put(t *testing.T, c *ssm.Client, in *ssm.PutParameterInput) int64 {
	t.Helper()
	out, err := c.PutParameter(context.Background(), in)
	if err != nil {
		t.Fatalf("PutParameter %s: %v", aws.ToString(in.Name), err)
	}
	return out.Version
}

func get(t *testing.T, c *ssm.Client, name string, decrypt bool) *ssmtypes.Parameter {
	t.Helper()
	out, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(decrypt)})
	if err != nil {
		t.Fatalf("GetParameter %s: %v", name, err)
	}
	return out.Parameter
}

// Versions grow with each overwrite; GetParameter reads the latest by name
// or ARN, and an older one with a version selector.
func TestPutOverwriteAndGetVersions(t *testing.T) {
	c, _ := newClient(t)
	if v := put(t, c, &ssm.PutParameterInput{Name: aws.String("/pullheal/policy"), Value: aws.String("version: 1\n"), Type: ssmtypes.ParameterTypeString}); v != 1 {
		t.Fatalf("first version = %d, want 1", v)
	}
	_, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String("/pullheal/policy"), Value: aws.String("x")})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("put without Overwrite: %v, want ParameterAlreadyExists", err)
	}
	if v := put(t, c, &ssm.PutParameterInput{Name: aws.String("/pullheal/policy"), Value: aws.String("version: 1 # two\n"), Overwrite: aws.Bool(true)}); v != 2 {
		t.Fatalf("overwrite version = %d, want 2", v)
	}
	p := get(t, c, "/pullheal/policy", false)
	if p.Version != 2 || aws.ToString(p.Value) != "version: 1 # two\n" || p.Type != ssmtypes.ParameterTypeString {
		t.Fatalf("latest = version %d %q %s", p.Version, aws.ToString(p.Value), p.Type)
	}
	if want := "arn:aws:ssm:us-east-1:123456789012:parameter/pullheal/policy"; aws.ToString(p.ARN) != want {
		t.Fatalf("ARN = %s, want %s", aws.ToString(p.ARN), want)
	}
	if p.LastModifiedDate == nil || p.LastModifiedDate.IsZero() {
		t.Fatal("no LastModifiedDate")
	}
	if byARN := get(t, c, aws.ToString(p.ARN), false); byARN.Version != 2 {
		t.Fatalf("by ARN: version %d", byARN.Version)
	}
	if old := get(t, c, "/pullheal/policy:1", false); old.Version != 1 || aws.ToString(old.Value) != "version: 1\n" || aws.ToString(old.Selector) != ":1" {
		t.Fatalf("selector :1 = version %d %q selector %q", old.Version, aws.ToString(old.Value), aws.ToString(old.Selector))
	}
	// A plain (non-hierarchical) name has parameter/NAME as its ARN.
	put(t, c, &ssm.PutParameterInput{Name: aws.String("flat"), Value: aws.String("v")})
	if p := get(t, c, "arn:aws:ssm:us-east-1:123456789012:parameter/flat", false); aws.ToString(p.Name) != "flat" {
		t.Fatalf("flat by ARN: %s", aws.ToString(p.Name))
	}
}

// A SecureString comes back in clear only WithDecryption.
func TestSecureString(t *testing.T) {
	c, _ := newClient(t)
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/app/secret"), Value: aws.String("registry: x\n"), Type: ssmtypes.ParameterTypeSecureString})
	if p := get(t, c, "/app/secret", true); aws.ToString(p.Value) != "registry: x\n" || p.Type != ssmtypes.ParameterTypeSecureString {
		t.Fatalf("decrypted = %q %s", aws.ToString(p.Value), p.Type)
	}
	if p := get(t, c, "/app/secret", false); strings.Contains(aws.ToString(p.Value), "registry") || aws.ToString(p.Value) == "" {
		t.Fatalf("without decryption the plaintext leaks or is empty: %q", aws.ToString(p.Value))
	}
}

// Errors carry the codes the SDK maps to its typed exceptions.
func TestErrors(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/missing")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("missing: %v, want ParameterNotFound", err)
	}
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:eu-west-1:123456789012:parameter/x")})
	if !errors.As(err, &nf) {
		t.Fatalf("other region's ARN: %v, want ParameterNotFound", err)
	}
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/v"), Value: aws.String("a")})
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/v:7")})
	var vnf *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &vnf) {
		t.Fatalf("missing version: %v, want ParameterVersionNotFound", err)
	}
	for _, tc := range []struct {
		name string
		in   ssm.PutParameterInput
		code string
	}{
		{"aws prefix", ssm.PutParameterInput{Name: aws.String("/aws/x"), Value: aws.String("a")}, "ValidationException"},
		{"relative hierarchy", ssm.PutParameterInput{Name: aws.String("a/b"), Value: aws.String("a")}, "ValidationException"},
		{"space", ssm.PutParameterInput{Name: aws.String("a b"), Value: aws.String("a")}, "ValidationException"},
		{"empty value", ssm.PutParameterInput{Name: aws.String("/e"), Value: aws.String("")}, "ValidationException"},
		{"standard too large", ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 4097))}, "ValidationException"},
		{"advanced too large", ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 8193)), Tier: ssmtypes.ParameterTierAdvanced}, "ValidationException"},
		{"key for a String", ssm.PutParameterInput{Name: aws.String("/k"), Value: aws.String("a"), KeyId: aws.String("alias/x")}, "ValidationException"},
		{"16 levels", ssm.PutParameterInput{Name: aws.String(strings.Repeat("/a", 16)), Value: aws.String("a")}, "HierarchyLevelLimitExceededException"},
		{"ARN", ssm.PutParameterInput{Name: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/x"), Value: aws.String("a")}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutParameter(ctx, &tc.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	// Advanced and Intelligent-Tiering take up to 8 KB.
	out, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 5000)), Tier: ssmtypes.ParameterTierIntelligentTiering})
	if err != nil || out.Tier != ssmtypes.ParameterTierAdvanced {
		t.Fatalf("intelligent tiering 5000: %v tier %s", err, out.Tier)
	}
}

// Parameters survive a snapshot and restore, versions included.
func TestSnapshotRestore(t *testing.T) {
	c, sim := newClient(t)
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("a")})
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("b"), Overwrite: aws.Bool(true)})
	var buf bytes.Buffer
	if err := sim.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	sim2, _ := ssmsim.New(ssmsim.Config{})
	if err := sim2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	c2 := ssm.NewFromConfig(simtest.Config(simtest.Serve(t, sim2.Service())))
	if p := get(t, c2, "/p", false); p.Version != 2 || aws.ToString(p.Value) != "b" {
		t.Fatalf("restored = version %d %q", p.Version, aws.ToString(p.Value))
	}
	other, _ := ssmsim.New(ssmsim.Config{Region: "eu-west-1"})
	var buf2 bytes.Buffer
	_ = sim.Snapshot(&buf2)
	if err := other.Restore(&buf2); err == nil {
		t.Fatal("a snapshot of another region restored")
	}
}
