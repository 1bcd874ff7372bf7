// Package iamsim is the local test bed's IAM: roles with inline and
// attached policies, the AWS managed AmazonECSTaskExecutionRolePolicy and
// AmazonEC2ContainerServiceforEC2Role with their ECR content, customer
// managed policies, instance profiles and SimulatePrincipalPolicy, over
// the awsquery protocol the aws-sdk-go-v2 IAM client speaks.
//
// It exists so that the test bed can refuse: the simulated ECS scheduler
// pulls from ECR as a task's execution role and fails, with ECR's text,
// when the role may not (see Allowed), and pullheal's check of the healed
// tasks' pull permissions has a real SimulatePrincipalPolicy to ask.
//
// Evaluation is internal/iampolicy's (IAM's documented logic for one
// account). Statements with a Condition never apply (the test bed has no
// request context); permissions boundaries, SCPs and session policies are
// not modelled.
package iamsim

import (
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/iampolicy"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// The evaluation types, as iampolicy defines them.
type (
	Decision = iampolicy.Decision
	Policy   = iampolicy.Policy
)

// Evaluation results.
const (
	Allowed      = iampolicy.Allowed
	ExplicitDeny = iampolicy.ExplicitDeny
	ImplicitDeny = iampolicy.ImplicitDeny
)

const (
	apiVersion = "2010-05-08"
	xmlns      = "https://iam.amazonaws.com/doc/2010-05-08/"

	// TaskExecutionPolicyArn is the AWS managed policy ECS documents for
	// task execution roles. It grants pulls from ECR but not
	// ecr:BatchImportUpstreamImage or ecr:CreateRepository, which a first
	// pull through a pull-through cache needs.
	TaskExecutionPolicyArn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
	taskExecutionPolicy    = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents"
      ],
      "Resource": "*"
    }
  ]
}`
)

// ContainerInstancePolicyArn is the AWS managed policy ECS documents for
// the container instance role (ecsInstanceRole). Like the execution
// role's, it grants pulls from ECR but no pull-through cache import.
const ContainerInstancePolicyArn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"

const containerInstancePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "ec2:DescribeTags",
        "ecs:CreateCluster",
        "ecs:DeregisterContainerInstance",
        "ecs:DiscoverPollEndpoint",
        "ecs:Poll",
        "ecs:RegisterContainerInstance",
        "ecs:StartTelemetrySession",
        "ecs:UpdateContainerInstancesState",
        "ecs:Submit*",
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents"
      ],
      "Resource": "*"
    },
    {
      "Effect": "Allow",
      "Action": "ecs:TagResource",
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "ecs:CreateAction": ["CreateCluster", "RegisterContainerInstance"]
        }
      }
    }
  ]
}`

// ErrNoSuchEntity is returned by Allowed for a principal that does not exist.
var ErrNoSuchEntity = errors.New("NoSuchEntity")

// IAM is the stand-in; safe for concurrent use.
type IAM struct {
	account string
	clock   wire.Clock

	mu       sync.Mutex
	roles    map[string]*role // by name
	policies map[string]*managed
	profiles map[string]*profile // by name
}

// profile is an instance profile: the container for the one role an EC2
// instance presents.
type profile struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	Arn     string    `json:"arn"`
	Created time.Time `json:"created"`
	Roles   []string  `json:"roles"` // names; IAM allows one
}

type role struct {
	Name       string            `json:"name"`
	Path       string            `json:"path"`
	ID         string            `json:"id"`
	Arn        string            `json:"arn"`
	Created    time.Time         `json:"created"`
	AssumeRole string            `json:"assumeRole"`
	Inline     map[string]string `json:"inline"`
	Attached   []string          `json:"attached"`
}

type managed struct {
	Name     string    `json:"name"`
	Arn      string    `json:"arn"`
	ID       string    `json:"id"`
	Path     string    `json:"path"`
	Document string    `json:"document"`
	Created  time.Time `json:"created"`
	aws      bool
}

