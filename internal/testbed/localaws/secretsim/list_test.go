package secretsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
)

// TestListSecrets runs the cases of testdata/list-secrets.json: filters,
// negation, sorting, paging and planned deletions as the Secrets Manager
// API reference (ListSecrets, Filter) describes them.
func TestListSecrets(t *testing.T) {
	var fx struct {
		Secrets []struct {
			Name, Description string
			Tags              []types.Tag
			Deleted           bool
		}
		Cases []struct {
			Name      string
			Input     secretsmanager.ListSecretsInput
			Want      []string
			WantError string
		}
	}
	if err := json.Unmarshal([]byte(readFixture(t, "list-secrets.json")), &fx); err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	c := start(t, newSecrets(t, secretsim.Config{Clock: clock}))
	ctx := context.Background()
	for _, s := range fx.Secrets {
		clock.Advance(time.Minute) // creation order is the default order
		if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(s.Name), Description: aws.String(s.Description),
			SecretString: aws.String("{}"), Tags: s.Tags}); err != nil {
			t.Fatal(err)
		}
		if s.Deleted {
			if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(s.Name)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range fx.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			got := []string{}
			in := tc.Input
			var err error
			for page := 0; page < 10; page++ {
				var out *secretsmanager.ListSecretsOutput
				if out, err = c.ListSecrets(ctx, &in); err != nil {
					break
				}
				for _, e := range out.SecretList {
					got = append(got, aws.ToString(e.Name))
					if len(e.SecretVersionsToStages) != 1 {
						t.Errorf("%s: SecretVersionsToStages %v, want its one version", aws.ToString(e.Name), e.SecretVersionsToStages)
					}
				}
				if out.NextToken == nil {
					break
				}
				in.NextToken = out.NextToken
			}
			if tc.WantError != "" {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != tc.WantError {
					t.Fatalf("error %v, want %s", err, tc.WantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.Want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
