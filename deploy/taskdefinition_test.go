package deploy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// registerInput is the part of a RegisterTaskDefinition input the checks
// read; taskdef.Decode validates the whole document.
type registerInput struct {
	Family                  string   `json:"family"`
	NetworkMode             string   `json:"networkMode"`
	RequiresCompatibilities []string `json:"requiresCompatibilities"`
	ExecutionRoleArn        string   `json:"executionRoleArn"`
	TaskRoleArn             string   `json:"taskRoleArn"`
	ContainerDefinitions    []struct {
		Name        string `json:"name"`
		Image       string `json:"image"`
		StopTimeout int    `json:"stopTimeout"`
		HealthCheck struct {
			Command []string `json:"command"`
		} `json:"healthCheck"`
		Environment []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"environment"`
	} `json:"containerDefinitions"`
}

func TestTaskDefinitionPlaceholdersDocumented(t *testing.T) {
	used := placeholders(string(readFile(t, taskDefPath)))
	documented := documentedPlaceholders(t, deployReadme, "### Placeholders of task-definition.json")
	if diff := cmp.Diff(documented, used); diff != "" {
		t.Errorf("placeholders of %s vs the table in %s (-documented +used):\n%s", taskDefPath, deployReadme, diff)
	}
}

func TestTaskDefinition(t *testing.T) {
	raw := string(readFile(t, taskDefPath))
	rendered, err := render(raw, samplePlaceholders(t))
	if err != nil {
		t.Fatalf("%s: %v", taskDefPath, err)
	}
	for _, doc := range []struct{ name, text string }{{"as written", raw}, {"rendered", rendered}} {
		t.Run(doc.name, func(t *testing.T) {
			d, err := taskdef.Decode([]byte(doc.text))
			if err != nil {
				t.Fatalf("%s: %v", taskDefPath, err)
			}
			var in registerInput
			if err := json.Unmarshal([]byte(doc.text), &in); err != nil {
				t.Fatal(err)
			}
			if d.Family() != in.Family || in.Family == "" {
				t.Errorf("family %q, decoded as %q", in.Family, d.Family())
			}
			if in.NetworkMode != "awsvpc" || !cmp.Equal(in.RequiresCompatibilities, []string{"FARGATE"}) {
				t.Errorf("networkMode %q, requiresCompatibilities %v: want awsvpc on FARGATE", in.NetworkMode, in.RequiresCompatibilities)
			}
			// Fargate pulls pullheal's own image (from ECR) with the
			// execution role; the task role is what the agent calls AWS with.
			if in.ExecutionRoleArn == "" || in.TaskRoleArn == "" || in.ExecutionRoleArn == in.TaskRoleArn {
				t.Errorf("executionRoleArn %q and taskRoleArn %q must both be set, and differ", in.ExecutionRoleArn, in.TaskRoleArn)
			}
			var found bool
			for _, c := range in.ContainerDefinitions {
				if c.Name != containerName {
					continue
				}
				found = true
				ac := agentContainer{Env: map[string]string{}, StopTimeout: c.StopTimeout, HealthCheck: c.HealthCheck.Command}
				for _, e := range c.Environment {
					if _, dup := ac.Env[e.Name]; dup {
						t.Errorf("environment variable %s set twice", e.Name)
					}
					ac.Env[e.Name] = e.Value
				}
				checkAgentContainer(t, taskDefPath, ac)
				if doc.name == "rendered" && !strings.HasPrefix(ac.Env["PULLHEAL_QUEUE_URL"], "https://sqs.") {
					t.Errorf("rendered PULLHEAL_QUEUE_URL %q is not a queue URL", ac.Env["PULLHEAL_QUEUE_URL"])
				}
			}
			if !found {
				t.Errorf("no container %q", containerName)
			}
		})
	}
}

// TestTaskDefinitionMatchesCloudFormation keeps the standalone task
// definition in step with the stack's: the same environment names and
// literal values, and the same stop timeout.
func TestTaskDefinitionMatchesCloudFormation(t *testing.T) {
	var in registerInput
	readJSON(t, taskDefPath, &in)
	cc, _ := cfnContainer(t, loadCFN(t))
	for _, c := range in.ContainerDefinitions {
		if c.Name != containerName {
			continue
		}
		if c.StopTimeout != cc.StopTimeout {
			t.Errorf("stopTimeout: %s %d, CloudFormation %d", taskDefPath, c.StopTimeout, cc.StopTimeout)
		}
		env := map[string]string{}
		for _, e := range c.Environment {
			env[e.Name] = e.Value
		}
		if diff := cmp.Diff(sortedKeys(cc.Env), sortedKeys(env)); diff != "" {
			t.Errorf("environment names (-CloudFormation +%s):\n%s", taskDefPath, diff)
		}
		for name, v := range cc.Env {
			if !strings.Contains(v, "${") && env[name] != v {
				t.Errorf("%s: CloudFormation %q, %s %q", name, v, taskDefPath, env[name])
			}
		}
		return
	}
	t.Fatalf("%s: no container %q", taskDefPath, containerName)
}
