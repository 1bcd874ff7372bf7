package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/pullcheck"
	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
)

const (
	policyPath     = "iam/agent-policy.json"
	syncPolicyPath = "iam/sync-policy.json"
	iamReadmePath  = "iam/README.md"
	deployReadme   = "README.md"
	taskDefPath    = "../task-definition.json"
	cfnPath        = "cloudformation/pullheal.yaml"
	terraformDir   = "terraform"
	agentCmdDir    = "../cmd/pullheal"
	containerName  = "pullheal"
	maxStopTimeout = 120 // seconds; ECS's limit for Fargate
)

// agentFlags are the flags of `pullheal agent`; each has the environment
// twin PULLHEAL_<FLAG>. TestAgentFlagsExist keeps the list true to the CLI.
var agentFlags = []string{
	"queue-url", "workers", "wait-time", "visibility", "message-budget", "shutdown-grace",
	"policy", "registry", "pull-through", "discover-rules", "review-bus",
	"lock-table", "lease", "holder", "registry-endpoints", "dockerhub-secret", "dry-run",
	"listen", "log-level",
}

// sdkEnv are the AWS SDK's own environment variables a task definition may
// set (region and endpoints come from the SDK's standard configuration).
var sdkEnv = []string{
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS",
	"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_ECR",
	"AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL_DYNAMODB",
	"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_STS",
}

// apis maps each narrow AWS interface of the agent and of the mirror engine
// it drives to the IAM service prefix of its calls. The SDK names a method
// after its operation, and IAM names the action after the operation.
var apis = []struct {
	name    string
	iface   reflect.Type
	service string
}{
	{"agent.SQSAPI", reflect.TypeFor[agent.SQSAPI](), "sqs"},
	{"agent.ECSAPI", reflect.TypeFor[agent.ECSAPI](), "ecs"},
	{"agent.ECRAPI", reflect.TypeFor[agent.ECRAPI](), "ecr"},
	{"agent.EventsAPI", reflect.TypeFor[agent.EventsAPI](), "events"},
	{"agent.DynamoDBAPI", reflect.TypeFor[agent.DynamoDBAPI](), "dynamodb"},
	{"mirror.RepositoryAPI", reflect.TypeFor[mirror.RepositoryAPI](), "ecr"},
	{"mirror.TokenAPI", reflect.TypeFor[mirror.TokenAPI](), "ecr"},
	{"mirror.SecretsAPI", reflect.TypeFor[mirror.SecretsAPI](), "secretsmanager"},
	{"pullcheck.IAM", reflect.TypeFor[pullcheck.IAM](), "iam"},
	{"pullcheck.ECR", reflect.TypeFor[pullcheck.ECR](), "ecr"},
	{"pullcheck.ECS", reflect.TypeFor[pullcheck.ECS](), "ecs"},
	{"pullcheck.EC2", reflect.TypeFor[pullcheck.EC2](), "ec2"},
	{"pullcheck.InstanceProfiles", reflect.TypeFor[pullcheck.InstanceProfiles](), "iam"},
	{"policysource.S3API", reflect.TypeFor[policysource.S3API](), "s3"},
	{"policysource.SSMAPI", reflect.TypeFor[policysource.SSMAPI](), "ssm"},
}

// policy is an IAM policy document. Decoding refuses members it does not
// know (NotAction, NotResource, Principal): the agent's policy needs none,
// and each would widen what it grants.
type policy struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid       string
	Effect    string
	Action    stringList
	Resource  stringList
	Condition map[string]map[string]stringList `json:",omitempty"`
}

// stringList is IAM's "one string or a list of strings".
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*s = many
	return nil
}

