package deploy_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	pullpolicy "github.com/pullheal/pullheal/policy"
)

// cfnIntrinsics are the short-form tags CloudFormation's YAML accepts, with
// their long forms.
var cfnIntrinsics = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap",
	"!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!If": "Fn::If", "!Not": "Fn::Not", "!Equals": "Fn::Equals",
	"!And": "Fn::And", "!Or": "Fn::Or", "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
}

var cfnPseudo = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// cfnValue turns a YAML node into the template's JSON form: maps, lists and
// scalars, with every short-form intrinsic (!Ref X) in its long form
// ({"Ref": "X"}).
func cfnValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one YAML document", n.Line)
		}
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not CloudFormation", n.Line)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		long, ok := cfnIntrinsics[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		var arg any
		switch {
		case n.Kind == yaml.ScalarNode && long == "Fn::GetAtt":
			res, attr, ok := strings.Cut(n.Value, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %s: want RESOURCE.ATTRIBUTE", n.Line, n.Value)
			}
			arg = []any{res, attr}
		case n.Kind == yaml.ScalarNode:
			arg = n.Value
		default:
			plain := *n
			plain.Tag = ""
			v, err := cfnValue(&plain)
			if err != nil {
				return nil, err
			}
			arg = v
		}
		return map[string]any{long: arg}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q repeated", k.Line, k.Value)
			}
			v, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return v, nil
	}
}

type cfnTemplate map[string]any

func loadCFN(t *testing.T) cfnTemplate {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, cfnPath), &doc); err != nil {
		t.Fatalf("%s: %v", cfnPath, err)
	}
	v, err := cfnValue(&doc)
	if err != nil {
		t.Fatalf("%s: %v", cfnPath, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is not a mapping", cfnPath)
	}
	return m
}

func (c cfnTemplate) section(name string) map[string]any {
	m, _ := c[name].(map[string]any)
	return m
}

// lookup follows a path of keys and list indices separated by '/'.
func lookup(v any, path string) (any, bool) {
	for _, seg := range strings.Split(path, "/") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// asJSON makes YAML's ints and JSON's float64s compare equal.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// checkRefs reports every Ref, GetAtt, Sub variable and condition that names
// nothing the template declares, and every use of a conditional resource
// outside that condition.
func (c cfnTemplate) checkRefs() []string {
	params, resources, conditions := c.section("Parameters"), c.section("Resources"), c.section("Conditions")
	condOf := func(res string) string {
		r, _ := resources[res].(map[string]any)
		s, _ := r["Condition"].(string)
		return s
	}
	var problems []string
	report := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	logic, err := newCondLogic(conditions)
	if err != nil {
		return []string{"Conditions: " + err.Error()}
	}
	useResource := func(where, res string, path []condLit) {
		if _, ok := resources[res]; !ok {
			report(where, "no resource %s", res)
			return
		}
		if rc := condOf(res); rc != "" && !logic.implies(path, rc) {
			report(where, "uses %s outside its condition %s", res, rc)
		}
	}
	useName := func(where, name string, path []condLit, local map[string]any) {
		if _, ok := local[name]; ok {
			return
		}
		if _, ok := params[name]; ok || slices.Contains(cfnPseudo, name) {
			return
		}
		useResource(where, name, path)
	}
	with := func(path []condLit, l condLit) []condLit {
		return append(slices.Clip(path), l)
	}
	var walk func(v any, where string, path []condLit)
	walk = func(v any, where string, path []condLit) {
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", where, i), path)
			}
		case map[string]any:
			if len(x) == 1 {
				for k, arg := range x {
					switch k {
					case "Ref":
						name, _ := arg.(string)
						useName(where, name, path, nil)
						return
					case "Fn::GetAtt":
						l, _ := arg.([]any)
						if len(l) != 2 {
							report(where, "Fn::GetAtt wants [RESOURCE, ATTRIBUTE]")
							return
						}
						res, _ := l[0].(string)
						useResource(where, res, path)
						return
					case "Fn::Sub":
						text, local := "", map[string]any{}
						switch a := arg.(type) {
						case string:
							text = a
						case []any:
							if len(a) == 2 {
								text, _ = a[0].(string)
								local, _ = a[1].(map[string]any)
								walk(a[1], where, path)
							}
						}
						for _, m := range subVar.FindAllStringSubmatch(text, -1) {
							name := m[1]
							if res, _, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
								useResource(where, res, path)
								continue
							}
							useName(where, name, path, local)
						}
						return
					case "Fn::If":
						l, _ := arg.([]any)
						if len(l) != 3 {
							report(where, "Fn::If wants [CONDITION, THEN, ELSE]")
							return
						}
						name, _ := l[0].(string)
						if _, ok := conditions[name]; !ok {
							report(where, "no condition %s", name)
							return
						}
						walk(l[1], where+"/then", with(path, condLit{name, false}))
						walk(l[2], where+"/else", with(path, condLit{name, true}))
						return
					case "Condition":
						if name, ok := arg.(string); ok {
							if _, ok := conditions[name]; !ok {
								report(where, "no condition %s", name)
							}
							return
						}
					}
				}
			}
			for _, k := range sortedKeys(x) {
				walk(x[k], where+"/"+k, path)
			}
		}
	}
	for _, name := range sortedKeys(resources) {
		r, ok := resources[name].(map[string]any)
		if !ok {
			report("Resources/"+name, "not a mapping")
			continue
		}
		var path []condLit
		if rc := condOf(name); rc != "" {
			if _, ok := conditions[rc]; !ok {
				report("Resources/"+name, "no condition %s", rc)
				continue
			}
			path = []condLit{{rc, false}}
		}
		walk(r["Properties"], "Resources/"+name+"/Properties", path)
	}
	outputs := c.section("Outputs")
	for _, name := range sortedKeys(outputs) {
		cond, _ := lookup(outputs[name], "Condition")
		var path []condLit
		if cs, _ := cond.(string); cs != "" {
			if _, ok := conditions[cs]; !ok {
				report("Outputs/"+name, "no condition %s", cs)
				continue
			}
			path = []condLit{{cs, false}}
		}
		walk(outputs[name], "Outputs/"+name, path)
	}
	walk(c["Conditions"], "Conditions", nil)
	return problems
}

