package ecssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
)

// toRegisterInput is what pullheal does with a described definition: keep
// every member a register request takes, and the tags.
func toRegisterInput(td *ecstypes.TaskDefinition, tags []ecstypes.Tag) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  td.Family,
		TaskRoleArn:             td.TaskRoleArn,
		ExecutionRoleArn:        td.ExecutionRoleArn,
		NetworkMode:             td.NetworkMode,
		ContainerDefinitions:    td.ContainerDefinitions,
		Volumes:                 td.Volumes,
		PlacementConstraints:    td.PlacementConstraints,
		RequiresCompatibilities: td.RequiresCompatibilities,
		Cpu:                     td.Cpu,
		Memory:                  td.Memory,
		PidMode:                 td.PidMode,
		IpcMode:                 td.IpcMode,
		ProxyConfiguration:      td.ProxyConfiguration,
		//lint:ignore SA1019 deprecated in ECS, but a definition that has it must keep it
		InferenceAccelerators: td.InferenceAccelerators,
		EphemeralStorage:      td.EphemeralStorage,
		RuntimePlatform:       td.RuntimePlatform,
		EnableFaultInjection:  td.EnableFaultInjection,
		Tags:                  tags,
	}
}

// asJSON renders an SDK value as generic JSON for comparison; the SDK
// types carry no JSON tags, so member names are the Go field names.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	var out any
	if err := json.Unmarshal(mustJSON(t, v), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRegisterDescribeRoundTripKeepsEveryField(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	var in ecs.RegisterTaskDefinitionInput
	if err := json.Unmarshal(readFile(t, "taskdef-rich.json"), &in); err != nil {
		t.Fatalf("decode testdata: %v", err)
	}
	reg, err := b.client.RegisterTaskDefinition(ctx, &in)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if got, want := aws.ToString(reg.TaskDefinition.TaskDefinitionArn), "arn:aws:ecs:us-east-1:123456789012:task-definition/payments-api:1"; got != want {
		t.Errorf("arn = %s, want %s", got, want)
	}
	if diff := cmp.Diff(asJSON(t, in.Tags), asJSON(t, reg.Tags)); diff != "" {
		t.Errorf("register response tags (-sent +got):\n%s", diff)
	}

	out, err := b.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("payments-api"),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if diff := cmp.Diff(asJSON(t, &in), asJSON(t, toRegisterInput(out.TaskDefinition, out.Tags))); diff != "" {
		t.Errorf("round trip lost or changed fields (-registered +described):\n%s", diff)
	}

	td := out.TaskDefinition
	if td.Revision != 1 || td.Status != ecstypes.TaskDefinitionStatusActive {
		t.Errorf("revision %d status %s, want 1 ACTIVE", td.Revision, td.Status)
	}
	if got, want := aws.ToString(td.RegisteredBy), "arn:aws:iam::123456789012:root"; got != want {
		t.Errorf("registeredBy = %s, want %s", got, want)
	}
	if !td.RegisteredAt.Equal(b.clock.Now().Truncate(1e6)) {
		t.Errorf("registeredAt = %v, want %v", td.RegisteredAt, b.clock.Now())
	}
	if diff := cmp.Diff([]ecstypes.Compatibility{"EC2", "FARGATE"}, td.Compatibilities); diff != "" {
		t.Errorf("compatibilities (-want +got):\n%s", diff)
	}
	var attrs []string
	for _, a := range td.RequiresAttributes {
		attrs = append(attrs, aws.ToString(a.Name))
	}
	for _, want := range []string{
		"com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull", "ecs.capability.task-eni",
		"com.amazonaws.ecs.capability.task-iam-role", "ecs.capability.execution-role-awslogs",
		"com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager",
		"ecs.capability.secrets.asm.environment-variables", "ecs.capability.secrets.ssm.environment-variables",
		"ecs.capability.container-health-check", "ecs.capability.container-ordering",
	} {
		if !contains(attrs, want) {
			t.Errorf("requiresAttributes %v lack %s", attrs, want)
		}
	}

	// Without include TAGS there are no tags at the top.
	plain, err := b.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: reg.TaskDefinition.TaskDefinitionArn})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Tags != nil {
		t.Errorf("tags without include TAGS: %v", plain.Tags)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// subsetDiff reports every member of want that got lacks or holds with a
// different value; members only in got are allowed.
func subsetDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var out []string
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k+": missing")
				continue
			}
			out = append(out, subsetDiff(path+"."+k, v, gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", path, len(w), got)}
		}
		var out []string
		for i := range w {
			out = append(out, subsetDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if !cmp.Equal(want, got) {
		return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
	}
	return nil
}

func TestRegisterKeepsUnknownFieldsOverTheWire(t *testing.T) {
	b := newBed(t, nil)
	body := readFile(t, "taskdef-unknown-fields.json")
	status, resp := b.raw(t, "RegisterTaskDefinition", body)
	if status != http.StatusOK {
		t.Fatalf("register: %d %s", status, resp)
	}
	status, resp = b.raw(t, "DescribeTaskDefinition", []byte(`{"taskDefinition":"future:1","include":["TAGS"]}`))
	if status != http.StatusOK {
		t.Fatalf("describe: %d %s", status, resp)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, resp, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, "taskdef-unknown-fields.describe.golden.json", pretty.Bytes())

	// Every member sent comes back unchanged, byte for byte for numbers
	// no float64 could hold, except the read-only members ECS computes
	// and the units ECS normalises.
	var sent, got map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&sent); err != nil {
		t.Fatal(err)
	}
	dec = json.NewDecoder(bytes.NewReader(resp))
	dec.UseNumber()
	var out struct {
		TaskDefinition map[string]any `json:"taskDefinition"`
		Tags           any            `json:"tags"`
	}
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	got = out.TaskDefinition
	if diff := cmp.Diff(sent["tags"], out.Tags); diff != "" {
		t.Errorf("tags (-sent +got):\n%s", diff)
	}
	for _, k := range []string{"tags", "taskDefinitionArn", "revision", "status", "cpu", "memory"} {
		delete(sent, k)
	}
	if diffs := subsetDiff("taskDefinition", sent, got); len(diffs) > 0 {
		t.Errorf("register -> describe lost or changed members:\n%s", strings.Join(diffs, "\n"))
	}
	want := map[string]any{"cpu": "256", "memory": "512", "revision": json.Number("1"), "status": "ACTIVE",
		"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/future:1"}
	for k, v := range want {
		if !cmp.Equal(got[k], v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestConcurrentRegistrationsGetUniqueRevisions(t *testing.T) {
	b := newBed(t, nil)
	const workers, each = 8, 6
	var (
		mu   sync.Mutex
		revs []int
		wg   sync.WaitGroup
	)
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				in := fargateTaskDef("shared", fmt.Sprintf("nginx:1.%d.%d", w, i))
				out, err := b.client.RegisterTaskDefinition(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				revs = append(revs, int(out.TaskDefinition.Revision))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("register: %v", err)
	}
	sort.Ints(revs)
	want := make([]int, workers*each)
	for i := range want {
		want[i] = i + 1
	}
	if diff := cmp.Diff(want, revs); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
}

func TestRegisterValidation(t *testing.T) {
	ecrImage := "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"
	cases := []struct {
		name    string
		mutate  func(*ecs.RegisterTaskDefinitionInput)
		wantErr error
		wantMsg string
	}{
		{"family with invalid characters", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("web@prod") },
			&ecstypes.ClientException{}, "Family contains invalid characters."},
		{"no containers", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions = []ecstypes.ContainerDefinition{} },
			&ecstypes.ClientException{}, "Container list cannot be empty."},
		{"container without image", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Image = nil },
			&ecstypes.ClientException{}, "Container.image should not be null or empty."},
		{"container without name", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Name = aws.String("") },
			&ecstypes.ClientException{}, "Container.name should not be null or empty."},
		{"image with a space", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Image = aws.String("nginx 1.27") },
			&ecstypes.ClientException{}, "Container.image contains invalid characters."},
		{"fargate in bridge mode", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = ecstypes.NetworkModeBridge },
			&ecstypes.ClientException{}, "Fargate only supports network mode \u2018awsvpc\u2019."},
		{"fargate without task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = nil },
			&ecstypes.ClientException{}, "Fargate requires that 'cpu' be defined at the task level."},
		{"fargate without task memory", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = nil },
			&ecstypes.ClientException{}, "Fargate requires that 'memory' be defined at the task level."},
		{"fargate size that does not exist", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("4096") },
			&ecstypes.ClientException{}, "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."},
		{"fargate ECR image without execution role", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ExecutionRoleArn = nil
			in.ContainerDefinitions[0].Image = aws.String(ecrImage)
		}, &ecstypes.ClientException{}, "Fargate requires task definition to have execution role ARN to support ECR images."},
		{"bad task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("lots") },
			&ecstypes.ClientException{}, "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"ec2 container without memory", func(in *ecs.RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities, in.Memory, in.NetworkMode = nil, nil, ecstypes.NetworkModeBridge
		}, &ecstypes.ClientException{}, "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."},
		{"51 tags", func(in *ecs.RegisterTaskDefinitionInput) {
			for i := range 51 {
				in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
			}
		}, &ecstypes.InvalidParameterException{}, "Too many tags: 51 given, a resource can have at most 50."},
		{"reserved tag prefix", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("x")}}
		}, &ecstypes.InvalidParameterException{}, `Tag key "aws:cloudformation:stack-name" uses the reserved prefix aws:, which is for AWS use only.`},
		{"tag value too long", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}
		}, &ecstypes.InvalidParameterException{}, `Value of tag "k" is 257 characters; tag values must be at most 256.`},
	}
	b := newBed(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := fargateTaskDef("web", "nginx:1.27")
			tc.mutate(in)
			_, err := b.client.RegisterTaskDefinition(context.Background(), in)
			checkAPIError(t, err, tc.wantErr, tc.wantMsg)
		})
	}
	// Nothing above was registered.
	if _, err := b.client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")}); err == nil {
		t.Error("a rejected registration left a revision behind")
	}
}

