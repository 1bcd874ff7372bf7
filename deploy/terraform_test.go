package deploy_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	pullpolicy "github.com/pullheal/pullheal/policy"
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
			if r := tr.RootName(); r == "local" || !slices.Contains(tfRoots, r) {
				refs++
			}
		}
		if refs == 0 {
			t.Errorf("output %s refers to no resource or local", name)
		}
	}
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "iam.tf", "policy.tf", "ecr.tf", "sync.tf", "alarms.tf"} {
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
	m      *tfModule
	vars   map[string]cty.Value
	locals map[string]cty.Value
	active map[string]bool
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
		// An index step (a counted resource's [0]) becomes an object
		// attribute "0", which HCL's index operator finds as well.
		var steps []string
		var display strings.Builder
		for _, s := range tr {
			switch s := s.(type) {
			case hcl.TraverseRoot:
				steps = append(steps, s.Name)
				display.WriteString(s.Name)
			case hcl.TraverseAttr:
				steps = append(steps, s.Name)
				display.WriteString("." + s.Name)
			case hcl.TraverseIndex:
				if s.Key.Type() != cty.Number || !s.Key.AsBigFloat().IsInt() {
					return cty.NilVal, fmt.Errorf("%s: only literal integer indexes are evaluated here", tr.SourceRange())
				}
				i, _ := s.Key.AsBigFloat().Int64()
				steps = append(steps, strconv.FormatInt(i, 10))
				fmt.Fprintf(&display, "[%d]", i)
			default:
				return cty.NilVal, fmt.Errorf("%s: splat references are not evaluated here", tr.SourceRange())
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
				// A local this evaluator cannot compute (Terraform-only
				// functions, splats) stays symbolic; terraform validate and
				// terraform test evaluate it for real.
				v = cty.StringVal("${local." + steps[1] + "}")
			}
			locals[steps[1]] = v
		case "path":
			refs.add(steps, e.m.dir)
		default:
			refs.add(steps, "${"+display.String()+"}")
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
		"coalesce":     stdlib.CoalesceFunc,
		"trimspace":    stdlib.TrimSpaceFunc,
		"nonsensitive": identityFunc,
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

// identityFunc stands for Terraform's nonsensitive: values here are never
// marked sensitive.
var identityFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true}},
	Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
})

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

