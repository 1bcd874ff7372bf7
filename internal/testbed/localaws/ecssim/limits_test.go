package ecssim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// TestTaskDefinitionSizeLimit: ECS refuses a definition over 64 KiB of JSON
// with its own words.
func TestTaskDefinitionSizeLimit(t *testing.T) {
	e, err := ecssim.New(ecssim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	env := make([]string, 0, 1500)
	for i := range 1500 {
		env = append(env, fmt.Sprintf(`{"name":"V%04d","value":"%s"}`, i, strings.Repeat("x", 30)))
	}
	body := `{"family":"big","containerDefinitions":[{"name":"a","image":"nginx","memory":128,"environment":[` + strings.Join(env, ",") + `]}]}`
	_, err = e.Service().Ops["RegisterTaskDefinition"](context.Background(), []byte(body))
	var we *wire.Error
	want := fmt.Sprintf("Actual length: '%d'. Max allowed length is '65536' bytes.", len(body))
	if !errors.As(err, &we) || we.Code != "ClientException" || we.Message != want {
		t.Errorf("register %d bytes: %v; want ClientException %q", len(body), err, want)
	}
}