// checkAPIError asserts err is of want's type (errors.As) with message msg.
func checkAPIError(t *testing.T, err error, want error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %T %q", want, msg)
	}
	var got string
	switch w := want.(type) {
	case *ecstypes.ClientException:
		if !errors.As(err, &w) {
			t.Fatalf("error %v is not a ClientException", err)
		}
		got = w.ErrorMessage()
	case *ecstypes.InvalidParameterException:
		if !errors.As(err, &w) {
			t.Fatalf("error %v is not an InvalidParameterException", err)
		}
		got = w.ErrorMessage()
	case *ecstypes.ClusterNotFoundException:
		if !errors.As(err, &w) {
			t.Fatalf("error %v is not a ClusterNotFoundException", err)
		}
		got = w.ErrorMessage()
	case *ecstypes.ServiceNotFoundException:
		if !errors.As(err, &w) {
			t.Fatalf("error %v is not a ServiceNotFoundException", err)
		}
		got = w.ErrorMessage()
	case *ecstypes.ServiceNotActiveException:
		if !errors.As(err, &w) {
			t.Fatalf("error %v is not a ServiceNotActiveException", err)
		}
		got = w.ErrorMessage()
	default:
		t.Fatalf("checkAPIError does not know %T", want)
	}
	if got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
}