// condLit is a condition, or its negation, that holds on a path through
// the template (a resource's Condition, the branches of Fn::If taken).
type condLit struct {
	name string
	neg  bool
}

// condLogic decides whether the conditions on a path imply another. Every
// distinct Fn::Equals of the template is an independent boolean; all their
// assignments are tried. Treating them as independent can only make a use
// look unsafe, never safe.
type condLogic struct {
	conds map[string]any
	atoms map[string]int // Fn::Equals, by its JSON, to a bit
}

func newCondLogic(conds map[string]any) (*condLogic, error) {
	l := &condLogic{conds: conds, atoms: map[string]int{}}
	var collect func(v any) error
	collect = func(v any) error {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return fmt.Errorf("condition %v is not a single intrinsic", v)
		}
		for k, arg := range m {
			switch k {
			case "Fn::Equals":
				b, err := json.Marshal(arg)
				if err != nil {
					return err
				}
				if _, ok := l.atoms[string(b)]; !ok {
					l.atoms[string(b)] = len(l.atoms)
				}
			case "Fn::And", "Fn::Or", "Fn::Not":
				list, _ := arg.([]any)
				for _, e := range list {
					if err := collect(e); err != nil {
						return err
					}
				}
			case "Condition":
				if _, ok := conds[fmt.Sprint(arg)]; !ok {
					return fmt.Errorf("no condition %v", arg)
				}
			default:
				return fmt.Errorf("%s in a condition", k)
			}
		}
		return nil
	}
	for _, name := range sortedKeys(conds) {
		if err := collect(conds[name]); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(l.atoms) > 20 {
		return nil, fmt.Errorf("%d distinct Fn::Equals: too many to enumerate", len(l.atoms))
	}
	return l, nil
}