// New returns an IAM stand-in for account.
func New(account string, clock wire.Clock) *IAM {
	if clock == nil {
		clock = wire.SystemClock{}
	}
	return &IAM{
		account: account, clock: clock, roles: map[string]*role{}, profiles: map[string]*profile{},
		policies: map[string]*managed{TaskExecutionPolicyArn: {
			Name: "AmazonECSTaskExecutionRolePolicy", Arn: TaskExecutionPolicyArn, ID: "ANPAJG4T4G4PV56DE72PY",
			Path: "/service-role/", Document: taskExecutionPolicy, aws: true,
		}, ContainerInstancePolicyArn: {
			Name: "AmazonEC2ContainerServiceforEC2Role", Arn: ContainerInstancePolicyArn, ID: "ANPAJLYJCVHC7TQHCSQDS",
			Path: "/service-role/", Document: containerInstancePolicy, aws: true,
		}},
	}
}

// Handles reports whether r is an IAM query-protocol request: one signed
// for the "iam" service.
func (m *IAM) Handles(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") == "" && wire.SignedService(r.Header.Get("Authorization")) == "iam"
}

// Allowed evaluates one request by principal (a role ARN, or an assumed-role
// session ARN of one) against the role's identity policies and the given
// resource policies. An unknown role is ErrNoSuchEntity.
func (m *IAM) Allowed(principal, action, resource string, resourcePolicies ...*Policy) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.roles[roleName(principal)]
	if !ok {
		return ImplicitDeny, fmt.Errorf("%w: role %s", ErrNoSuchEntity, principal)
	}
	identity, err := m.identityPolicies(r)
	if err != nil {
		return ImplicitDeny, err
	}
	return iampolicy.Evaluate(append(identity, resourcePolicies...), r.Arn, action, resource).Decision, nil
}

// roleName accepts arn:aws:iam::ACCOUNT:role[/path]/NAME and
// arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
func roleName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	_, res, _ := strings.Cut(parts[len(parts)-1], "/")
	if strings.Contains(arn, ":assumed-role/") {
		name, _, _ := strings.Cut(res, "/")
		return name
	}
	if i := strings.LastIndexByte(res, '/'); i >= 0 {
		return res[i+1:]
	}
	return res
}

func (m *IAM) identityPolicies(r *role) ([]*Policy, error) {
	var out []*Policy
	for _, name := range slices.Sorted(mapsKeys(r.Inline)) {
		p, err := iampolicy.ParsePolicy(r.Inline[name])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	for _, arn := range r.Attached {
		mp, ok := m.policies[arn]
		if !ok {
			continue
		}
		p, err := iampolicy.ParsePolicy(mp.Document)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// ServeHTTP implements http.Handler.
func (m *IAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "InvalidAction", "IAM query requests are POST, got "+r.Method)
		return
	}
	form, ferr := wire.QueryForm(w, r)
	if ferr != nil {
		writeError(w, ferr.Status, ferr.Code, ferr.Message)
		return
	}
	action := form.Get("Action")
	if form.Get("Version") != apiVersion {
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, form.Get("Version")))
		return
	}
	op, ok := m.ops()[action]
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s (not implemented by this test bed)", action, apiVersion))
		return
	}
	out, err := op(form)
	if err != nil {
		var qe *queryError
		if errors.As(err, &qe) {
			writeError(w, qe.status, qe.code, qe.msg)
			return
		}
		writeError(w, http.StatusInternalServerError, "ServiceFailure", err.Error())
		return
	}
	writeResponse(w, action, out)
}

type queryError struct {
	status    int
	code, msg string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, format string, args ...any) error {
	return &queryError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// uniqueID is an IAM unique ID: a four-letter prefix naming the kind of
// entity (AROA a role, ANPA a managed policy, AIPA an instance profile)
// and 17 upper-case letters and digits.
func uniqueID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [17]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}

