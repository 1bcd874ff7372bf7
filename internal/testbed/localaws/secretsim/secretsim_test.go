package secretsim_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func newClock() *wire.ManualClock {
	return wire.NewManualClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// start serves s on loopback and returns an SDK client configured only
// through the SDK's standard settings.
func start(t *testing.T, s *secretsim.Secrets) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(simtest.Config(simtest.Serve(t, s.Service())))
}

func newSecrets(t *testing.T, cfg secretsim.Config) *secretsim.Secrets {
	t.Helper()
	s, err := secretsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var arnRE = regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-[A-Za-z0-9]{6}$`)

func TestCreateAndGetByNameAndArn(t *testing.T) {
	ctx := context.Background()
	s := newSecrets(t, secretsim.Config{Clock: newClock()})
	c := start(t, s)
	value := readFixture(t, "dockerhub-credentials.json")

	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("ecr-pullthroughcache/docker-hub"),
		SecretString: aws.String(value),
		Tags:         []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	if !arnRE.MatchString(arn) {
		t.Fatalf("ARN %q does not have the Secrets Manager shape", arn)
	}
	for _, id := range []string{"ecr-pullthroughcache/docker-hub", arn, arn[:len(arn)-7]} {
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if diff := cmp.Diff(value, aws.ToString(got.SecretString)); diff != "" {
			t.Errorf("GetSecretValue(%s) value (-want +got):\n%s", id, diff)
		}
		if diff := cmp.Diff([]string{"AWSCURRENT"}, got.VersionStages); diff != "" {
			t.Errorf("GetSecretValue(%s) stages (-want +got):\n%s", id, diff)
		}
		if aws.ToString(got.ARN) != arn || aws.ToString(got.VersionId) != aws.ToString(out.VersionId) {
			t.Errorf("GetSecretValue(%s) = ARN %s version %s, want %s %s", id, aws.ToString(got.ARN), aws.ToString(got.VersionId), arn, aws.ToString(out.VersionId))
		}
		if !got.CreatedDate.Equal(newClock().Now()) {
			t.Errorf("CreatedDate = %v, want %v", got.CreatedDate, newClock().Now())
		}
	}
	str, err := s.SecretString(arn)
	if err != nil || str != value {
		t.Errorf("SecretString(arn) = %q, %v; want the fixture", str, err)
	}
	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{aws.ToString(out.VersionId): {"AWSCURRENT"}}, desc.VersionIdsToStages); diff != "" {
		t.Errorf("VersionIdsToStages (-want +got):\n%s", diff)
	}
	if len(desc.Tags) != 1 || aws.ToString(desc.Tags[0].Key) != "team" {
		t.Errorf("Tags = %+v, want team=platform", desc.Tags)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	c := start(t, newSecrets(t, secretsim.Config{}))
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want any
	}{
		{"get missing", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
			return err
		}, new(*smtypes.ResourceNotFoundException)},
		{"get missing arn", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")})
			return err
		}, new(*smtypes.ResourceNotFoundException)},
		{"create existing", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("y")})
			return err
		}, new(*smtypes.ResourceExistsException)},
		{"bad name", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("has space"), SecretString: aws.String("y")})
			return err
		}, new(*smtypes.InvalidParameterException)},
		{"string and binary", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("y"), SecretBinary: []byte{1}})
			return err
		}, new(*smtypes.InvalidParameterException)},
		{"unknown stage", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPREVIOUS")})
			return err
		}, new(*smtypes.ResourceNotFoundException)},
		{"bad recovery window", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/db"), RecoveryWindowInDays: aws.Int64(3)})
			return err
		}, new(*smtypes.InvalidParameterException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tt.want) {
				t.Fatalf("error %v is not a %T", err, tt.want)
			}
		})
	}
}

func TestCreateRetryIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := start(t, newSecrets(t, secretsim.Config{}))
	in := &secretsmanager.CreateSecretInput{
		Name:               aws.String("app/token"),
		SecretString:       aws.String("v1"),
		ClientRequestToken: aws.String("11111111-2222-4333-8444-555555555555"),
	}
	first, err := c.CreateSecret(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateSecret(ctx, in)
	if err != nil {
		t.Fatalf("retried CreateSecret: %v", err)
	}
	if aws.ToString(first.ARN) != aws.ToString(again.ARN) || aws.ToString(again.VersionId) != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("retry answered %s/%s, want %s and the request token", aws.ToString(again.ARN), aws.ToString(again.VersionId), aws.ToString(first.ARN))
	}
}

func TestPutSecretValueMovesStages(t *testing.T) {
	ctx := context.Background()
	s := newSecrets(t, secretsim.Config{})
	c := start(t, s)
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/ghcr"), SecretString: aws.String("old")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ecr-pullthroughcache/ghcr"), SecretString: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	for stage, want := range map[string]string{"AWSCURRENT": "new", "AWSPREVIOUS": "old"} {
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ecr-pullthroughcache/ghcr"), VersionStage: aws.String(stage)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.SecretString) != want {
			t.Errorf("%s = %q, want %q", stage, aws.ToString(got.SecretString), want)
		}
	}
	if got, err := s.SecretString("ecr-pullthroughcache/ghcr"); err != nil || got != "new" {
		t.Errorf("SecretString = %q, %v; want new", got, err)
	}
}

func TestDeleteWithRecoveryWindow(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := newSecrets(t, secretsim.Config{Clock: clk})
	c := start(t, s)
	for _, name := range []string{"soft", "hard"} {
		if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("soft"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(7 * 24 * time.Hour); !del.DeletionDate.Equal(want) {
		t.Errorf("DeletionDate = %v, want %v", del.DeletionDate, want)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("soft")})
	var ire *smtypes.InvalidRequestException
	if !errors.As(err, &ire) {
		t.Fatalf("GetSecretValue of a deleted secret = %v, want InvalidRequestException", err)
	}
	if _, err := s.SecretString("soft"); !errors.Is(err, secretsim.ErrSecretNotFound) {
		t.Errorf("SecretString(deleted) = %v, want ErrSecretNotFound", err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("hard"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	var rnf *smtypes.ResourceNotFoundException
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("hard")}); !errors.As(err, &rnf) {
		t.Errorf("after a forced delete: %v, want ResourceNotFoundException", err)
	}
	clk.Advance(7*24*time.Hour + time.Second)
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("soft")}); !errors.As(err, &rnf) {
		t.Errorf("after the recovery window: %v, want ResourceNotFoundException", err)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("soft"), SecretString: aws.String("again")}); err != nil {
		t.Errorf("re-create after the recovery window: %v", err)
	}
}

func TestSecretStringErrors(t *testing.T) {
	ctx := context.Background()
	s := newSecrets(t, secretsim.Config{})
	c := start(t, s)
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0, 1, 2}, got.SecretBinary); diff != "" {
		t.Errorf("SecretBinary (-want +got):\n%s", diff)
	}
	if _, err := s.SecretString("bin"); !errors.Is(err, secretsim.ErrNoSecretString) {
		t.Errorf("SecretString(binary) = %v, want ErrNoSecretString", err)
	}
	if _, err := s.SecretString("missing"); !errors.Is(err, secretsim.ErrSecretNotFound) {
		t.Errorf("SecretString(missing) = %v, want ErrSecretNotFound", err)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := start(t, newSecrets(t, secretsim.Config{StateDir: dir}))
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ecr-pullthroughcache/quay"), SecretString: aws.String(`{"username":"u","accessToken":"t"}`)})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secretsmanager.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", fi.Mode().Perm())
	}
	restarted := newSecrets(t, secretsim.Config{StateDir: dir})
	got, err := restarted.SecretString(aws.ToString(out.ARN))
	if err != nil || got != `{"username":"u","accessToken":"t"}` {
		t.Errorf("after restart SecretString = %q, %v", got, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     secretsim.Config
		wantErr bool
	}{
		{"defaults", secretsim.Config{}, false},
		{"explicit", secretsim.Config{Account: "210987654321", Region: "eu-west-1"}, false},
		{"short account", secretsim.Config{Account: "1234"}, true},
		{"bad region", secretsim.Config{Region: "Mars"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
