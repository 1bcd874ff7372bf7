package conformance_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// botocore's service models (under the AWS CLI's botocore/data) are the
// exact shapes of every operation's output. Each test bed response of the
// conformance cases is checked against them: a member the model does not
// have, or a value of the wrong JSON type, is a test bed defect even when
// moto shares it.

type shape struct {
	Type    string                 `json:"type"`
	Members map[string]shapeMember `json:"members"`
	Member  *shapeMember           `json:"member"`
	Value   *shapeMember           `json:"value"`
	Union   bool                   `json:"union"`
}

type shapeMember struct {
	Shape string `json:"shape"`
}

type serviceModel struct {
	Operations map[string]struct {
		Output *shapeMember `json:"output"`
	} `json:"operations"`
	Shapes map[string]shape `json:"shapes"`
}

// modelNames maps the cases' service names to botocore's.
var modelNames = map[string]string{"ecs": "ecs", "ecr": "ecr", "sqs": "sqs", "events": "events",
	"dynamodb": "dynamodb", "secretsmanager": "secretsmanager"}

var (
	modelsOnce sync.Once
	modelsDir  string
	modelsErr  error
	modelMu    sync.Mutex
	models     = map[string]*serviceModel{}
)

// botocoreData finds botocore/data through the Python that has botocore
// (the AWS CLI's).
func botocoreData() (string, error) {
	modelsOnce.Do(func() {
		out, err := exec.Command("python3", "-c", "import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), 'data'))").Output()
		if err != nil {
			modelsErr = fmt.Errorf("find botocore's models (they come with the AWS CLI): %w", err)
			return
		}
		modelsDir = strings.TrimSpace(string(out))
	})
	return modelsDir, modelsErr
}

func loadModel(service string) (*serviceModel, error) {
	modelMu.Lock()
	defer modelMu.Unlock()
	if m, ok := models[service]; ok {
		return m, nil
	}
	dir, err := botocoreData()
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, service, "*", "service-2.json*"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no botocore model for %s under %s", service, dir)
	}
	sort.Strings(files) // the newest API version sorts last
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(f.Name(), ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			return nil, err
		}
	}
	m := &serviceModel{}
	if err := json.NewDecoder(r).Decode(m); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	models[service] = m
	return m, nil
}

// checkShape reports the members of out that the operation's output
// shape does not allow.
func checkShape(service, op string, out any) ([]string, error) {
	name, ok := modelNames[service]
	if !ok {
		return nil, nil // STS answers XML; its three members are compared above
	}
	m, err := loadModel(name)
	if err != nil {
		return nil, err
	}
	o, ok := m.Operations[op]
	if !ok {
		return nil, fmt.Errorf("botocore's %s model has no operation %s", name, op)
	}
	if o.Output == nil {
		if empty(out) {
			return nil, nil
		}
		return []string{fmt.Sprintf("%s has no output, got %s", op, brief(out))}, nil
	}
	var bad []string
	m.check("", o.Output.Shape, out, &bad)
	return bad, nil
}

func (m *serviceModel) check(path, shapeName string, v any, bad *[]string) {
	if v == nil {
		return
	}
	s := m.Shapes[shapeName]
	wrong := func() {
		*bad = append(*bad, fmt.Sprintf("%s: %s where the model has a %s (%s)", orRoot(path), brief(v), s.Type, shapeName))
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			wrong()
			return
		}
		for _, k := range sortedMapKeys(obj) {
			mem, ok := s.Members[k]
			if !ok {
				*bad = append(*bad, fmt.Sprintf("%s: member %s is not in %s", orRoot(path), k, shapeName))
				continue
			}
			m.check(join(path, k), mem.Shape, obj[k], bad)
		}
	case "list":
		l, ok := v.([]any)
		if !ok {
			wrong()
			return
		}
		for i, e := range l {
			m.check(fmt.Sprintf("%s[%d]", path, i), s.Member.Shape, e, bad)
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			wrong()
			return
		}
		for _, k := range sortedMapKeys(obj) {
			m.check(join(path, k), s.Value.Shape, obj[k], bad)
		}
	case "string", "blob":
		if _, ok := v.(string); !ok {
			wrong()
		}
	case "integer", "long", "double", "float", "timestamp":
		// Timestamps travel as epoch seconds in the JSON protocols.
		if _, ok := v.(float64); !ok {
			wrong()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			wrong()
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "(response)"
	}
	return path
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestModelCheck makes sure the shape check can fail: members and types
// the model does not have are reported.
func TestModelCheck(t *testing.T) {
	bad, err := checkShape("ecs", "DescribeTasks", map[string]any{
		"tasks": []any{map[string]any{"taskArn": "arn", "cpu": 256.0, "colour": "red",
			"containers": []any{map[string]any{"memory": "512", "exitCode": 0.0}}}},
		"failures": []any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tasks[0]: member colour is not in Task",
		`tasks[0].cpu: 256 where the model has a string (String)`,
	}
	if strings.Join(bad, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(bad, "\n"), strings.Join(want, "\n"))
	}
}
