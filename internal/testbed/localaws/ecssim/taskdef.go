package ecssim

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// readOnlyMembers are the task-definition members ECS computes; a register
// request carrying them (a describe output fed back as is) does not set them.
var readOnlyMembers = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
}

var (
	familyRe        = wire.NewPattern(`^[a-zA-Z0-9_-]{1,255}$`)
	containerNameRe = wire.NewPattern(`^[a-zA-Z0-9_-]{1,255}$`)
	// ECS accepts up to 255 letters, digits, hyphens, underscores, colons,
	// periods, forward slashes and number signs (and @ for digests); whether
	// the name is a valid reference is only found out when pulling.
	imageRe = wire.NewPattern(`^[a-zA-Z0-9_:./#@-]{1,255}$`)
)

// flexString is a JSON string that also accepts a number, as ECS does for
// the task-level cpu and memory.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

// tdFields are the members of a task definition the stand-in reads; the
// stored document keeps everything else untouched.
type tdFields struct {
	Family                  string         `json:"family"`
	TaskRoleArn             string         `json:"taskRoleArn"`
	ExecutionRoleArn        string         `json:"executionRoleArn"`
	NetworkMode             string         `json:"networkMode"`
	ContainerDefinitions    []cdFields     `json:"containerDefinitions"`
	RequiresCompatibilities []string       `json:"requiresCompatibilities"`
	CPU                     flexString     `json:"cpu"`
	Memory                  flexString     `json:"memory"`
	RuntimePlatform         *runtimePlatfm `json:"runtimePlatform"`
	EphemeralStorage        *sizeGiB       `json:"ephemeralStorage"`
}

type runtimePlatfm struct {
	CPUArchitecture       string `json:"cpuArchitecture"`
	OperatingSystemFamily string `json:"operatingSystemFamily"`
}

type cdFields struct {
	Name              string `json:"name"`
	Image             string `json:"image"`
	CPU               int64  `json:"cpu"`
	Memory            *int64 `json:"memory"`
	MemoryReservation *int64 `json:"memoryReservation"`
	LogConfiguration  *struct {
		LogDriver string `json:"logDriver"`
	} `json:"logConfiguration"`
	RepositoryCredentials *struct {
		CredentialsParameter string `json:"credentialsParameter"`
	} `json:"repositoryCredentials"`
	Secrets []struct {
		ValueFrom string `json:"valueFrom"`
	} `json:"secrets"`
	HealthCheck json.RawMessage `json:"healthCheck"`
	DependsOn   json.RawMessage `json:"dependsOn"`
}

// fields decodes the members the stand-in reads from a stored document.
func (td *taskDef) fields() tdFields {
	var f tdFields
	_ = json.Unmarshal(rawJSON(td.Doc), &f) // validated at register time
	return f
}

func (e *ECS) taskDefArn(family string, revision int) string {
	return e.arn("task-definition/" + family + ":" + strconv.Itoa(revision))
}

// maxTaskDefinition is ECS's limit on a RegisterTaskDefinition request, in
// bytes of JSON (the developer guide's quotas: 64 KiB).
const maxTaskDefinition = 64 << 10

