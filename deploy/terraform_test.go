package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// tfModule is a Terraform module parsed with HCL's own parser: what the
// terraform binary would read, without its provider schemas.
type tfModule struct {
	dir       string
	bodies    map[string]*hclsyntax.Body // by file name
	resources map[string]*hclsyntax.Block
	data      map[string]*hclsyntax.Block
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
}

func loadModule(dir string) (*tfModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	m := &tfModule{
		dir: dir, bodies: map[string]*hclsyntax.Body{},
		resources: map[string]*hclsyntax.Block{}, data: map[string]*hclsyntax.Block{},
		variables: map[string]*hclsyntax.Block{}, outputs: map[string]*hclsyntax.Block{},
		locals: map[string]*hclsyntax.Attribute{},
	}
	declare := func(kind string, set map[string]*hclsyntax.Block, key string, b *hclsyntax.Block) error {
		if _, dup := set[key]; dup {
			return fmt.Errorf("%s: %s %s declared twice", b.TypeRange, kind, key)
		}
		set[key] = b
		return nil
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, diags
		}
		body := f.Body.(*hclsyntax.Body)
		m.bodies[filepath.Base(path)] = body
		for _, a := range body.Attributes {
			return nil, fmt.Errorf("%s: attribute %s outside any block", a.SrcRange, a.Name)
		}
		for _, b := range body.Blocks {
			var err error
			switch {
			case b.Type == "resource" && len(b.Labels) == 2:
				err = declare("resource", m.resources, b.Labels[0]+"."+b.Labels[1], b)
			case b.Type == "data" && len(b.Labels) == 2:
				err = declare("data source", m.data, b.Labels[0]+"."+b.Labels[1], b)
			case b.Type == "variable" && len(b.Labels) == 1:
				err = declare("variable", m.variables, b.Labels[0], b)
			case b.Type == "output" && len(b.Labels) == 1:
				err = declare("output", m.outputs, b.Labels[0], b)
			case b.Type == "locals" && len(b.Labels) == 0:
				for name, a := range b.Body.Attributes {
					if _, dup := m.locals[name]; dup {
						return nil, fmt.Errorf("%s: local %s declared twice", a.SrcRange, name)
					}
					m.locals[name] = a
				}
			case b.Type == "terraform" || b.Type == "provider" || b.Type == "module":
			default:
				err = fmt.Errorf("%s: unexpected block %s %q", b.TypeRange, b.Type, b.Labels)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if len(m.bodies) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	return m, nil
}

func loadTerraform(t *testing.T) *tfModule {
	t.Helper()
	m, err := loadModule(terraformDir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// eachExpr calls fn for every attribute expression in body, nested blocks
// included, with the address of the top-level block it belongs to.
func eachExpr(body *hclsyntax.Body, owner string, fn func(owner string, a *hclsyntax.Attribute)) {
	for _, a := range body.Attributes {
		fn(owner, a)
	}
	for _, b := range body.Blocks {
		o := owner
		if o == "" {
			o = strings.Join(append([]string{b.Type}, b.Labels...), ".")
		}
		eachExpr(b.Body, o, fn)
	}
}

// tfRoots are the reference roots Terraform defines itself.
var tfRoots = []string{"var", "local", "data", "path", "count", "each", "self", "terraform", "module"}

func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			b.WriteString("[" + s.Key.GoString() + "]")
		default:
			b.WriteString("[*]")
		}
	}
	return b.String()
}

func attrName(tr hcl.Traversal, i int) string {
	if i < len(tr) {
		if a, ok := tr[i].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}

// checkRefs reports references to anything the module does not declare and
// variables that nothing uses.
func (m *tfModule) checkRefs() []string {
	var problems []string
	usedVars := map[string]bool{}
	for _, name := range sortedKeys(m.bodies) {
		eachExpr(m.bodies[name], "", func(owner string, a *hclsyntax.Attribute) {
			if strings.HasPrefix(owner, "variable.") && a.Name == "type" {
				return // a type constraint, not references
			}
			for _, tr := range hclsyntax.Variables(a.Expr) {
				where := fmt.Sprintf("%s: %s", a.SrcRange, traversalString(tr))
				root := tr.RootName()
				switch root {
				case "var":
					v := attrName(tr, 1)
					if m.variables[v] == nil {
						problems = append(problems, where+": no variable "+v)
					}
					if owner != "variable."+v {
						usedVars[v] = true
					}
				case "local":
					if m.locals[attrName(tr, 1)] == nil {
						problems = append(problems, where+": no local "+attrName(tr, 1))
					}
				case "data":
					if m.data[attrName(tr, 1)+"."+attrName(tr, 2)] == nil {
						problems = append(problems, where+": no data source")
					}
				case "path":
					if p := attrName(tr, 1); p != "module" && p != "root" && p != "cwd" {
						problems = append(problems, where+": unknown path attribute")
					}
				case "count":
					if attrName(tr, 1) != "index" {
						problems = append(problems, where+": unknown count attribute")
					}
				default:
					if slices.Contains(tfRoots, root) {
						continue
					}
					if m.resources[root+"."+attrName(tr, 1)] == nil {
						problems = append(problems, where+": no resource "+root+"."+attrName(tr, 1))
					}
				}
			}
		})
	}
	for _, v := range sortedKeys(m.variables) {
		if !usedVars[v] {
			problems = append(problems, fmt.Sprintf("%s: variable %s is declared but never used", m.variables[v].TypeRange, v))
		}
	}
	return problems
}

func TestTerraformReferences(t *testing.T) {
	m := loadTerraform(t)
	for _, p := range m.checkRefs() {
		t.Error(p)
	}
	for _, name := range sortedKeys(m.outputs) {
		v := m.outputs[name].Body.Attributes["value"]
		if v == nil {
			t.Errorf("output %s has no value", name)
			continue
		}
		refs := 0
		for _, tr := range hclsyntax.Variables(v.Expr) {
			if !slices.Contains(tfRoots, tr.RootName()) {
				refs++
			}
		}
		if refs == 0 {
			t.Errorf("output %s refers to no resource", name)
		}
	}
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf"} {
		if m.bodies[f] == nil {
			t.Errorf("%s/%s is missing", terraformDir, f)
		}
	}
}

// tfEval evaluates expressions of a module symbolically: a reference to a
// resource, a data source or a variable evaluates to the string
// "${<reference>}", unless a variable is given a value. Locals evaluate to
// their values, functions run as Terraform's, and templatefile renders its
// file as Terraform does, recording the variables it was called with.
type tfEval struct {
	m         *tfModule
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	active    map[string]bool
	templates []map[string]cty.Value
}

func newEval(m *tfModule, vars map[string]cty.Value) *tfEval {
	return &tfEval{m: m, vars: vars, locals: map[string]cty.Value{}, active: map[string]bool{}}
}

// tree collects the references of an expression into nested objects.
type tree map[string]any // string leaves or subtrees

func (tr tree) add(steps []string, leaf string) {
	if len(steps) == 1 {
		if _, ok := tr[steps[0]].(tree); !ok {
			tr[steps[0]] = leaf
		}
		return
	}
	sub, ok := tr[steps[0]].(tree)
	if !ok {
		sub = tree{}
		tr[steps[0]] = sub
	}
	sub.add(steps[1:], leaf)
}

func (tr tree) value() cty.Value {
	attrs := map[string]cty.Value{}
	for k, v := range tr {
		switch x := v.(type) {
		case tree:
			attrs[k] = x.value()
		case string:
			attrs[k] = cty.StringVal(x)
		}
	}
	return cty.ObjectVal(attrs)
}

func (e *tfEval) eval(expr hclsyntax.Expression) (cty.Value, error) {
	refs := tree{}
	vars := map[string]cty.Value{}
	locals := map[string]cty.Value{}
	for _, tr := range hclsyntax.Variables(expr) {
		var steps []string
		for _, s := range tr {
			switch s := s.(type) {
			case hcl.TraverseRoot:
				steps = append(steps, s.Name)
			case hcl.TraverseAttr:
				steps = append(steps, s.Name)
			default:
				return cty.NilVal, fmt.Errorf("%s: index and splat references are not evaluated here", tr.SourceRange())
			}
		}
		switch steps[0] {
		case "var":
			if v, ok := e.vars[steps[1]]; ok {
				vars[steps[1]] = v
			} else {
				vars[steps[1]] = cty.StringVal("${var." + steps[1] + "}")
			}
		case "local":
			v, err := e.local(steps[1])
			if err != nil {
				return cty.NilVal, err
			}
			locals[steps[1]] = v
		case "path":
			refs.add(steps, e.m.dir)
		default:
			refs.add(steps, "${"+strings.Join(steps, ".")+"}")
		}
	}
	variables := map[string]cty.Value{}
	for k, v := range refs {
		if sub, ok := v.(tree); ok {
			variables[k] = sub.value()
		}
	}
	if len(vars) > 0 {
		variables["var"] = cty.ObjectVal(vars)
	}
	if len(locals) > 0 {
		variables["local"] = cty.ObjectVal(locals)
	}
	ctx := &hcl.EvalContext{Variables: variables, Functions: map[string]function.Function{
		"jsonencode":   stdlib.JSONEncodeFunc,
		"jsondecode":   stdlib.JSONDecodeFunc,
		"merge":        stdlib.MergeFunc,
		"distinct":     stdlib.DistinctFunc,
		"flatten":      stdlib.FlattenFunc,
		"concat":       stdlib.ConcatFunc,
		"templatefile": e.templateFile(),
	}}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return v, nil
}

func (e *tfEval) local(name string) (cty.Value, error) {
	if v, ok := e.locals[name]; ok {
		return v, nil
	}
	a := e.m.locals[name]
	if a == nil {
		return cty.NilVal, fmt.Errorf("no local %s", name)
	}
	if e.active[name] {
		return cty.NilVal, fmt.Errorf("%s: local %s refers to itself", a.SrcRange, name)
	}
	e.active[name] = true
	defer delete(e.active, name)
	v, err := e.eval(a.Expr)
	if err != nil {
		return cty.NilVal, err
	}
	e.locals[name] = v
	return v, nil
}

// templateFile is Terraform's templatefile: the file is an HCL template
// evaluated with the given variables only; a name it uses that is not
// among them is an error.
func (e *tfEval) templateFile() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			src, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, err
			}
			tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, diags
			}
			if !args[1].Type().IsObjectType() && !args[1].Type().IsMapType() {
				return cty.NilVal, fmt.Errorf("templatefile vars must be an object")
			}
			vars := args[1].AsValueMap()
			for _, tr := range tmpl.Variables() {
				if _, ok := vars[tr.RootName()]; !ok {
					return cty.NilVal, fmt.Errorf("%s: vars map does not contain key %q", tr.SourceRange(), tr.RootName())
				}
			}
			v, diags := tmpl.Value(&hcl.EvalContext{Variables: vars})
			if diags.HasErrors() {
				return cty.NilVal, diags
			}
			e.templates = append(e.templates, vars)
			return v, nil
		},
	})
}

