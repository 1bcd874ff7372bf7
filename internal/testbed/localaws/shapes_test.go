package localaws_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// TestEveryOperationRefusesNonObjects sends JSON that is valid but not an
// object, and objects whose members are all null, to every operation of
// every JSON-protocol stand-in. AWS answers such input with a client error;
// none may panic or succeed on a top-level non-object.
func TestEveryOperationRefusesNonObjects(t *testing.T) {
	s := start(t)
	services := []wire.Service{s.ECS.Service(), s.ECR.Service(), s.SQS.Service(), s.Events.Service(),
		s.DynamoDB.Service(), s.Secrets.Service()}
	for _, svc := range services {
		ops := make([]string, 0, len(svc.Ops))
		for name := range svc.Ops {
			ops = append(ops, name)
		}
		sort.Strings(ops)
		for _, name := range ops {
			for _, body := range []string{`null`, `[]`, `""`, `1`, `true`, ` [ {} ]`} {
				out, err := callOp(svc.Ops[name], body)
				var werr *wire.Error
				if !errors.As(err, &werr) || werr.Status/100 != 4 {
					t.Errorf("%s.%s(%s) = %v, %v; want a 4xx AWS error", svc.TargetPrefix, name, body, out, err)
				}
			}
			// Null members must not panic; an error or a result are both fine.
			for _, body := range []string{`{}`, `{"name":null,"tags":null,"Entries":null,"QueueUrl":null,"cluster":null,"taskDefinition":null}`} {
				if _, err := callOp(svc.Ops[name], body); err != nil {
					var werr *wire.Error
					if !errors.As(err, &werr) {
						t.Errorf("%s.%s(%s): untyped error %v", svc.TargetPrefix, name, body, err)
					}
				}
			}
		}
	}
}

func callOp(op wire.Op, body string) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return op(context.Background(), []byte(body))
}
