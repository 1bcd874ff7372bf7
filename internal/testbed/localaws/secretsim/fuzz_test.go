package secretsim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// FuzzOps feeds arbitrary request bodies to every operation: each must
// answer with a value or a typed client error, never panic or fail as a
// server error.
func FuzzOps(f *testing.F) {
	f.Add("CreateSecret", `{"Name":"a","SecretString":"x","Tags":[{"Key":"k","Value":"v"}]}`)
	f.Add("GetSecretValue", `{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}`)
	f.Add("PutSecretValue", `{"SecretId":"a","SecretBinary":"AAE="}`)
	f.Add("DeleteSecret", `{"SecretId":"a","RecoveryWindowInDays":7}`)
	f.Add("DescribeSecret", `{"SecretId":"a"}`)
	f.Add("GetSecretValue", `{"SecretId":"arn:"}`)
	f.Fuzz(func(t *testing.T, op, body string) {
		s, err := secretsim.New(secretsim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc := s.Service()
		fn, ok := svc.Ops[op]
		if !ok {
			return
		}
		_, _ = svc.Ops["CreateSecret"](context.Background(), []byte(`{"Name":"a","SecretString":"x"}`))
		if _, err := fn(context.Background(), []byte(body)); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status >= 500 {
				t.Fatalf("%s(%q) = %v, want a typed client error", op, body, err)
			}
		}
	})
}
