package ecssim_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pullheal/pullheal/internal/localaws/ecssim"
)

// FuzzRegisterTaskDefinition feeds arbitrary request bodies to
// RegisterTaskDefinition: nothing may panic, and whatever is accepted must
// describe back with every member it was given.
func FuzzRegisterTaskDefinition(f *testing.F) {
	// Small seeds: the fuzzer minimises every new interesting input, and
	// a large one takes it most of a short run.
	f.Add(readFile(f, "taskdef-unknown-fields.json"))
	f.Add([]byte(`{"family":"a","memory":"1 GB","containerDefinitions":[{"name":"x","image":"y","portMappings":[{"containerPort":1}]}]}`))
	f.Add([]byte(`{"family":"a","containerDefinitions":[{"name":"x","image":"y","memory":5,"portMappings":null}]}`))
	f.Add([]byte(`{"family":"a","cpu":3,"memory":"0.5gb","networkMode":"awsvpc","containerDefinitions":[{"name":"x","image":"y"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ecssim.New(ecssim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ops := e.Service().Ops
		out, err := ops["RegisterTaskDefinition"](context.Background(), body)
		if err != nil {
			return
		}
		reg, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("encode register output: %v", err)
		}
		var r struct {
			TaskDefinition struct {
				TaskDefinitionArn string `json:"taskDefinitionArn"`
			} `json:"taskDefinition"`
		}
		if err := json.Unmarshal(reg, &r); err != nil || r.TaskDefinition.TaskDefinitionArn == "" {
			t.Fatalf("register output without an ARN: %s", reg)
		}
		desc, err := ops["DescribeTaskDefinition"](context.Background(), mustJSON(t, map[string]string{"taskDefinition": r.TaskDefinition.TaskDefinitionArn}))
		if err != nil {
			t.Fatalf("describe what was registered: %v", err)
		}
		var sent map[string]json.RawMessage
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("accepted a body that is not an object: %s", body)
		}
		var got struct {
			TaskDefinition map[string]json.RawMessage `json:"taskDefinition"`
		}
		if err := json.Unmarshal(mustJSON(t, desc), &got); err != nil {
			t.Fatal(err)
		}
		for k := range sent {
			switch k {
			case "tags", "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
				"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt":
				continue
			}
			if _, ok := got.TaskDefinition[k]; !ok {
				t.Errorf("member %s was dropped", k)
			}
		}
	})
}