// attrExpr finds an attribute by address: resource TYPE.NAME[.BLOCK...].ATTR,
// data.TYPE.NAME..., variable.NAME.ATTR, output.NAME.ATTR or local.NAME.
func (m *tfModule) attrExpr(addr string) (hclsyntax.Expression, bool, error) {
	parts := strings.Split(addr, ".")
	var block *hclsyntax.Block
	var rest []string
	switch {
	case parts[0] == "local" && len(parts) == 2:
		a := m.locals[parts[1]]
		if a == nil {
			return nil, false, fmt.Errorf("no local %s", parts[1])
		}
		return a.Expr, true, nil
	case parts[0] == "variable" && len(parts) >= 3:
		block, rest = m.variables[parts[1]], parts[2:]
	case parts[0] == "output" && len(parts) >= 3:
		block, rest = m.outputs[parts[1]], parts[2:]
	case parts[0] == "data" && len(parts) >= 4:
		block, rest = m.data[parts[1]+"."+parts[2]], parts[3:]
	case len(parts) >= 3:
		block, rest = m.resources[parts[0]+"."+parts[1]], parts[2:]
	}
	if block == nil {
		return nil, false, fmt.Errorf("%s: no such block", addr)
	}
	body := block.Body
	for _, name := range rest[:len(rest)-1] {
		var next *hclsyntax.Body
		for _, b := range body.Blocks {
			if b.Type == name {
				if next != nil {
					return nil, false, fmt.Errorf("%s: more than one %s block", addr, name)
				}
				next = b.Body
			}
		}
		if next == nil {
			return nil, false, fmt.Errorf("%s: no %s block", addr, name)
		}
		body = next
	}
	a := body.Attributes[rest[len(rest)-1]]
	if a == nil {
		return nil, false, nil
	}
	return a.Expr, true, nil
}