func TestTerraformEventPattern(t *testing.T) {
	m := loadTerraform(t)
	var rules []string
	for addr := range m.resources {
		if strings.HasPrefix(addr, "aws_cloudwatch_event_rule.") {
			rules = append(rules, addr)
		}
	}
	// The agent's rule, and the one that watches the scheduled sync
	// (TestSyncStoppedRule).
	slices.Sort(rules)
	if want := []string{"aws_cloudwatch_event_rule.stopped_tasks", "aws_cloudwatch_event_rule.sync_stopped"}; !slices.Equal(rules, want) {
		t.Fatalf("want the rules %v, have %v", want, rules)
	}
	b, err := json.Marshal(newEval(m, nil).jsonAttr(t, "aws_cloudwatch_event_rule.stopped_tasks.event_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	checkEventPattern(t, terraformDir+": aws_cloudwatch_event_rule.stopped_tasks", b)
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
		if hc, ok := lookup(d, "healthCheck/command"); ok {
			cmd, _ := hc.([]any)
			for _, w := range cmd {
				c.HealthCheck = append(c.HealthCheck, fmt.Sprint(w))
			}
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

// TestTerraformModuleSelfContained keeps the module usable on its own (a
// registry, a vendored copy): no file of it reads a path outside its
// directory.
func TestTerraformModuleSelfContained(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(terraformDir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	outside := regexp.MustCompile(`\.\./|path\.(root|cwd)`)
	for _, f := range files {
		for i, line := range strings.Split(string(readFile(t, f)), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d reaches outside the module: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestTerraformGeneratedPoliciesParse loads, with pullheal's own policy
// parser, every policy the module's tests store or compare with: the
// generated ones (tests/testdata/generated-*.yaml, which terraform test
// asserts byte for byte) and the hand-written ones.
func TestTerraformGeneratedPoliciesParse(t *testing.T) {
	var files []string
	for _, pattern := range []string{"tests/testdata/*.yaml", "examples/*/policy.yaml"} {
		m, err := filepath.Glob(filepath.Join(terraformDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 4 {
		t.Fatalf("found %d policies under %s, want the test fixtures and the examples'", len(files), terraformDir)
	}
	for _, f := range files {
		if _, err := pullpolicy.Parse(f, readFile(t, f)); err != nil {
			t.Errorf("%v", err)
		}
	}
}

var updateReadme = flag.Bool("update-readme", false, "rewrite the input and output tables of terraform/README.md from the module")

const tfReadme = terraformDir + "/README.md"

// exprText is an expression's source, on one line: a multi-line object or
// list type reads as it would be written on one.
func (m *tfModule) exprText(e hclsyntax.Expression) string {
	r := e.Range()
	src, err := os.ReadFile(r.Filename)
	if err != nil {
		return ""
	}
	var out strings.Builder
	lines := strings.Split(string(src[r.Start.Byte:r.End.Byte]), "\n")
	for i, l := range lines {
		l = strings.Join(strings.Fields(l), " ") // alignment spaces of terraform fmt
		if i > 0 {
			prev := lines[i-1]
			prev = strings.TrimSpace(prev)
			switch {
			case strings.HasSuffix(prev, "(") || strings.HasSuffix(prev, "{") || strings.HasSuffix(prev, "["):
				out.WriteString(" ")
			case strings.HasPrefix(l, ")") || strings.HasPrefix(l, "}") || strings.HasPrefix(l, "]"):
				out.WriteString(" ")
			default:
				out.WriteString(", ")
			}
		}
		out.WriteString(l)
	}
	return out.String()
}

// readmeTables renders the module's inputs and outputs as the README shows
// them: every variable with its type, default and description, required
// when it has no default.
func readmeTables(t *testing.T, m *tfModule) (inputs, outputs string) {
	t.Helper()
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	desc := func(b *hclsyntax.Block) string {
		a := b.Body.Attributes["description"]
		if a == nil {
			t.Errorf("%s %s has no description", b.Type, b.Labels[0])
			return ""
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String {
			t.Errorf("%s %s: description is not a string literal", b.Type, b.Labels[0])
			return ""
		}
		return v.AsString()
	}
	var in strings.Builder
	in.WriteString("| name | type | default | required | description |\n|---|---|---|---|---|\n")
	for _, name := range m.variableOrder() {
		b := m.variables[name]
		typ, def, required := "any", "", "yes"
		if a := b.Body.Attributes["type"]; a != nil {
			typ = m.exprText(a.Expr)
		}
		if a := b.Body.Attributes["default"]; a != nil {
			def, required = "`"+cell(m.exprText(a.Expr))+"`", "no"
		}
		fmt.Fprintf(&in, "| `%s` | `%s` | %s | %s | %s |\n", name, cell(typ), def, required, cell(desc(b)))
	}
	var out strings.Builder
	out.WriteString("| name | description |\n|---|---|\n")
	for _, name := range m.outputOrder() {
		fmt.Fprintf(&out, "| `%s` | %s |\n", name, cell(desc(m.outputs[name])))
	}
	return in.String(), out.String()
}

// variableOrder and outputOrder list declarations in file order.
func (m *tfModule) variableOrder() []string { return m.blockOrder(m.variables) }
func (m *tfModule) outputOrder() []string   { return m.blockOrder(m.outputs) }

func (m *tfModule) blockOrder(set map[string]*hclsyntax.Block) []string {
	names := sortedKeys(set)
	slices.SortStableFunc(names, func(a, b string) int {
		ra, rb := set[a].TypeRange, set[b].TypeRange
		if ra.Filename != rb.Filename {
			return strings.Compare(ra.Filename, rb.Filename)
		}
		return ra.Start.Byte - rb.Start.Byte
	})
	return names
}

// replaceBetween swaps the text between two marker lines.
func replaceBetween(doc, begin, end, body string) (string, error) {
	i := strings.Index(doc, begin+"\n")
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %s ... %s markers", begin, end)
	}
	return doc[:i+len(begin)+1] + body + doc[j:], nil
}

// TestTerraformReadmeTables keeps the README's input and output tables the
// module's own: regenerate them with go test ./deploy -run ReadmeTables
// -update-readme.
func TestTerraformReadmeTables(t *testing.T) {
	m := loadTerraform(t)
	inputs, outputs := readmeTables(t, m)
	doc := string(readFile(t, tfReadme))
	want, err := replaceBetween(doc, "<!-- inputs -->", "<!-- /inputs -->", inputs)
	if err == nil {
		want, err = replaceBetween(want, "<!-- outputs -->", "<!-- /outputs -->", outputs)
	}
	if err != nil {
		t.Fatalf("%s: %v", tfReadme, err)
	}
	if *updateReadme {
		if err := os.WriteFile(tfReadme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("%s is out of date with the module (-module +README); run go test ./deploy -run ReadmeTables -update-readme:\n%s", tfReadme, diff)
	}
}

// TestTerraformInputsInDeployReadme keeps deploy/README.md naming every
// input of the module (its table of inputs by purpose).
func TestTerraformInputsInDeployReadme(t *testing.T) {
	m := loadTerraform(t)
	text := string(readFile(t, deployReadme))
	start := strings.Index(text, "## Module inputs")
	if start < 0 {
		t.Fatalf("%s: no section ## Module inputs", deployReadme)
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9_]+)`").FindAllStringSubmatch(text, -1) {
		named[m[1]] = true
	}
	for _, v := range sortedKeys(m.variables) {
		if !named[v] {
			t.Errorf("%s: ## Module inputs does not name %s", deployReadme, v)
		}
		delete(named, v)
	}
	for n := range named {
		t.Errorf("%s: ## Module inputs names %s, which is not an input of the module", deployReadme, n)
	}
}

// TestTerraformSyncMatchesCloudFormation compares the scheduled sync of the
// module and of the stack: the container (name, command, environment, user,
// read-only root, no health check: it is a batch job) and the scheduler
// role's statements.
func TestTerraformSyncMatchesCloudFormation(t *testing.T) {
	m := loadTerraform(t)
	tmpl := loadCFN(t)

	tfDefs, ok := newEval(m, nil).jsonAttr(t, "aws_ecs_task_definition.sync.container_definitions").([]any)
	if !ok || len(tfDefs) != 1 {
		t.Fatalf("the module's sync task definition has %d containers, want 1", len(tfDefs))
	}
	cfnDefs, _ := lookup(map[string]any(tmpl), "Resources/SyncTaskDefinition/Properties/ContainerDefinitions")
	cfnList, _ := cfnDefs.([]any)
	if len(cfnList) != 1 {
		t.Fatalf("the stack's sync task definition has %d containers, want 1", len(cfnList))
	}
	tc, cc := tfDefs[0], cfnList[0]
	for _, f := range []struct{ tf, cfn string }{
		{"name", "Name"}, {"command", "Command"}, {"user", "User"},
		{"readonlyRootFilesystem", "ReadonlyRootFilesystem"}, {"essential", "Essential"},
		{"logConfiguration/options/awslogs-stream-prefix", "LogConfiguration/Options/awslogs-stream-prefix"},
	} {
		tv, _ := lookup(tc, f.tf)
		cv, _ := lookup(cc, f.cfn)
		if diff := cmp.Diff(asJSON(t, cv), asJSON(t, tv)); diff != "" {
			t.Errorf("sync container %s (-CloudFormation +Terraform):\n%s", f.tf, diff)
		}
	}
	if cmd, _ := lookup(tc, "command"); !cmp.Equal(cmd, any([]any{"sync"})) {
		t.Errorf("the sync container runs %v, want [sync]", cmd)
	}
	for _, c := range []struct {
		source string
		v      any
		path   string
	}{{"Terraform", tc, "healthCheck"}, {"CloudFormation", cc, "HealthCheck"}} {
		if _, ok := lookup(c.v, c.path); ok {
			t.Errorf("%s: the sync container has a health check; it is a batch job that exits", c.source)
		}
	}
	envNames := func(v any, name string) []string {
		list, _ := v.([]any)
		var names []string
		for _, e := range list {
			if b, ok := lookup(e, "Fn::If"); ok { // !If [COND, VAR, AWS::NoValue]
				e = b.([]any)[1]
			}
			n, _ := lookup(e, name)
			names = append(names, fmt.Sprint(n))
		}
		slices.Sort(names)
		return names
	}
	tfEnv, _ := lookup(tc, "environment")
	cfnEnv, _ := lookup(cc, "Environment")
	if diff := cmp.Diff(envNames(cfnEnv, "Name"), envNames(tfEnv, "name")); diff != "" {
		t.Errorf("sync container environment names (-CloudFormation +Terraform):\n%s", diff)
	}

	statements := func(v any) map[string]any {
		list, _ := lookup(v, "Statement")
		out := map[string]any{}
		for _, s := range list.([]any) {
			sid, _ := lookup(s, "Sid")
			action, _ := lookup(s, "Action")
			out[fmt.Sprint(sid)] = asJSON(t, action)
		}
		return out
	}
	tfPolicy := newEval(m, nil).jsonAttr(t, "aws_iam_role_policy.scheduler.policy")
	cfnPolicy, ok := lookup(map[string]any(tmpl), "Resources/SchedulerRole/Properties/Policies/0/PolicyDocument")
	if !ok {
		t.Fatal("the stack's SchedulerRole has no inline policy")
	}
	if diff := cmp.Diff(statements(cfnPolicy), statements(tfPolicy)); diff != "" {
		t.Errorf("scheduler role statements and actions (-CloudFormation +Terraform):\n%s", diff)
	}
}