func TestDescribeTaskDefinitionErrors(t *testing.T) {
	b := newBed(t, nil)
	register(t, b.client, fargateTaskDef("web", "nginx:1.27"))
	cases := []struct {
		ref     string
		wantErr error
		wantMsg string
	}{
		{"unknown", &ecstypes.ClientException{}, "Unable to describe task definition."},
		{"web:2", &ecstypes.ClientException{}, "Unable to describe task definition."},
		{"web:zero", &ecstypes.ClientException{}, "Invalid revision number. Number: zero"},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/unknown:1", &ecstypes.ClientException{}, "Unable to describe task definition."},
		{"arn:aws:ecs:eu-west-1:210987654321:task-definition/web:1", &ecstypes.ClientException{}, "Unable to describe task definition."},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/web", &ecstypes.InvalidParameterException{}, "Invalid task definition ARN: arn:aws:ecs:us-east-1:123456789012:cluster/web"},
		{"arn:nonsense", &ecstypes.InvalidParameterException{}, "Invalid task definition ARN: arn:nonsense"},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			_, err := b.client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(tc.ref)})
			checkAPIError(t, err, tc.wantErr, tc.wantMsg)
		})
	}
}

func TestListAndDeregisterTaskDefinitions(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	for _, fam := range []string{"web", "api", "web", "web-canary", "api", "web"} {
		register(t, b.client, fargateTaskDef(fam, "nginx:1.27"))
	}
	if _, err := b.client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	arn := func(s string) string { return "arn:aws:ecs:us-east-1:123456789012:task-definition/" + s }
	cases := []struct {
		name string
		in   ecs.ListTaskDefinitionsInput
		want []string
	}{
		{"all active, ascending", ecs.ListTaskDefinitionsInput{}, []string{arn("api:1"), arn("api:2"), arn("web:1"), arn("web:3"), arn("web-canary:1")}},
		{"descending", ecs.ListTaskDefinitionsInput{Sort: ecstypes.SortOrderDesc}, []string{arn("web-canary:1"), arn("web:3"), arn("web:1"), arn("api:2"), arn("api:1")}},
		{"one family (familyPrefix is the full name)", ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web")}, []string{arn("web:1"), arn("web:3")}},
		{"inactive", ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusInactive}, []string{arn("web:2")}},
		{"paged by two", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(2)}, []string{arn("api:1"), arn("api:2"), arn("web:1"), arn("web:3"), arn("web-canary:1")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			pages := 0
			p := ecs.NewListTaskDefinitionsPaginator(b.client, &tc.in)
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				got = append(got, out.TaskDefinitionArns...)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.in.MaxResults != nil && pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
		})
	}

	// The family now resolves to its latest ACTIVE revision; the INACTIVE
	// one stays describable by revision.
	out, err := b.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
	if err != nil {
		t.Fatal(err)
	}
	if out.TaskDefinition.Status != ecstypes.TaskDefinitionStatusInactive || out.TaskDefinition.DeregisteredAt == nil {
		t.Errorf("web:2 status %s deregisteredAt %v, want INACTIVE with a time", out.TaskDefinition.Status, out.TaskDefinition.DeregisteredAt)
	}
	_, err = b.client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:9")})
	checkAPIError(t, err, &ecstypes.ClientException{}, "The specified task definition does not exist.")
	_, err = b.client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("garbage!")})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, "Invalid nextToken.")
}