func (l *condLogic) eval(v any, bits uint32) bool {
	m := v.(map[string]any)
	for k, arg := range m {
		switch k {
		case "Fn::Equals":
			b, _ := json.Marshal(arg)
			return bits&(1<<l.atoms[string(b)]) != 0
		case "Fn::Not":
			return !l.eval(arg.([]any)[0], bits)
		case "Fn::And":
			for _, e := range arg.([]any) {
				if !l.eval(e, bits) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, e := range arg.([]any) {
				if l.eval(e, bits) {
					return true
				}
			}
			return false
		case "Condition":
			return l.eval(l.conds[fmt.Sprint(arg)], bits)
		}
	}
	return false
}

func (l *condLogic) implies(path []condLit, target string) bool {
	for bits := uint32(0); bits < 1<<len(l.atoms); bits++ {
		holds := true
		for _, c := range path {
			if l.eval(l.conds[c.name], bits) == c.neg {
				holds = false
				break
			}
		}
		if holds && !l.eval(l.conds[target], bits) {
			return false
		}
	}
	return true
}

func TestCloudFormationReferences(t *testing.T) {
	for _, p := range loadCFN(t).checkRefs() {
		t.Error(p)
	}
}

// TestCloudFormationExpectations holds the template to
// testdata/cloudformation.expect.json: each entry a path and the value it
// must have (intrinsics in long form), or absent.
func TestCloudFormationExpectations(t *testing.T) {
	tmpl := loadCFN(t)
	var expects []struct {
		Path   string `json:"path"`
		Want   any    `json:"want"`
		Absent bool   `json:"absent"`
	}
	readJSON(t, "testdata/cloudformation.expect.json", &expects)
	for _, e := range expects {
		got, ok := lookup(map[string]any(tmpl), e.Path)
		switch {
		case e.Absent && ok:
			t.Errorf("%s: set to %v, want it absent", e.Path, got)
		case e.Absent:
		case !ok:
			t.Errorf("%s: missing", e.Path)
		default:
			if diff := cmp.Diff(e.Want, asJSON(t, got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", e.Path, diff)
			}
		}
	}
}

func TestCloudFormationEventPattern(t *testing.T) {
	tmpl := loadCFN(t)
	var rules []string
	for name, r := range tmpl.section("Resources") {
		if typ, _ := lookup(r, "Type"); typ == "AWS::Events::Rule" {
			rules = append(rules, name)
		}
	}
	// The agent's rule, and the one that watches the scheduled sync
	// (TestSyncStoppedRule).
	slices.Sort(rules)
	if want := []string{"StoppedTaskRule", "SyncStoppedRule"}; !slices.Equal(rules, want) {
		t.Fatalf("want the rules %v, have %v", want, rules)
	}
	p, ok := lookup(map[string]any(tmpl), "Resources/StoppedTaskRule/Properties/EventPattern")
	if !ok {
		t.Fatal("StoppedTaskRule has no EventPattern")
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	checkEventPattern(t, cfnPath+": StoppedTaskRule", b)
}

// Names in the template's !Sub strings and the placeholders of
// iam/agent-policy.json they stand for; every other name is the same in both.
var cfnPolicyNames = map[string]string{
	"AWS::Partition":  "Partition",
	"AWS::Region":     "Region",
	"AWS::AccountId":  "AccountId",
	"Queue.QueueName": "QueueName",
	"LeaseTable":      "LeaseTableName",
}

var errNoValue = fmt.Errorf("AWS::NoValue")

// cfnExpansionConditions name the conditions under which the template adds
// a resource for one more element of a list parameter
// (ExtraPullThroughPrefixes). The policy file has one placeholder where the
// stack may have several ARNs, so the comparison takes their ELSE branch:
// the stack with the list empty.
var cfnExpansionConditions = regexp.MustCompile(`^HasExtraPullThroughPrefix[0-9]+$`)

// terraformOnlyStatements are the statements of the policy files that only
// the Terraform module uses: the stack stores the policy as a String
// parameter (CloudFormation cannot create a SecureString, nor an S3 object).
var terraformOnlyStatements = []string{"ReadPolicyObject", "DecryptPolicy"}

// asPlaceholders renders a policy written with intrinsics in the
// placeholder form of iam/agent-policy.json. Fn::If takes its THEN branch:
// the comparison is with the stack that has every optional part.
func asPlaceholders(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, e := range x {
			r, err := asPlaceholders(e)
			if err == errNoValue {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					if arg == "AWS::NoValue" {
						return nil, errNoValue
					}
					return "${" + policyName(arg.(string)) + "}", nil
				case "Fn::GetAtt":
					l := arg.([]any)
					return "${" + policyName(fmt.Sprint(l[0], ".", l[1])) + "}", nil
				case "Fn::Sub":
					text, ok := arg.(string)
					if !ok {
						return nil, fmt.Errorf("Fn::Sub with a variable map is not used in the policy")
					}
					return subVar.ReplaceAllStringFunc(text, func(m string) string {
						return "${" + policyName(m[2:len(m)-1]) + "}"
					}), nil
				case "Fn::If":
					branches := arg.([]any)
					if cond, _ := branches[0].(string); cfnExpansionConditions.MatchString(cond) {
						return asPlaceholders(branches[2])
					}
					return asPlaceholders(branches[1])
				}
				if strings.HasPrefix(k, "Fn::") {
					return nil, fmt.Errorf("%s is not used in the policy", k)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := asPlaceholders(e)
			if err == errNoValue {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func policyName(name string) string {
	if p, ok := cfnPolicyNames[name]; ok {
		return p
	}
	return name
}

func TestCloudFormationRolePoliciesAreThePolicyFiles(t *testing.T) {
	tmpl := loadCFN(t)
	tests := []struct {
		taskDef, file string
	}{
		{"TaskDefinition", policyPath},
		{"SyncTaskDefinition", syncPolicyPath},
	}
	for _, tt := range tests {
		t.Run(tt.taskDef, func(t *testing.T) {
			taskRole, ok := lookup(map[string]any(tmpl), "Resources/"+tt.taskDef+"/Properties/TaskRoleArn")
			if !ok {
				t.Fatalf("%s has no TaskRoleArn", tt.taskDef)
			}
			role := asJSON(t, taskRole).(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			policies, ok := lookup(map[string]any(tmpl), "Resources/"+role+"/Properties/Policies")
			if !ok {
				t.Fatalf("role %s has no inline Policies", role)
			}
			list, _ := policies.([]any)
			if len(list) != 1 {
				t.Fatalf("role %s has %d inline policies, want 1", role, len(list))
			}
			doc, _ := lookup(list[0], "PolicyDocument")
			rendered, err := asPlaceholders(doc)
			if err != nil {
				t.Fatalf("role %s: %v", role, err)
			}
			b, err := json.Marshal(rendered)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePolicy(b)
			if err != nil {
				t.Fatalf("role %s policy: %v", role, err)
			}
			want := loadPolicyFile(t, tt.file)
			want.Statement = slices.DeleteFunc(want.Statement, func(s statement) bool {
				return slices.Contains(terraformOnlyStatements, s.Sid)
			})
			if diff := cmp.Diff(want.canonical(), got.canonical()); diff != "" {
				t.Errorf("role %s differs from %s (-file +template):\n%s", role, tt.file, diff)
			}
		})
	}
}

// cfnContainer reads the agent container of the template's task definition.
func cfnContainer(t *testing.T, tmpl cfnTemplate) (agentContainer, map[string]any) {
	t.Helper()
	defs, _ := lookup(map[string]any(tmpl), "Resources/TaskDefinition/Properties/ContainerDefinitions")
	list, _ := defs.([]any)
	for _, d := range list {
		if name, _ := lookup(d, "Name"); name != containerName {
			continue
		}
		c := agentContainer{Env: map[string]string{}}
		if v, ok := lookup(d, "StopTimeout"); ok {
			n, ok := v.(int)
			if !ok {
				t.Fatalf("StopTimeout %v is not a number", v)
			}
			c.StopTimeout = n
		}
		if hc, ok := lookup(d, "HealthCheck/Command"); ok {
			list, _ := hc.([]any)
			for _, w := range list {
				c.HealthCheck = append(c.HealthCheck, fmt.Sprint(w))
			}
		}
		env, _ := lookup(d, "Environment")
		envList, _ := env.([]any)
		for i, e := range envList {
			// A conditional variable (!If [COND, VAR, AWS::NoValue]) is
			// checked as it is when its condition holds.
			if branches, ok := lookup(e, "Fn::If"); ok {
				if b, ok := branches.([]any); ok && len(b) == 3 {
					e = b[1]
				}
			}
			name, _ := lookup(e, "Name")
			value, _ := lookup(e, "Value")
			s, ok := name.(string)
			if !ok {
				t.Fatalf("Environment/%d has no Name", i)
			}
			rv, err := asPlaceholders(value)
			if err != nil {
				t.Fatalf("Environment %s: %v", s, err)
			}
			c.Env[s] = fmt.Sprint(rv)
		}
		return c, d.(map[string]any)
	}
	t.Fatalf("the task definition has no container %q", containerName)
	return agentContainer{}, nil
}

func TestCloudFormationAgentContainer(t *testing.T) {
	c, _ := cfnContainer(t, loadCFN(t))
	checkAgentContainer(t, cfnPath, c)
}

// TestCloudFormationInterface checks what the console shows: every
// parameter in exactly one parameter group, and every output exported
// under the stack's name.
func TestCloudFormationInterface(t *testing.T) {
	tmpl := loadCFN(t)
	groups, ok := lookup(map[string]any(tmpl), "Metadata/AWS::CloudFormation::Interface/ParameterGroups")
	if !ok {
		t.Fatal("no AWS::CloudFormation::Interface parameter groups")
	}
	seen := map[string]int{}
	list, _ := groups.([]any)
	for i, g := range list {
		params, _ := lookup(g, "Parameters")
		names, _ := params.([]any)
		if len(names) == 0 {
			t.Errorf("parameter group %d is empty", i)
		}
		for _, n := range names {
			seen[fmt.Sprint(n)]++
		}
	}
	params := tmpl.section("Parameters")
	for _, name := range sortedKeys(params) {
		if seen[name] != 1 {
			t.Errorf("parameter %s is in %d parameter groups, want 1", name, seen[name])
		}
	}
	for name := range seen {
		if _, ok := params[name]; !ok {
			t.Errorf("parameter group names %s, which is not a parameter", name)
		}
	}
	outputs := tmpl.section("Outputs")
	for _, name := range sortedKeys(outputs) {
		export, ok := lookup(outputs[name], "Export/Name")
		want := map[string]any{"Fn::Sub": "${AWS::StackName}-" + name}
		if !ok || !cmp.Equal(asJSON(t, export), any(want)) {
			t.Errorf("output %s is exported as %v, want %v", name, export, want)
		}
	}
}

// TestCloudFormationParametersDocumented keeps the README's table of stack
// parameters complete: a row per parameter, with its default.
func TestCloudFormationParametersDocumented(t *testing.T) {
	params := loadCFN(t).section("Parameters")
	text := string(readFile(t, deployReadme))
	start := strings.Index(text, "## Stack parameters")
	if start < 0 {
		t.Fatalf("%s: no section ## Stack parameters", deployReadme)
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	row := regexp.MustCompile("(?m)^\\| ((?:`[A-Za-z]+`(?:, )?)+) \\|([^|]*)\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		for _, name := range strings.Split(m[1], ", ") {
			documented[strings.Trim(name, "`")] = strings.Trim(strings.TrimSpace(m[2]), "`")
		}
	}
	for _, name := range sortedKeys(params) {
		d, ok := documented[name]
		if !ok {
			t.Errorf("%s: parameter %s has no row in ## Stack parameters", deployReadme, name)
			continue
		}
		def, has := lookup(params[name], "Default")
		want := ""
		if has {
			want = fmt.Sprint(def)
			if want == "" {
				want = `""`
			}
		}
		if d != want {
			t.Errorf("%s: parameter %s documented with default %q, the template has %q", deployReadme, name, d, want)
		}
	}
	for name := range documented {
		if _, ok := params[name]; !ok {
			t.Errorf("%s: ## Stack parameters documents %s, which is not a parameter", deployReadme, name)
		}
	}
}

// TestCloudFormationGeneratedPolicyParses renders the policy the stack
// stores when no Policy is given, for each UpdateMode, and loads it with
// pullheal's policy parser.
func TestCloudFormationGeneratedPolicyParses(t *testing.T) {
	tmpl := loadCFN(t)
	text, ok := lookup(map[string]any(tmpl), "Resources/PolicyParameter/Properties/Value/Fn::If/2/Fn::Sub")
	if !ok {
		t.Fatal("PolicyParameter's value has no generated policy (!If [HasPolicy, Policy, !Sub ...])")
	}
	modes, _ := lookup(map[string]any(tmpl), "Parameters/UpdateMode/AllowedValues")
	prefix, _ := lookup(map[string]any(tmpl), "Parameters/MirrorPrefix/Default")
	for _, mode := range modes.([]any) {
		doc, err := render(fmt.Sprint(text), map[string]string{"MirrorPrefix": fmt.Sprint(prefix), "UpdateMode": fmt.Sprint(mode)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := pullpolicy.Parse("generated", []byte(doc))
		if err != nil {
			t.Fatalf("UpdateMode=%v: %v", mode, err)
		}
		if string(p.Heal.ServiceUpdate) != fmt.Sprint(mode) || p.Mirror.Prefix != fmt.Sprint(prefix) || len(p.Images) != 0 {
			t.Errorf("UpdateMode=%v: generated policy has serviceUpdate %q, mirror prefix %q, %d images rules; want %v, %v, none",
				mode, p.Heal.ServiceUpdate, p.Mirror.Prefix, len(p.Images), mode, prefix)
		}
	}
}