func decodePolicy(data []byte) (*policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// canonical returns the policy with lists sorted, so that two documents
// that grant the same compare equal whatever order they list things in.
func (p *policy) canonical() *policy {
	out := &policy{Version: p.Version}
	for _, s := range p.Statement {
		c := s
		c.Action = sortedCopy(s.Action)
		c.Resource = sortedCopy(s.Resource)
		if s.Condition != nil {
			c.Condition = map[string]map[string]stringList{}
			for op, kv := range s.Condition {
				c.Condition[op] = map[string]stringList{}
				for k, v := range kv {
					c.Condition[op][k] = sortedCopy(v)
				}
			}
		}
		out.Statement = append(out.Statement, c)
	}
	sort.Slice(out.Statement, func(i, j int) bool { return out.Statement[i].Sid < out.Statement[j].Sid })
	return out
}

func sortedCopy(s []string) stringList {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func (p *policy) statement(sid string) (statement, bool) {
	for _, s := range p.Statement {
		if s.Sid == sid {
			return s, true
		}
	}
	return statement{}, false
}

// allows reports whether some Allow statement grants action.
func (p *policy) allows(action string) bool {
	for _, s := range p.Statement {
		if s.Effect == "Allow" && slices.Contains(s.Action, action) {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadPolicy(t *testing.T) *policy {
	t.Helper()
	return loadPolicyFile(t, policyPath)
}

func loadPolicyFile(t *testing.T, path string) *policy {
	t.Helper()
	p, err := decodePolicy(readFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// iamRules is testdata/iam-rules.json: the actions granted for a reason
// other than an SDK call of a narrow interface, and the actions that IAM
// cannot scope to a resource.
type iamRules struct {
	Implied      map[string]string `json:"implied"`
	ResourceStar []string          `json:"resourceStar"`
}

// interfaceActions returns the IAM action of every method of every narrow
// interface, with the interface that declares it.
func interfaceActions(t *testing.T) map[string]string {
	t.Helper()
	ctxType := reflect.TypeFor[context.Context]()
	out := map[string]string{}
	for _, api := range apis {
		if api.iface.Kind() != reflect.Interface || api.iface.NumMethod() == 0 {
			t.Fatalf("%s: not an interface with methods", api.name)
		}
		for i := range api.iface.NumMethod() {
			m := api.iface.Method(i)
			// The SDK's shape, func(ctx, *<Op>Input, ...func(*Options)), is
			// what ties the method name to the operation name.
			ft := m.Type
			if ft.NumIn() != 3 || ft.In(0) != ctxType || !ft.IsVariadic() ||
				ft.In(1).Kind() != reflect.Pointer || ft.In(1).Elem().Name() != m.Name+"Input" {
				t.Errorf("%s.%s: not an SDK method signature (%s); its IAM action cannot be derived", api.name, m.Name, ft)
				continue
			}
			out[api.service+":"+m.Name] = api.name
		}
	}
	return out
}

func TestPolicyAllowsEveryInterfaceCall(t *testing.T) {
	p := loadPolicy(t)
	for action, iface := range interfaceActions(t) {
		if !p.allows(action) {
			t.Errorf("%s declares %s, but %s does not allow it", iface, action, policyPath)
		}
	}
}

func TestPolicyGrantsNothingUnexplained(t *testing.T) {
	p := loadPolicy(t)
	var rules iamRules
	readJSON(t, "testdata/iam-rules.json", &rules)
	called := interfaceActions(t)
	granted := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			granted[a] = true
			if called[a] == "" && rules.Implied[a] == "" {
				t.Errorf("statement %s grants %s, which no interface calls and testdata/iam-rules.json does not explain", s.Sid, a)
			}
		}
	}
	for a := range rules.Implied {
		if called[a] != "" {
			t.Errorf("testdata/iam-rules.json explains %s, but %s calls it: drop the entry", a, called[a])
		}
		if !granted[a] {
			t.Errorf("testdata/iam-rules.json explains %s, which the policy does not grant: drop the entry", a)
		}
	}
}

var actionPattern = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)

// policyFiles are the roles' policy templates: the agent's task role and
// the scheduled sync's task role.
var policyFiles = []string{policyPath, syncPolicyPath}

func TestPolicyShape(t *testing.T) {
	var rules iamRules
	readJSON(t, "testdata/iam-rules.json", &rules)
	for _, file := range policyFiles {
		t.Run(file, func(t *testing.T) {
			p := loadPolicyFile(t, file)
			if p.Version != "2012-10-17" {
				t.Errorf("Version is %q, want 2012-10-17 (older versions have no policy variables)", p.Version)
			}
			sids := map[string]bool{}
			for i, s := range p.Statement {
				where := fmt.Sprintf("statement %d (%s)", i, s.Sid)
				switch {
				case s.Sid == "":
					t.Errorf("%s: no Sid; every statement names its purpose", where)
				case sids[s.Sid]:
					t.Errorf("%s: Sid repeated", where)
				}
				sids[s.Sid] = true
				if s.Effect != "Allow" {
					t.Errorf("%s: Effect %q, want Allow", where, s.Effect)
				}
				if len(s.Action) == 0 || len(s.Resource) == 0 {
					t.Errorf("%s: needs at least one action and one resource", where)
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") || !actionPattern.MatchString(a) {
						t.Errorf("%s: action %q is a wildcard or not service:Operation", where, a)
					}
				}
				if slices.Contains(s.Resource, "*") {
					for _, a := range s.Action {
						if !slices.Contains(rules.ResourceStar, a) {
							t.Errorf("%s: %s on Resource \"*\", though IAM can scope it to a resource", where, a)
						}
					}
				}
			}
		})
	}
}

func TestPolicyConditions(t *testing.T) {
	tests := []struct {
		sid    string
		action string
		want   map[string]map[string]stringList
	}{
		{"PassWorkloadRolesToEcsTasks", "iam:PassRole", map[string]map[string]stringList{
			"StringEquals": {"iam:PassedToService": {"ecs-tasks.amazonaws.com"}},
		}},
		{"TagTaskDefinitionsOnRegister", "ecs:TagResource", map[string]map[string]stringList{
			"StringEquals": {"ecs:CreateAction": {"RegisterTaskDefinition"}},
		}},
		// Retagging an existing revision: only the marks of a rollback.
		{"MarkRolledBackRevisions", "ecs:TagResource", map[string]map[string]stringList{
			"ForAllValues:StringEquals": {"aws:TagKeys": sortedCopy([]string{agent.TagRolledBack, agent.TagReverted})},
		}},
		// The agent's own constants: a renamed detail-type would make every
		// PutEvents fail with AccessDenied.
		{"PublishReviewEvents", "events:PutEvents", map[string]map[string]stringList{
			"StringEquals": {
				"events:source":      {agent.ReviewSource},
				"events:detail-type": sortedCopy([]string{agent.DetailCorrected, agent.DetailSkipped, agent.DetailFailed, agent.DetailRolledBack}),
			},
		}},
		// Repository keys serve ECR only; the policy's key serves reading
		// the policy only.
		{"UseMirrorRepositoryKeys", "kms:CreateGrant", map[string]map[string]stringList{
			"StringEquals": {"kms:ViaService": {"ecr.${Region}.amazonaws.com"}},
		}},
		{"DecryptPolicy", "kms:Decrypt", map[string]map[string]stringList{
			"StringEquals": {"kms:ViaService": {"s3.${Region}.amazonaws.com", "ssm.${Region}.amazonaws.com"}},
		}},
	}
	for _, file := range policyFiles {
		p := loadPolicyFile(t, file)
		for _, tt := range tests {
			s, ok := p.statement(tt.sid)
			if !ok {
				continue // checked where the statement exists
			}
			t.Run(file+"/"+tt.sid, func(t *testing.T) {
				if !slices.Contains(s.Action, tt.action) {
					t.Fatalf("statement %s does not grant %s", tt.sid, tt.action)
				}
				// Any statement granting the action must carry the condition
				// (or the one listed for it), or the condition restricts
				// nothing.
				for _, other := range p.Statement {
					if slices.Contains(other.Action, tt.action) {
						want := tt.want
						for _, o := range tests {
							if o.sid == other.Sid && o.action == tt.action {
								want = o.want
							}
						}
						if diff := cmp.Diff(want, other.canonicalCondition()); diff != "" {
							t.Errorf("statement %s grants %s with condition (-want +got):\n%s", other.Sid, tt.action, diff)
						}
					}
				}
			})
		}
	}
	// The agent's policy carries every statement above.
	agentPolicy := loadPolicy(t)
	for _, tt := range tests {
		if _, ok := agentPolicy.statement(tt.sid); !ok {
			t.Errorf("%s has no statement %s", policyPath, tt.sid)
		}
	}
}

func (s statement) canonicalCondition() map[string]map[string]stringList {
	return (&policy{Statement: []statement{s}}).canonical().Statement[0].Condition
}

var placeholderPattern = regexp.MustCompile(`\$\{([A-Za-z][A-Za-z0-9]*)\}`)

func placeholders(text string) []string {
	set := map[string]bool{}
	for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
		set[m[1]] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// documentedPlaceholders reads the placeholder table of a README: rows
// that start with | `${Name}` |.
func documentedPlaceholders(t *testing.T, path, section string) []string {
	t.Helper()
	text := string(readFile(t, path))
	start := strings.Index(text, section)
	if start < 0 {
		t.Fatalf("%s: no section %q", path, section)
	}
	text = text[start+len(section):]
	if end := strings.Index(text, "\n#"); end >= 0 {
		text = text[:end]
	}
	row := regexp.MustCompile("(?m)^\\| `\\$\\{([A-Za-z][A-Za-z0-9]*)\\}` \\|")
	set := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		set[m[1]] = true
	}
	return sortedKeys(set)
}

// render fills ${Name} placeholders from values; a placeholder without a
// value is an error, as in Terraform's templatefile.
func render(text string, values map[string]string) (string, error) {
	var missing []string
	out := placeholderPattern.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func samplePlaceholders(t *testing.T) map[string]string {
	t.Helper()
	var v map[string]string
	readJSON(t, "testdata/placeholders.json", &v)
	return v
}

func TestPolicyPlaceholdersDocumented(t *testing.T) {
	documented := documentedPlaceholders(t, iamReadmePath, "## Placeholders")
	used := map[string]bool{}
	for _, file := range policyFiles {
		for _, p := range placeholders(string(readFile(t, file))) {
			used[p] = true
			if !slices.Contains(documented, p) {
				t.Errorf("%s uses ${%s}, which the table in %s does not document", file, p, iamReadmePath)
			}
		}
	}
	for _, p := range documented {
		if !used[p] {
			t.Errorf("%s documents ${%s}, which no policy file uses", iamReadmePath, p)
		}
	}
}

var arnPattern = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:[a-z0-9-]+:([a-z]{2}(-[a-z]+)+-[0-9])?:([0-9]{12})?:\S+$`)

func TestPolicyRendersToValidArns(t *testing.T) {
	for _, file := range policyFiles {
		text, err := render(string(readFile(t, file)), samplePlaceholders(t))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p, err := decodePolicy([]byte(text))
		if err != nil {
			t.Fatalf("rendered %s: %v", file, err)
		}
		for _, s := range p.Statement {
			for _, r := range s.Resource {
				if r != "*" && !arnPattern.MatchString(r) {
					t.Errorf("%s: statement %s: rendered resource %q is not an ARN", file, s.Sid, r)
				}
			}
		}
	}
}

// TestSyncPolicyIsTheMirrorsShare checks the sync role against the calls of
// `pullheal sync`: the mirror engine it drives, and the read of its policy
// (the deploys set PULLHEAL_POLICY to ssm:NAME or s3://BUCKET/KEY). Each is
// allowed, and the role grants nothing the agent's policy does not also
// grant for the same reason (the sync is a subset of the agent's mirror
// route).
func TestSyncPolicyIsTheMirrorsShare(t *testing.T) {
	syncPolicy := loadPolicyFile(t, syncPolicyPath)
	agentPolicy := loadPolicy(t)
	syncAPIs := []string{"mirror.RepositoryAPI", "mirror.TokenAPI", "mirror.SecretsAPI", "policysource.S3API", "policysource.SSMAPI"}
	for action, iface := range interfaceActions(t) {
		if slices.Contains(syncAPIs, iface) && !syncPolicy.allows(action) {
			t.Errorf("%s declares %s, but %s does not allow it", iface, action, syncPolicyPath)
		}
	}
	for _, s := range syncPolicy.Statement {
		for _, a := range s.Action {
			if !agentPolicy.allows(a) {
				t.Errorf("%s: statement %s grants %s, which the agent's policy does not", syncPolicyPath, s.Sid, a)
			}
		}
	}
}

// TestTerraformPolicyCopies keeps the Terraform module self-contained and
// the policy files single-sourced: the module carries byte-identical copies
// of iam/*.json, which it renders with templatefile.
func TestTerraformPolicyCopies(t *testing.T) {
	for _, file := range policyFiles {
		copyPath := filepath.Join(terraformDir, file)
		if !bytes.Equal(readFile(t, file), readFile(t, copyPath)) {
			t.Errorf("%s differs from %s, its source: cp %s %s", copyPath, file, filepath.Join("deploy", file), filepath.Join("deploy", copyPath))
		}
	}
}

func TestAgentFlagsExist(t *testing.T) {
	got, err := cliFlags(agentCmdDir, "agentCommand")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, f := range agentFlags {
		if !slices.Contains(got, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Errorf("flags the deploy tests accept are not flags of `pullheal agent` (%s): %s", agentCmdDir, strings.Join(missing, ", "))
	}
}

// cliFlags reads the Name of every cli flag literal in function fn of the
// Go package in dir, following calls to the package's own functions (the
// flags several commands share are declared once, in a function each).
func cliFlags(dir, fn string) ([]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Body != nil {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	if funcs[fn] == nil {
		return nil, fmt.Errorf("no function %s in %s", fn, dir)
	}
	var names []string
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		fd := funcs[name]
		if fd == nil || seen[name] {
			return
		}
		seen[name] = true
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok {
					walk(id.Name)
				}
				return true
			}
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Flag") {
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
					if s, ok := kv.Value.(*ast.BasicLit); ok && s.Kind == token.STRING {
						if v, err := strconv.Unquote(s.Value); err == nil {
							names = append(names, v)
						}
					}
				}
			}
			return true
		})
	}
	walk(fn)
	return names, nil
}

// envFlag returns the flag an environment variable is the twin of.
func envFlag(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "PULLHEAL_")
	if !ok {
		return "", false
	}
	flag := strings.ToLower(strings.ReplaceAll(rest, "_", "-"))
	return flag, slices.Contains(agentFlags, flag)
}

// agentContainer is what the checks below need of the agent's container
// definition, from whichever artefact it came.
type agentContainer struct {
	Env         map[string]string // values rendered as text (references as ${...})
	StopTimeout int
	HealthCheck []string // the health check's command
}

// healthCheckCommand is the agent container's health check: the image has
// no shell, so pullheal itself asks the agent's /healthz.
var healthCheckCommand = []string{"CMD", "/pullheal", "healthcheck"}

// checkAgentContainer holds every artefact to the same rules: real flags,
// the queue and lock table set, and a stop timeout the shutdown grace fits in.
func checkAgentContainer(t *testing.T, source string, c agentContainer) {
	t.Helper()
	for name := range c.Env {
		if strings.HasPrefix(name, "AWS_") {
			if !slices.Contains(sdkEnv, name) {
				t.Errorf("%s: %s is not an AWS SDK setting the agent reads", source, name)
			}
			continue
		}
		if _, ok := envFlag(name); !ok {
			t.Errorf("%s: %s is neither PULLHEAL_<agent flag> nor an AWS SDK setting", source, name)
		}
	}
	if !slices.Equal(c.HealthCheck, healthCheckCommand) {
		t.Errorf("%s: health check %q, want %q", source, c.HealthCheck, healthCheckCommand)
	}
	// /healthcheck asks http://127.0.0.1:9090/healthz by default: the agent
	// must listen there.
	if l, ok := c.Env["PULLHEAL_LISTEN"]; ok && l != ":9090" && l != "127.0.0.1:9090" && l != "0.0.0.0:9090" {
		t.Errorf("%s: PULLHEAL_LISTEN %q: the health check asks port 9090", source, l)
	}
	for _, required := range []string{"PULLHEAL_QUEUE_URL", "PULLHEAL_LOCK_TABLE", "PULLHEAL_POLICY"} {
		if c.Env[required] == "" {
			// Without a lock table, replicas would each heal the same failure.
			t.Errorf("%s: %s is not set", source, required)
		}
	}
	grace := 25 * time.Second // the agent's default
	if v, ok := c.Env["PULLHEAL_SHUTDOWN_GRACE"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: PULLHEAL_SHUTDOWN_GRACE %q: %v", source, v, err)
		}
		grace = d
	}
	stop := time.Duration(c.StopTimeout) * time.Second
	switch {
	case c.StopTimeout == 0:
		t.Errorf("%s: no stopTimeout; ECS's default may not cover the %s shutdown grace", source, grace)
	case stop <= grace:
		t.Errorf("%s: stopTimeout %s is not longer than the shutdown grace %s: in-flight messages are killed, not released", source, stop, grace)
	case c.StopTimeout > maxStopTimeout:
		t.Errorf("%s: stopTimeout %d exceeds ECS's maximum of %d", source, c.StopTimeout, maxStopTimeout)
	}
}

// checkEventPattern compares a rule's pattern with the project's and runs
// it over sample events with the local EventBridge's matcher.
func checkEventPattern(t *testing.T, source string, pattern []byte) {
	t.Helper()
	var got, want any
	if err := json.Unmarshal(pattern, &got); err != nil {
		t.Fatalf("%s: event pattern: %v", source, err)
	}
	readJSON(t, "testdata/event-pattern.json", &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: event pattern differs from testdata/event-pattern.json (-want +got):\n%s", source, diff)
	}
	p, err := eventsim.ParsePattern(string(pattern))
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	var expect map[string]bool
	readJSON(t, "testdata/events/expect.json", &expect)
	for name, wantMatch := range expect {
		m, err := p.Match(readFile(t, filepath.Join("testdata/events", name)))
		if err != nil {
			t.Fatalf("%s: %s: %v", source, name, err)
		}
		if m != wantMatch {
			t.Errorf("%s: the rule delivers %s: %v, want %v", source, name, m, wantMatch)
		}
	}
}