// TestListTaskDefinitionFamilies: familyPrefix is a true prefix here, and
// the default lists families with and without ACTIVE revisions (ECS API
// reference, ListTaskDefinitionFamilies).
func TestListTaskDefinitionFamilies(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	for _, fam := range []string{"web", "api", "web-canary", "worker"} {
		register(t, b.client, fargateTaskDef(fam, "nginx:1.27"))
	}
	if _, err := b.client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("worker:1")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   ecs.ListTaskDefinitionFamiliesInput
		want []string
	}{
		{"all", ecs.ListTaskDefinitionFamiliesInput{}, []string{"api", "web", "web-canary", "worker"}},
		{"ALL", ecs.ListTaskDefinitionFamiliesInput{Status: ecstypes.TaskDefinitionFamilyStatusAll}, []string{"api", "web", "web-canary", "worker"}},
		{"prefix", ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("web")}, []string{"web", "web-canary"}},
		{"active", ecs.ListTaskDefinitionFamiliesInput{Status: ecstypes.TaskDefinitionFamilyStatusActive}, []string{"api", "web", "web-canary"}},
		{"inactive", ecs.ListTaskDefinitionFamiliesInput{Status: ecstypes.TaskDefinitionFamilyStatusInactive}, []string{"worker"}},
		{"paged by one", ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(1)}, []string{"api", "web", "web-canary", "worker"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			p := ecs.NewListTaskDefinitionFamiliesPaginator(b.client, &tc.in)
			for i := 0; p.HasMorePages() && i < 10; i++ {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out.Families...)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := b.client.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{Status: "GONE"})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, "Invalid status: GONE. Valid values are ACTIVE, INACTIVE and ALL.")
}