func (e *ECS) registerTaskDefinition(ctx context.Context, body []byte) (any, error) {
	if len(body) > maxTaskDefinition {
		// ECS's own wording (a ClientException), as CloudTrail records it.
		return nil, clientErr("Actual length: '%d'. Max allowed length is '%d' bytes.", len(body), maxTaskDefinition)
	}
	var doc map[string]json.RawMessage
	if err := wire.Decode(body, &doc); err != nil {
		return nil, err
	}
	var in struct {
		tdFields
		Tags []tag `json:"tags"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	delete(doc, "tags")
	for _, m := range readOnlyMembers {
		delete(doc, m)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := normalizeTaskDef(doc, &in.tdFields); err != nil {
		return nil, err
	}
	if err := validateTaskDef(in.tdFields); err != nil {
		return nil, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	fam := e.st.Families[in.Family]
	if fam == nil {
		fam = &family{Name: in.Family}
		e.st.Families[in.Family] = fam
	}
	td := &taskDef{
		Family:       in.Family,
		Revision:     len(fam.Revisions) + 1,
		Status:       "ACTIVE",
		Doc:          doc,
		RegisteredAt: e.now(),
		RegisteredBy: e.cfg.Principal,
		Tags:         append([]tag{}, in.Tags...),
	}
	fam.Revisions = append(fam.Revisions, td)
	return map[string]any{"taskDefinition": e.renderTaskDef(td), "tags": td.Tags}, nil
}

// normalizeTaskDef applies what ECS does to a registered definition: task
// cpu and memory become unit-less strings ("1 vCPU" -> "1024"), container
// definitions get ECS's defaults (cpu 0, essential true, empty lists) and
// port mappings their protocol and, in awsvpc and host mode, their host
// port. Members ECS leaves alone are kept byte for byte.
func normalizeTaskDef(doc map[string]json.RawMessage, f *tdFields) error {
	if f.CPU != "" {
		v, ok := normalizeUnits(string(f.CPU), "vcpu")
		if !ok {
			return clientErr("Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
		}
		f.CPU = flexString(v)
		doc["cpu"] = rawJSON(v)
	}
	if f.Memory != "" {
		v, ok := normalizeUnits(string(f.Memory), "gb")
		if !ok {
			return clientErr("Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
		}
		f.Memory = flexString(v)
		doc["memory"] = rawJSON(v)
	}
	if _, ok := doc["volumes"]; !ok {
		doc["volumes"] = json.RawMessage("[]")
	}
	if _, ok := doc["placementConstraints"]; !ok {
		doc["placementConstraints"] = json.RawMessage("[]")
	}
	var cds []map[string]json.RawMessage
	if raw, ok := doc["containerDefinitions"]; ok {
		if err := json.Unmarshal(raw, &cds); err != nil {
			return wire.Errorf(400, "SerializationException", "containerDefinitions: %v", err)
		}
	}
	hostPortFromContainer := f.NetworkMode == "awsvpc" || f.NetworkMode == "host"
	for ci, cd := range cds {
		if cd == nil {
			return clientErr("Container.name should not be null or empty.")
		}
		setDefault(cd, "cpu", "0")
		setDefault(cd, "essential", "true")
		for _, list := range []string{"portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"} {
			setDefault(cd, list, "[]")
		}
		var pms []map[string]json.RawMessage
		if err := json.Unmarshal(cd["portMappings"], &pms); err != nil {
			return wire.Errorf(400, "SerializationException", "portMappings: %v", err)
		}
		for i, pm := range pms {
			if pm == nil {
				return clientErr("Invalid setting for container '%s': portMappings[%d] is null.", f.ContainerDefinitions[ci].Name, i)
			}
			setDefault(pm, "protocol", `"tcp"`)
			if cp, ok := pm["containerPort"]; ok && hostPortFromContainer {
				setDefault(pm, "hostPort", string(cp))
			}
		}
		cd["portMappings"] = rawJSON(pms)
	}
	if cds != nil {
		doc["containerDefinitions"] = rawJSON(cds)
	}
	return nil
}

func setDefault(m map[string]json.RawMessage, key, value string) {
	if v, ok := m[key]; !ok || string(v) == "null" {
		m[key] = json.RawMessage(value)
	}
}

// normalizeUnits turns "1 vCPU" or "2 GB" (unit matched case-insensitively,
// with or without a space) into the number of CPU units or MiB ECS stores.
func normalizeUnits(s, unit string) (string, bool) {
	t := strings.TrimSpace(strings.ToLower(s))
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n <= 0 {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	num, ok := strings.CutSuffix(t, unit)
	if !ok {
		return "", false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f <= 0 {
		return "", false
	}
	v := f * 1024
	if v != float64(int64(v)) {
		return "", false
	}
	return strconv.FormatInt(int64(v), 10), true
}

// fargateMemory lists, per task CPU, the memory sizes Fargate offers.
func fargateMemory(cpu int64) []int64 {
	span := func(from, to, step int64) []int64 {
		var out []int64
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int64{512, 1024, 2048}
	case 512:
		return span(1024, 4096, 1024)
	case 1024:
		return span(2048, 8192, 1024)
	case 2048:
		return span(4096, 16384, 1024)
	case 4096:
		return span(8192, 30720, 1024)
	case 8192:
		return span(16384, 61440, 4096)
	case 16384:
		return span(32768, 122880, 8192)
	}
	return nil
}

func fargateSizeOK(cpu, memory string) bool {
	c, err1 := strconv.ParseInt(cpu, 10, 64)
	m, err2 := strconv.ParseInt(memory, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, v := range fargateMemory(c) {
		if v == m {
			return true
		}
	}
	return false
}

func hasCompat(list []string, c string) bool {
	for _, v := range list {
		if v == c {
			return true
		}
	}
	return false
}

// validateTaskDef checks a register request the way ECS does at register
// time. Messages are ECS's own where they are known; the error type is
// ClientException for all of them, as ECS answers RegisterTaskDefinition.
func validateTaskDef(f tdFields) error {
	switch {
	case f.Family == "":
		return clientErr("Family can not be blank.")
	case !familyRe.MatchString(f.Family):
		return clientErr("Family contains invalid characters.")
	case len(f.ContainerDefinitions) == 0:
		return clientErr("Container list cannot be empty.")
	}
	switch f.NetworkMode {
	case "", "bridge", "host", "awsvpc", "none":
	default:
		return clientErr("1 validation error detected: Value '%s' at 'networkMode' failed to satisfy constraint: Member must satisfy enum value set: [bridge, host, awsvpc, none]", f.NetworkMode)
	}
	for _, c := range f.RequiresCompatibilities {
		switch c {
		case "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES":
		default:
			return clientErr("1 validation error detected: Value '%s' at 'requiresCompatibilities' failed to satisfy constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]", c)
		}
	}
	names := map[string]bool{}
	for _, cd := range f.ContainerDefinitions {
		switch {
		case cd.Name == "":
			return clientErr("Container.name should not be null or empty.")
		case !containerNameRe.MatchString(cd.Name):
			return clientErr("Container.name contains invalid characters.")
		case cd.Image == "":
			return clientErr("Container.image should not be null or empty.")
		case !imageRe.MatchString(cd.Image):
			return clientErr("Container.image contains invalid characters.")
		case names[cd.Name]:
			// Not a verbatim ECS message: ECS rejects the duplicate, the
			// wording here is this stand-in's.
			return clientErr("Duplicate container name %q: container names must be unique within a task definition.", cd.Name)
		}
		names[cd.Name] = true
	}
	if hasCompat(f.RequiresCompatibilities, "FARGATE") {
		switch {
		case f.NetworkMode != "awsvpc":
			return clientErr("Fargate only supports network mode \u2018awsvpc\u2019.")
		case f.CPU == "":
			return clientErr("Fargate requires that 'cpu' be defined at the task level.")
		case f.Memory == "":
			return clientErr("Fargate requires that 'memory' be defined at the task level.")
		case !fargateSizeOK(string(f.CPU), string(f.Memory)):
			return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", f.CPU, f.Memory)
		}
		if f.ExecutionRoleArn == "" {
			for _, cd := range f.ContainerDefinitions {
				if isECRImage(cd.Image) {
					return clientErr("Fargate requires task definition to have execution role ARN to support ECR images.")
				}
				if cd.LogConfiguration != nil && cd.LogConfiguration.LogDriver == "awslogs" {
					return clientErr("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
				}
			}
		}
	}
	for _, cd := range f.ContainerDefinitions {
		if f.Memory == "" && cd.Memory == nil && cd.MemoryReservation == nil {
			return clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", cd.Name)
		}
	}
	return nil
}

// compatibilities computes what ECS reports as the launch types a
// definition can run on.
func compatibilities(f tdFields) []string {
	out := []string{}
	if f.NetworkMode != "awsvpc" {
		out = append(out, "EXTERNAL")
	}
	out = append(out, "EC2")
	// A definition that does not require FARGATE is not checked for an
	// execution role at register time; run on Fargate, its private ECR
	// pulls then fail for want of credentials.
	if f.NetworkMode == "awsvpc" && fargateSizeOK(string(f.CPU), string(f.Memory)) {
		out = append(out, "FARGATE")
	}
	if hasCompat(f.RequiresCompatibilities, "MANAGED_INSTANCES") {
		out = append(out, "MANAGED_INSTANCES")
	}
	return out
}

// requiresAttributes computes the container-instance attributes ECS derives
// from the features a definition uses.
func requiresAttributes(f tdFields) []map[string]string {
	set := map[string]bool{"com.amazonaws.ecs.capability.docker-remote-api.1.18": true}
	if f.TaskRoleArn != "" {
		set["com.amazonaws.ecs.capability.task-iam-role"] = true
	}
	if f.NetworkMode == "awsvpc" {
		set["ecs.capability.task-eni"] = true
	}
	for _, cd := range f.ContainerDefinitions {
		if isECRImage(cd.Image) {
			set["com.amazonaws.ecs.capability.ecr-auth"] = true
			if f.ExecutionRoleArn != "" {
				set["ecs.capability.execution-role-ecr-pull"] = true
			}
		}
		if cd.LogConfiguration != nil && cd.LogConfiguration.LogDriver != "" {
			set["com.amazonaws.ecs.capability.logging-driver."+cd.LogConfiguration.LogDriver] = true
			set["com.amazonaws.ecs.capability.docker-remote-api.1.19"] = true
			if cd.LogConfiguration.LogDriver == "awslogs" && f.ExecutionRoleArn != "" {
				set["ecs.capability.execution-role-awslogs"] = true
			}
		}
		if cd.RepositoryCredentials != nil {
			set["com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"] = true
		}
		for _, s := range cd.Secrets {
			if strings.Contains(s.ValueFrom, ":ssm:") || !strings.HasPrefix(s.ValueFrom, "arn:") {
				set["ecs.capability.secrets.ssm.environment-variables"] = true
			} else {
				set["ecs.capability.secrets.asm.environment-variables"] = true
			}
		}
		if len(cd.HealthCheck) > 0 && string(cd.HealthCheck) != "null" {
			set["ecs.capability.container-health-check"] = true
		}
		if len(cd.DependsOn) > 0 && string(cd.DependsOn) != "null" && string(cd.DependsOn) != "[]" {
			set["ecs.capability.container-ordering"] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]string, len(names))
	for i, n := range names {
		out[i] = map[string]string{"name": n}
	}
	return out
}

// renderTaskDef returns the TaskDefinition JSON: the stored document plus
// the read-only members.
func (e *ECS) renderTaskDef(td *taskDef) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(td.Doc)+8)
	for k, v := range td.Doc {
		out[k] = v
	}
	f := td.fields()
	out["taskDefinitionArn"] = rawJSON(e.taskDefArn(td.Family, td.Revision))
	out["family"] = rawJSON(td.Family)
	out["revision"] = rawJSON(td.Revision)
	out["status"] = rawJSON(td.Status)
	out["requiresAttributes"] = rawJSON(requiresAttributes(f))
	out["compatibilities"] = rawJSON(compatibilities(f))
	out["registeredAt"] = rawJSON(stamp{t: td.RegisteredAt})
	out["registeredBy"] = rawJSON(td.RegisteredBy)
	if !td.DeregisteredAt.IsZero() {
		out["deregisteredAt"] = rawJSON(stamp{t: td.DeregisteredAt})
	}
	return out
}

// tdLookupErr says why a task-definition reference did not resolve; each
// operation words it the way ECS does for that operation.
type tdLookupErr int

const (
	tdOK tdLookupErr = iota
	tdNotFound
	tdBadRevision
	tdBadARN
)

// lookupTaskDef resolves "family" (its latest ACTIVE revision),
// "family:revision" or a task-definition ARN. Callers hold e.mu.
func (e *ECS) lookupTaskDef(ref string) (*taskDef, tdLookupErr) {
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		res, ok := e.resourceOf(ref)
		if !ok {
			if strings.Count(ref, ":") < 5 || !strings.Contains(ref, ":ecs:") {
				return nil, tdBadARN
			}
			return nil, tdNotFound // another account or region
		}
		var found bool
		name, found = strings.CutPrefix(res, "task-definition/")
		if !found || !strings.Contains(name, ":") {
			return nil, tdBadARN
		}
	}
	fam, revStr, hasRev := strings.Cut(name, ":")
	f := e.st.Families[fam]
	if !hasRev {
		if f == nil {
			return nil, tdNotFound
		}
		for i := len(f.Revisions) - 1; i >= 0; i-- {
			if f.Revisions[i].Status == "ACTIVE" {
				return f.Revisions[i], tdOK
			}
		}
		return nil, tdNotFound
	}
	rev, err := strconv.Atoi(revStr)
	if err != nil || rev < 1 {
		return nil, tdBadRevision
	}
	if f == nil || rev > len(f.Revisions) {
		return nil, tdNotFound
	}
	return f.Revisions[rev-1], tdOK
}

// taskDefForLaunch resolves the task definition of a service or RunTask,
// answering with the errors ECS gives those operations.
func (e *ECS) taskDefForLaunch(ref string) (*taskDef, error) {
	if ref == "" {
		return nil, invalidParam("TaskDefinition can not be blank.")
	}
	td, why := e.lookupTaskDef(ref)
	switch why {
	case tdBadARN:
		return nil, invalidParam("Invalid task definition ARN: %s", ref)
	case tdBadRevision:
		return nil, clientErr("Invalid revision number. Number: %s", ref[strings.LastIndex(ref, ":")+1:])
	case tdNotFound:
		return nil, invalidParam("TaskDefinition not found.")
	}
	if td.Status != "ACTIVE" {
		return nil, invalidParam("TaskDefinition is inactive")
	}
	return td, nil
}

func hasInclude(include []string, what string) bool {
	for _, v := range include {
		if v == what {
			return true
		}
	}
	return false
}

func (e *ECS) describeTaskDefinition(_ context.Context, body []byte) (any, error) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	td, why := e.lookupTaskDef(in.TaskDefinition)
	switch why {
	case tdBadARN:
		return nil, invalidParam("Invalid task definition ARN: %s", in.TaskDefinition)
	case tdBadRevision:
		return nil, clientErr("Invalid revision number. Number: %s", in.TaskDefinition[strings.LastIndex(in.TaskDefinition, ":")+1:])
	case tdNotFound:
		return nil, clientErr("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": e.renderTaskDef(td)}
	if hasInclude(in.Include, "TAGS") {
		out["tags"] = nonNilTags(td.Tags)
	}
	return out, nil
}

func (e *ECS) deregisterTaskDefinition(_ context.Context, body []byte) (any, error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	name := in.TaskDefinition
	if res, ok := e.resourceOf(name); ok {
		name = strings.TrimPrefix(res, "task-definition/")
	}
	if !strings.Contains(name, ":") {
		// Deregistering is per revision; a bare family names none.
		return nil, clientErr("Task definition %q has no revision: DeregisterTaskDefinition takes family:revision or a task definition ARN.", name)
	}
	td, why := e.lookupTaskDef(in.TaskDefinition)
	switch why {
	case tdBadARN:
		return nil, invalidParam("Invalid task definition ARN: %s", in.TaskDefinition)
	case tdBadRevision:
		return nil, clientErr("Invalid revision number. Number: %s", in.TaskDefinition[strings.LastIndex(in.TaskDefinition, ":")+1:])
	case tdNotFound:
		return nil, clientErr("The specified task definition does not exist.")
	}
	if td.Status == "ACTIVE" {
		td.Status = "INACTIVE"
		td.DeregisteredAt = e.now()
	}
	return map[string]any{"taskDefinition": e.renderTaskDef(td)}, nil
}

func (e *ECS) listTaskDefinitions(_ context.Context, body []byte) (any, error) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		Sort         string `json:"sort"`
		MaxResults   *int   `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	status := in.Status
	switch status {
	case "":
		status = "ACTIVE"
	case "ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS":
	default:
		return nil, invalidParam("Invalid status: %s. Valid values are ACTIVE, INACTIVE and DELETE_IN_PROGRESS.", in.Status)
	}
	desc := false
	switch in.Sort {
	case "", "ASC":
	case "DESC":
		desc = true
	default:
		return nil, invalidParam("Invalid sort: %s. Valid values are ASC and DESC.", in.Sort)
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	type entry struct {
		family string
		rev    int
	}
	var all []entry
	for name, fam := range e.st.Families {
		// ECS reads familyPrefix as the full family name: only that
		// family's revisions are listed.
		if in.FamilyPrefix != "" && name != in.FamilyPrefix {
			continue
		}
		for _, td := range fam.Revisions {
			if td.Status == status {
				all = append(all, entry{name, td.Revision})
			}
		}
	}
	e.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.family != b.family {
			return (a.family < b.family) != desc
		}
		return (a.rev < b.rev) != desc
	})
	arns := make([]string, len(all))
	for i, en := range all {
		arns[i] = e.taskDefArn(en.family, en.rev)
	}
	return listPage("taskDefinitionArns", arns, in.NextToken, limit)
}

// listTaskDefinitionFamilies lists family names (familyPrefix is a true
// prefix here, unlike ListTaskDefinitions). By default families with and
// without ACTIVE revisions are both listed; ACTIVE keeps those with one,
// INACTIVE those with none.
func (e *ECS) listTaskDefinitionFamilies(_ context.Context, body []byte) (any, error) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		MaxResults   *int   `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	switch in.Status {
	case "", "ALL", "ACTIVE", "INACTIVE":
	default:
		return nil, invalidParam("Invalid status: %s. Valid values are ACTIVE, INACTIVE and ALL.", in.Status)
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	var names []string
	for name, fam := range e.st.Families {
		if !strings.HasPrefix(name, in.FamilyPrefix) {
			continue
		}
		active := false
		for _, td := range fam.Revisions {
			active = active || td.Status == "ACTIVE"
		}
		if (in.Status == "ACTIVE" && !active) || (in.Status == "INACTIVE" && active) {
			continue
		}
		names = append(names, name)
	}
	e.mu.Unlock()
	sort.Strings(names)
	return listPage("families", names, in.NextToken, limit)
}