func noSuchRole(name string) error {
	return errf(http.StatusNotFound, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

func (m *IAM) ops() map[string]func(url.Values) (any, error) {
	return map[string]func(url.Values) (any, error){
		"CreateRole":               m.createRole,
		"GetRole":                  m.getRole,
		"DeleteRole":               m.deleteRole,
		"PutRolePolicy":            m.putRolePolicy,
		"GetRolePolicy":            m.getRolePolicy,
		"ListRolePolicies":         m.listRolePolicies,
		"AttachRolePolicy":         m.attachRolePolicy,
		"DetachRolePolicy":         m.detachRolePolicy,
		"ListAttachedRolePolicies": m.listAttachedRolePolicies,
		"CreatePolicy":             m.createPolicy,
		"SimulatePrincipalPolicy":  m.simulatePrincipalPolicy,
		"CreateInstanceProfile":    m.createInstanceProfile,
		"AddRoleToInstanceProfile": m.addRoleToInstanceProfile,
		"GetInstanceProfile":       m.getInstanceProfile,
	}
}

func required(form url.Values, names ...string) error {
	for _, n := range names {
		if form.Get(n) == "" {
			return errf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(n))
		}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// members reads a list parameter: Name.member.1, Name.member.2, ...
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+".member."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

func checkDocument(doc string) error {
	if _, err := iampolicy.ParsePolicy(doc); err != nil {
		return errf(http.StatusBadRequest, "MalformedPolicyDocument", "%v", err)
	}
	return nil
}

type roleXML struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument,omitempty"`
	// MaxSessionDuration is IAM's default of one hour: the stand-in
	// does not take the parameter.
	MaxSessionDuration int `xml:"MaxSessionDuration"`
}

func (r *role) xml() roleXML {
	return roleXML{Path: r.Path, RoleName: r.Name, RoleID: r.ID, Arn: r.Arn,
		CreateDate: r.Created.UTC().Format(time.RFC3339), AssumeRolePolicyDocument: escapeDocument(r.AssumeRole), MaxSessionDuration: 3600}
}

func (m *IAM) createRole(form url.Values) (any, error) {
	if err := required(form, "RoleName", "AssumeRolePolicyDocument"); err != nil {
		return nil, err
	}
	name, doc := form.Get("RoleName"), form.Get("AssumeRolePolicyDocument")
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	p, err := entityPath(form)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[name]; ok {
		return nil, errf(http.StatusConflict, "EntityAlreadyExists", "Role with name %s already exists.", name)
	}
	r := &role{Name: name, Path: p, ID: uniqueID("AROA"), Arn: "arn:aws:iam::" + m.account + ":role" + p + name,
		Created: m.clock.Now(), AssumeRole: doc, Inline: map[string]string{}}
	m.roles[name] = r
	return struct {
		Role roleXML `xml:"Role"`
	}{r.xml()}, nil
}

func (m *IAM) lookup(form url.Values) (*role, error) {
	if err := required(form, "RoleName"); err != nil {
		return nil, err
	}
	r, ok := m.roles[form.Get("RoleName")]
	if !ok {
		return nil, noSuchRole(form.Get("RoleName"))
	}
	return r, nil
}

func (m *IAM) getRole(form url.Values) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{r.xml()}, nil
}

func (m *IAM) deleteRole(form url.Values) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	if len(r.Inline) > 0 || len(r.Attached) > 0 {
		return nil, errf(http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	}
	delete(m.roles, r.Name)
	return nil, nil
}

func (m *IAM) putRolePolicy(form url.Values) (any, error) {
	if err := required(form, "RoleName", "PolicyName", "PolicyDocument"); err != nil {
		return nil, err
	}
	if err := checkDocument(form.Get("PolicyDocument")); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	r.Inline[form.Get("PolicyName")] = form.Get("PolicyDocument")
	return nil, nil
}

func (m *IAM) getRolePolicy(form url.Values) (any, error) {
	if err := required(form, "PolicyName"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	doc, ok := r.Inline[form.Get("PolicyName")]
	if !ok {
		return nil, errf(http.StatusNotFound, "NoSuchEntity", "The role policy with name %s cannot be found.", form.Get("PolicyName"))
	}
	return struct {
		RoleName       string `xml:"RoleName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"`
	}{r.Name, form.Get("PolicyName"), escapeDocument(doc)}, nil
}

func (m *IAM) listRolePolicies(form url.Values) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(mapsKeys(r.Inline))
	return struct {
		PolicyNames []string `xml:"PolicyNames>member"`
		IsTruncated bool     `xml:"IsTruncated"`
	}{names, false}, nil
}

func (m *IAM) attachRolePolicy(form url.Values) (any, error) {
	if err := required(form, "PolicyArn"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	arn := form.Get("PolicyArn")
	if _, ok := m.policies[arn]; !ok {
		return nil, errf(http.StatusNotFound, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn)
	}
	if !slices.Contains(r.Attached, arn) {
		r.Attached = append(r.Attached, arn)
	}
	return nil, nil
}

func (m *IAM) detachRolePolicy(form url.Values) (any, error) {
	if err := required(form, "PolicyArn"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	i := slices.Index(r.Attached, form.Get("PolicyArn"))
	if i < 0 {
		return nil, errf(http.StatusNotFound, "NoSuchEntity", "Policy %s was not found.", form.Get("PolicyArn"))
	}
	r.Attached = slices.Delete(r.Attached, i, i+1)
	return nil, nil
}

type attachedXML struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

func (m *IAM) listAttachedRolePolicies(form url.Values) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	list := make([]attachedXML, 0, len(r.Attached))
	for _, arn := range r.Attached {
		list = append(list, attachedXML{PolicyName: m.policies[arn].Name, PolicyArn: arn})
	}
	return struct {
		AttachedPolicies []attachedXML `xml:"AttachedPolicies>member"`
		IsTruncated      bool          `xml:"IsTruncated"`
	}{list, false}, nil
}

func (m *IAM) createPolicy(form url.Values) (any, error) {
	if err := required(form, "PolicyName", "PolicyDocument"); err != nil {
		return nil, err
	}
	if err := checkDocument(form.Get("PolicyDocument")); err != nil {
		return nil, err
	}
	p, err := entityPath(form)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	arn := "arn:aws:iam::" + m.account + ":policy" + p + form.Get("PolicyName")
	if _, ok := m.policies[arn]; ok {
		return nil, errf(http.StatusConflict, "EntityAlreadyExists", "A policy called %s already exists. Duplicate names are not allowed.", form.Get("PolicyName"))
	}
	mp := &managed{Name: form.Get("PolicyName"), Arn: arn, ID: uniqueID("ANPA"), Path: p, Document: form.Get("PolicyDocument"), Created: m.clock.Now()}
	m.policies[arn] = mp
	return struct {
		Policy policyXML `xml:"Policy"`
	}{policyXML{mp.Name, mp.ID, mp.Arn, mp.Path, "v1", 0, true, mp.Created.UTC().Format(time.RFC3339), mp.Created.UTC().Format(time.RFC3339)}}, nil
}

type policyXML struct {
	PolicyName       string `xml:"PolicyName"`
	PolicyID         string `xml:"PolicyId"`
	Arn              string `xml:"Arn"`
	Path             string `xml:"Path"`
	DefaultVersionID string `xml:"DefaultVersionId"`
	AttachmentCount  int    `xml:"AttachmentCount"`
	IsAttachable     bool   `xml:"IsAttachable"`
	CreateDate       string `xml:"CreateDate"`
	// UpdateDate is CreateDate while a policy has one version.
	UpdateDate string `xml:"UpdateDate"`
}

type statementXML struct {
	SourcePolicyID   string `xml:"SourcePolicyId"`
	SourcePolicyType string `xml:"SourcePolicyType"`
}

type evalXML struct {
	EvalActionName    string         `xml:"EvalActionName"`
	EvalResourceName  string         `xml:"EvalResourceName"`
	EvalDecision      string         `xml:"EvalDecision"`
	MatchedStatements []statementXML `xml:"MatchedStatements>member"`
	// MissingContextValues are the condition keys no request context
	// supplied; IAM reports them instead of applying the statements.
	MissingContextValues []string `xml:"MissingContextValues>member"`
}

// simulatePrincipalPolicy evaluates the role's identity policies (and a
// ResourcePolicy when given, as IAM does) for each action on each resource
// ("*" when none is given).
func (m *IAM) simulatePrincipalPolicy(form url.Values) (any, error) {
	if err := required(form, "PolicySourceArn"); err != nil {
		return nil, err
	}
	actions := members(form, "ActionNames")
	if len(actions) == 0 {
		return nil, errf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	resources := members(form, "ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	var extra []*Policy
	if doc := form.Get("ResourcePolicy"); doc != "" {
		p, err := iampolicy.ParsePolicy(doc)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "InvalidInput", "%v", err)
		}
		extra = append(extra, p)
	}
	source := form.Get("PolicySourceArn")
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.Contains(source, ":role/") {
		return nil, errf(http.StatusBadRequest, "InvalidInput", "Invalid Entity Arn: %s does not clarify a role (this test bed simulates roles only).", source)
	}
	r, ok := m.roles[roleName(source)]
	if !ok || r.Arn != source {
		return nil, errf(http.StatusNotFound, "NoSuchEntity", "The role with ARN %s cannot be found.", source)
	}
	identity, err := m.identityPolicies(r)
	if err != nil {
		return nil, err
	}
	policies := append(identity, extra...)
	var results []evalXML
	for _, a := range actions {
		for _, res := range resources {
			ev := iampolicy.Evaluate(policies, r.Arn, a, res)
			e := evalXML{EvalActionName: a, EvalResourceName: res, EvalDecision: string(ev.Decision), MissingContextValues: ev.MissingContext}
			for _, sid := range ev.Sids {
				e.MatchedStatements = append(e.MatchedStatements, statementXML{SourcePolicyID: sid, SourcePolicyType: "IAM Policy"})
			}
			results = append(results, e)
		}
	}
	return struct {
		EvaluationResults []evalXML `xml:"EvaluationResults>member"`
		IsTruncated       bool      `xml:"IsTruncated"`
	}{results, false}, nil
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// writeResponse writes ActionResponse with the result under ActionResult
// (omitted for operations that return nothing) and the request ID.
func writeResponse(w http.ResponseWriter, action string, result any) {
	var inner any
	if result != nil {
		inner = wrapResult{name: action + "Result", v: result}
	}
	b, err := xml.Marshal(struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   any
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}{xml.Name{Local: action + "Response"}, xmlns, inner, responseMetadata{RequestID: wire.RequestID()}})
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// wrapResult marshals v under the element name (ActionResult).
type wrapResult struct {
	name string
	v    any
}

func (r wrapResult) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(r.v, xml.StartElement{Name: xml.Name{Local: r.name}})
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorBody
	RequestID string `xml:"RequestId"`
}

type errorBody struct {
	Type    string
	Code    string
	Message string
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := xml.Marshal(errorResponse{Xmlns: xmlns, Error: errorBody{Type: "Sender", Code: code, Message: msg}, RequestID: wire.RequestID()})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// ProfileRole is the ARN of the role of an instance profile, named by
// ARN or name; "" when the profile has no role. An unknown profile is
// ErrNoSuchEntity.
func (m *IAM) ProfileRole(profileArnOrName string) (string, error) {
	name := profileArnOrName[strings.LastIndexAny(profileArnOrName, "/:")+1:]
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.profiles[name]
	if !ok || (strings.HasPrefix(profileArnOrName, "arn:") && p.Arn != profileArnOrName) {
		return "", fmt.Errorf("%w: instance profile %s", ErrNoSuchEntity, profileArnOrName)
	}
	if len(p.Roles) == 0 {
		return "", nil
	}
	r, ok := m.roles[p.Roles[0]]
	if !ok {
		return "", nil
	}
	return r.Arn, nil
}

func noSuchProfile(name string) error {
	return errf(http.StatusNotFound, "NoSuchEntity", "Instance Profile %s cannot be found.", name)
}

type profileXML struct {
	Path                string    `xml:"Path"`
	InstanceProfileName string    `xml:"InstanceProfileName"`
	InstanceProfileID   string    `xml:"InstanceProfileId"`
	Arn                 string    `xml:"Arn"`
	CreateDate          string    `xml:"CreateDate"`
	Roles               []roleXML `xml:"Roles>member"`
}

func (m *IAM) profileXML(p *profile) profileXML {
	out := profileXML{Path: p.Path, InstanceProfileName: p.Name, InstanceProfileID: p.ID, Arn: p.Arn,
		CreateDate: p.Created.UTC().Format(time.RFC3339), Roles: []roleXML{}}
	for _, name := range p.Roles {
		if r, ok := m.roles[name]; ok {
			out.Roles = append(out.Roles, r.xml())
		}
	}
	return out
}

func (m *IAM) createInstanceProfile(form url.Values) (any, error) {
	if err := required(form, "InstanceProfileName"); err != nil {
		return nil, err
	}
	name := form.Get("InstanceProfileName")
	p, err := entityPath(form)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.profiles[name]; ok {
		return nil, errf(http.StatusConflict, "EntityAlreadyExists", "Instance Profile %s already exists.", name)
	}
	ip := &profile{Name: name, Path: p, ID: uniqueID("AIPA"),
		Arn: "arn:aws:iam::" + m.account + ":instance-profile" + p + name, Created: m.clock.Now()}
	m.profiles[name] = ip
	return struct {
		InstanceProfile profileXML `xml:"InstanceProfile"`
	}{m.profileXML(ip)}, nil
}

// addRoleToInstanceProfile: a profile holds one role (IAM's quota
// InstanceSessionsPerInstanceProfile, which cannot be raised).
func (m *IAM) addRoleToInstanceProfile(form url.Values) (any, error) {
	if err := required(form, "InstanceProfileName", "RoleName"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, ok := m.profiles[form.Get("InstanceProfileName")]
	if !ok {
		return nil, noSuchProfile(form.Get("InstanceProfileName"))
	}
	r, err := m.lookup(form)
	if err != nil {
		return nil, err
	}
	if len(ip.Roles) > 0 {
		return nil, errf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	}
	ip.Roles = append(ip.Roles, r.Name)
	return nil, nil
}

func (m *IAM) getInstanceProfile(form url.Values) (any, error) {
	if err := required(form, "InstanceProfileName"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, ok := m.profiles[form.Get("InstanceProfileName")]
	if !ok {
		return nil, noSuchProfile(form.Get("InstanceProfileName"))
	}
	return struct {
		InstanceProfile profileXML `xml:"InstanceProfile"`
	}{m.profileXML(ip)}, nil
}

type snapshot struct {
	Roles    map[string]*role    `json:"roles"`
	Policies map[string]*managed `json:"policies"`
	Profiles map[string]*profile `json:"profiles,omitempty"`
}

// Snapshot writes the roles and customer managed policies.
func (m *IAM) Snapshot(w io.Writer) error {
	m.mu.Lock()
	snap := snapshot{Roles: m.roles, Policies: map[string]*managed{}, Profiles: m.profiles}
	for arn, p := range m.policies {
		if !p.aws {
			snap.Policies[arn] = p
		}
	}
	b, err := wire.EncodeSnapshot("iam", snap)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Restore replaces the state with a snapshot's.
func (m *IAM) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "iam", &snap); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if snap.Roles != nil {
		m.roles = snap.Roles
	}
	if snap.Profiles != nil {
		m.profiles = snap.Profiles
	}
	for arn, p := range snap.Policies {
		m.policies[arn] = p
	}
	return nil
}

// escapeDocument URL-encodes a policy document as IAM returns them,
// "URL-encoded compliant with RFC 3986": every byte but the unreserved
// characters as %XX (a space is %20, not the "+" of a query string).
func escapeDocument(doc string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// entityPath is a create call's Path: "/" when absent, and like IAM's,
// beginning and ending with a slash.
func entityPath(form url.Values) (string, error) {
	p := form.Get("Path")
	if p == "" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") {
		return "", errf(http.StatusBadRequest, "ValidationError", "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	return p, nil
}
