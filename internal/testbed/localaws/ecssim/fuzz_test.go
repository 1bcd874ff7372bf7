package ecssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
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
	f.Add([]byte(`null`)) // once a nil-map write in normalizeTaskDef
	f.Add([]byte(`""`))
	f.Add([]byte(`7`))
	f.Add([]byte(`{"family":"a","memory":"512","containerDefinitions":[null]}`))
	f.Add([]byte(`{"family":"a","memory":"512","containerDefinitions":[{"name":"x","image":"y","portMappings":[null]}]}`))
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

// FuzzOperations sends arbitrary bodies to every operation of a stand-in
// that already holds a cluster, a service and tasks: no input may panic,
// and every error must be a typed AWS error.
func FuzzOperations(f *testing.F) {
	seeds := map[string]string{
		"DescribeTaskDefinition":   `{"taskDefinition":"web","include":["TAGS"]}`,
		"DeregisterTaskDefinition": `{"taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"}`,
		"ListTaskDefinitions":      `{"familyPrefix":"web","sort":"DESC","maxResults":1,"nextToken":"eyJvIjoxfQ"}`,
		"TagResource":              `{"resourceArn":"arn:aws:ecs:us-east-1:123456789012:service/prod/web","tags":[{"key":"a","value":"b"}]}`,
		"UntagResource":            `{"resourceArn":"arn:aws:ecs:us-east-1:123456789012:task/prod/x","tagKeys":["a"]}`,
		"ListTagsForResource":      `{"resourceArn":"arn:aws:ecs:us-east-1:123456789012:cluster/prod"}`,
		"CreateCluster":            `{"clusterName":"c","settings":[{"name":"containerInsights","value":"enabled"}]}`,
		"DescribeClusters":         `{"clusters":["prod","nope"],"include":["TAGS"]}`,
		"CreateService":            `{"cluster":"prod","serviceName":"s","taskDefinition":"web","desiredCount":1,"networkConfiguration":{"awsvpcConfiguration":{"subnets":["s"]}}}`,
		"UpdateService":            `{"cluster":"prod","service":"web","desiredCount":3,"forceNewDeployment":true}`,
		"DeleteService":            `{"cluster":"prod","service":"web","force":true}`,
		"DescribeServices":         `{"cluster":"prod","services":["web","x"]}`,
		"ListServices":             `{"cluster":"prod","maxResults":1}`,
		"RunTask":                  `{"cluster":"prod","taskDefinition":"web","count":2,"networkConfiguration":{"awsvpcConfiguration":{"subnets":["s"]}},"overrides":{"containerOverrides":[{"name":"web"}]}}`,
		"StopTask":                 `{"cluster":"prod","task":"x","reason":"r"}`,
		"DescribeTasks":            `{"cluster":"prod","tasks":["x"],"include":["TAGS"]}`,
		"ListTasks":                `{"cluster":"prod","serviceName":"web","desiredStatus":"STOPPED"}`,
	}
	for op, body := range seeds {
		f.Add(op, []byte(body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		e, err := ecssim.New(ecssim.Config{Puller: nopPuller{}})
		if err != nil {
			t.Fatal(err)
		}
		ops := e.Service().Ops
		ctx := context.Background()
		for _, setup := range []struct{ op, body string }{
			{"CreateCluster", `{"clusterName":"prod"}`},
			{"RegisterTaskDefinition", `{"family":"web","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512","containerDefinitions":[{"name":"web","image":"nginx:1.27"}]}`},
			{"CreateService", seeds["CreateService"]},
		} {
			if _, err := ops[setup.op](ctx, []byte(setup.body)); err != nil {
				t.Fatalf("setup %s: %v", setup.op, err)
			}
		}
		if err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		fn, ok := ops[op]
		if !ok {
			return
		}
		if _, err := fn(ctx, body); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("%s answered an untyped error: %v", op, err)
			}
		}
		if err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