// goValue turns a cty value into what encoding/json would decode.
func goValue(v cty.Value) (any, error) {
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func (e *tfEval) attr(t *testing.T, addr string) (any, bool) {
	t.Helper()
	expr, ok, err := e.m.attrExpr(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil, false
	}
	v, err := e.eval(expr)
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	g, err := goValue(v)
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return g, true
}

// jsonAttr evaluates an attribute that holds a JSON document
// (jsonencode(...)) and decodes the document.
func (e *tfEval) jsonAttr(t *testing.T, addr string) any {
	t.Helper()
	v, ok := e.attr(t, addr)
	if !ok {
		t.Fatalf("%s is not set", addr)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is not a JSON string: %v", addr, v)
	}
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return out
}

type tfExpectations struct {
	Attributes []struct {
		Attr   string `json:"attr"`
		JSON   bool   `json:"json"`
		Want   any    `json:"want"`
		Absent bool   `json:"absent"`
	} `json:"attributes"`
	PolicyVars map[string]string `json:"policyVars"`
}

func TestTerraformExpectations(t *testing.T) {
	e := newEval(loadTerraform(t), nil)
	var want tfExpectations
	readJSON(t, "testdata/terraform.expect.json", &want)
	for _, x := range want.Attributes {
		var got any
		var ok bool
		if x.JSON {
			got, ok = e.jsonAttr(t, x.Attr), true
		} else {
			got, ok = e.attr(t, x.Attr)
		}
		switch {
		case x.Absent && ok:
			t.Errorf("%s: set to %v, want it absent", x.Attr, got)
		case x.Absent:
		case !ok:
			t.Errorf("%s: missing", x.Attr)
		default:
			if diff := cmp.Diff(x.Want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", x.Attr, diff)
			}
		}
	}
}

func TestTerraformEventPattern(t *testing.T) {
	m := loadTerraform(t)
	var rules []string
	for addr := range m.resources {
		if strings.HasPrefix(addr, "aws_cloudwatch_event_rule.") {
			rules = append(rules, addr)
		}
	}
	if len(rules) != 1 {
		t.Fatalf("want one aws_cloudwatch_event_rule, have %v", rules)
	}
	b, err := json.Marshal(newEval(m, nil).jsonAttr(t, rules[0]+".event_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	checkEventPattern(t, terraformDir+": "+rules[0], b)
}

// TestTerraformTaskRolePolicyIsAgentPolicy checks that the module renders
// iam/agent-policy.json itself, fills every placeholder with the expected
// value, and passes the result through unchanged.
func TestTerraformTaskRolePolicyIsAgentPolicy(t *testing.T) {
	m := loadTerraform(t)
	var want tfExpectations
	readJSON(t, "testdata/terraform.expect.json", &want)
	raw := string(readFile(t, policyPath))

	e := newEval(m, nil)
	doc := e.jsonAttr(t, "aws_iam_role_policy.task.policy")
	if len(e.templates) != 1 {
		t.Fatalf("the task role policy renders %d templates, want iam/agent-policy.json once", len(e.templates))
	}
	vars := map[string]string{}
	for k, v := range e.templates[0] {
		if !v.Type().Equals(cty.String) {
			t.Fatalf("templatefile variable %s is %s, want a string", k, v.Type().FriendlyName())
		}
		vars[k] = v.AsString()
	}
	if diff := cmp.Diff(want.PolicyVars, vars); diff != "" {
		t.Errorf("templatefile variables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(placeholders(raw), sortedKeys(vars)); diff != "" {
		t.Errorf("templatefile variables vs the placeholders of %s (-placeholders +vars):\n%s", policyPath, diff)
	}
	rendered, err := render(raw, vars)
	if err != nil {
		t.Fatal(err)
	}
	wantPolicy, err := decodePolicy([]byte(rendered))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePolicy(b)
	if err != nil {
		t.Fatalf("aws_iam_role_policy.task.policy: %v", err)
	}
	if diff := cmp.Diff(wantPolicy.canonical(), got.canonical()); diff != "" {
		t.Errorf("aws_iam_role_policy.task.policy vs %s rendered (-file +module):\n%s", policyPath, diff)
	}
}

// TestTerraformWithoutDockerHubSecret evaluates the module with
// dockerhub_secret_arn empty: no rule, no template, and a policy that reads
// only the ecr-pullthroughcache/ secrets, with no empty or repeated ARN.
func TestTerraformWithoutDockerHubSecret(t *testing.T) {
	m := loadTerraform(t)
	tests := []struct {
		secret  string
		count   float64
		secrets []string
	}{
		{"", 0, []string{"arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:secret:ecr-pullthroughcache/*"}},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf", 1, []string{
			"arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:secret:ecr-pullthroughcache/*",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf",
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("secret=%q", tt.secret), func(t *testing.T) {
			e := newEval(m, map[string]cty.Value{"dockerhub_secret_arn": cty.StringVal(tt.secret)})
			for _, addr := range []string{"aws_ecr_pull_through_cache_rule.docker_hub.count", "aws_ecr_repository_creation_template.docker_hub.count"} {
				got, ok := e.attr(t, addr)
				if !ok || got != tt.count {
					t.Errorf("%s = %v, want %v", addr, got, tt.count)
				}
			}
			b, err := json.Marshal(e.jsonAttr(t, "aws_iam_role_policy.task.policy"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := decodePolicy(b)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := p.statement("ReadDockerHubCredentials")
			if !ok {
				t.Fatal("no ReadDockerHubCredentials statement")
			}
			got := slices.Clone([]string(s.Resource))
			sort.Strings(got)
			if diff := cmp.Diff(tt.secrets, got); diff != "" {
				t.Errorf("secret resources (-want +got):\n%s", diff)
			}
		})
	}
}

func tfContainer(t *testing.T, m *tfModule) agentContainer {
	t.Helper()
	defs, ok := newEval(m, nil).jsonAttr(t, "aws_ecs_task_definition.agent.container_definitions").([]any)
	if !ok {
		t.Fatal("container_definitions is not a list")
	}
	for _, d := range defs {
		if name, _ := lookup(d, "name"); name != containerName {
			continue
		}
		c := agentContainer{Env: map[string]string{}}
		if v, ok := lookup(d, "stopTimeout"); ok {
			f, _ := v.(float64)
			c.StopTimeout = int(f)
		}
		env, _ := lookup(d, "environment")
		list, _ := env.([]any)
		for _, kv := range list {
			name, _ := lookup(kv, "name")
			value, _ := lookup(kv, "value")
			c.Env[fmt.Sprint(name)] = fmt.Sprint(value)
		}
		return c
	}
	t.Fatalf("container_definitions has no container %q", containerName)
	return agentContainer{}
}

func TestTerraformAgentContainer(t *testing.T) {
	checkAgentContainer(t, terraformDir, tfContainer(t, loadTerraform(t)))
}

// TestTerraformMatchesCloudFormation compares what the two must agree on:
// parameters and variables with their defaults, outputs, and the agent's
// environment and stop timeout.
func TestTerraformMatchesCloudFormation(t *testing.T) {
	m := loadTerraform(t)
	tmpl := loadCFN(t)
	var pairs struct {
		Inputs []struct {
			CFN, TF        string
			DefaultsDiffer bool `json:"defaultsDiffer"`
		} `json:"inputs"`
		Outputs map[string]string `json:"outputs"`
	}
	readJSON(t, "testdata/equivalence.json", &pairs)
	params := tmpl.section("Parameters")
	for _, p := range pairs.Inputs {
		param, ok := params[p.CFN]
		if !ok {
			t.Errorf("no CloudFormation parameter %s", p.CFN)
			continue
		}
		if m.variables[p.TF] == nil {
			t.Errorf("no Terraform variable %s", p.TF)
			continue
		}
		cfnDefault, cfnHas := lookup(param, "Default")
		tfDefault, tfHas := newEval(m, nil).attr(t, "variable."+p.TF+".default")
		if cfnHas != tfHas {
			t.Errorf("%s has a default: %v; %s: %v", p.CFN, cfnHas, p.TF, tfHas)
			continue
		}
		if cfnHas && !p.DefaultsDiffer && fmt.Sprint(cfnDefault) != fmt.Sprint(tfDefault) {
			t.Errorf("default of %s is %v, of %s %v", p.CFN, cfnDefault, p.TF, tfDefault)
		}
	}
	if got := len(pairs.Inputs); got != len(params) {
		t.Errorf("testdata/equivalence.json pairs %d inputs; the template has %d parameters", got, len(params))
	}
	for cfn, tf := range pairs.Outputs {
		if _, ok := tmpl.section("Outputs")[cfn]; !ok {
			t.Errorf("no CloudFormation output %s", cfn)
		}
		if m.outputs[tf] == nil {
			t.Errorf("no Terraform output %s", tf)
		}
	}
	for name := range tmpl.section("Outputs") {
		if _, ok := pairs.Outputs[name]; !ok {
			t.Errorf("CloudFormation output %s has no Terraform twin in testdata/equivalence.json", name)
		}
	}

	cfnLifecycle, ok := lookup(map[string]any(tmpl), "Resources/DockerHubCreationTemplate/Properties/LifecyclePolicy")
	if !ok {
		t.Fatal("the creation template has no LifecyclePolicy")
	}
	var cfnRules any
	if err := json.Unmarshal([]byte(fmt.Sprint(cfnLifecycle)), &cfnRules); err != nil {
		t.Fatalf("CloudFormation LifecyclePolicy: %v", err)
	}
	tfRules := newEval(m, nil).jsonAttr(t, "aws_ecr_repository_creation_template.docker_hub.lifecycle_policy")
	if diff := cmp.Diff(cfnRules, tfRules); diff != "" {
		t.Errorf("lifecycle policy of the creation template (-CloudFormation +Terraform):\n%s", diff)
	}

	cc, _ := cfnContainer(t, tmpl)
	tc := tfContainer(t, m)
	if cc.StopTimeout != tc.StopTimeout {
		t.Errorf("stopTimeout: CloudFormation %d, Terraform %d", cc.StopTimeout, tc.StopTimeout)
	}
	if diff := cmp.Diff(sortedKeys(cc.Env), sortedKeys(tc.Env)); diff != "" {
		t.Errorf("environment names (-CloudFormation +Terraform):\n%s", diff)
	}
	for name, v := range cc.Env {
		if !strings.Contains(v, "${") && tc.Env[name] != v {
			t.Errorf("%s: CloudFormation %q, Terraform %q", name, v, tc.Env[name])
		}
	}
}
