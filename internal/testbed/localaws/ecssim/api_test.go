package ecssim_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
)

func tagMap(tags []ecstypes.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func TestTagsOnTaskDefinitionsServicesAndClusters(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	if _, err := b.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod"), Tags: []ecstypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	in := fargateTaskDef("web", "nginx:1.27")
	in.Tags = []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("payments")}}
	tdArn := register(t, b.client, in)
	svc, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(tdArn), DesiredCount: aws.Int32(0),
		NetworkConfiguration: awsvpc, Tags: []ecstypes.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arns := map[string]string{
		"task definition": tdArn,
		"service":         aws.ToString(svc.Service.ServiceArn),
		"cluster":         "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
	}
	initial := map[string]map[string]string{
		"task definition": {"team": "payments"},
		"service":         {"owner": "ops"},
		"cluster":         {"env": "prod"},
	}
	for kind, arn := range arns {
		t.Run(kind, func(t *testing.T) {
			list := func() map[string]string {
				out, err := b.client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
				if err != nil {
					t.Fatalf("list tags: %v", err)
				}
				return tagMap(out.Tags)
			}
			if diff := cmp.Diff(initial[kind], list()); diff != "" {
				t.Errorf("initial tags (-want +got):\n%s", diff)
			}
			if _, err := b.client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []ecstypes.Tag{
				{Key: aws.String("pullheal:reason"), Value: aws.String("rate-limit")}, {Key: aws.String("extra"), Value: aws.String("1")},
			}}); err != nil {
				t.Fatalf("tag: %v", err)
			}
			if _, err := b.client.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"extra", "absent"}}); err != nil {
				t.Fatalf("untag: %v", err)
			}
			want := map[string]string{"pullheal:reason": "rate-limit"}
			for k, v := range initial[kind] {
				want[k] = v
			}
			if diff := cmp.Diff(want, list()); diff != "" {
				t.Errorf("tags after tag/untag (-want +got):\n%s", diff)
			}
		})
	}

	// include TAGS on the Describe calls.
	ds, err := b.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}, Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(ds.Services[0].Tags); got["owner"] != "ops" {
		t.Errorf("DescribeServices include TAGS: %v", got)
	}
	dc, err := b.client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(dc.Clusters[0].Tags); got["env"] != "prod" {
		t.Errorf("DescribeClusters include TAGS: %v", got)
	}

	// Tagging past 50, a reserved key, or something that does not exist.
	var many []ecstypes.Tag
	for i := range 49 {
		many = append(many, ecstypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	_, err = b.client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(tdArn), Tags: many})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, "Too many tags: the resource would have 51, a resource can have at most 50.")
	_, err = b.client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(tdArn), Tags: []ecstypes.Tag{{Key: aws.String("AWS:x"), Value: aws.String("v")}}})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, `Tag key "AWS:x" uses the reserved prefix aws:, which is for AWS use only.`)
	_, err = b.client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:123456789012:repository/web")})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, "The ARN provided is invalid.")
	_, err = b.client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7")})
	checkAPIError(t, err, &ecstypes.ClientException{}, "The specified task definition does not exist.")
	_, err = b.client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/prod/api")})
	checkAPIError(t, err, &ecstypes.ServiceNotFoundException{}, "Service not found.")
	_, err = b.client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/staging")})
	checkAPIError(t, err, &ecstypes.ClusterNotFoundException{}, "Cluster not found.")
}

func TestClusters(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	first, err := b.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	if err != nil {
		t.Fatalf("creating an existing cluster: %v", err)
	}
	if aws.ToString(first.Cluster.ClusterArn) != aws.ToString(again.Cluster.ClusterArn) || aws.ToString(first.Cluster.Status) != "ACTIVE" {
		t.Errorf("clusters %s / %s", aws.ToString(first.Cluster.ClusterArn), aws.ToString(again.Cluster.ClusterArn))
	}
	if _, err := b.client.CreateCluster(ctx, &ecs.CreateClusterInput{}); err != nil {
		t.Fatal(err)
	}
	out, err := b.client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", "arn:aws:ecs:us-east-1:123456789012:cluster/default", "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range out.Clusters {
		names = append(names, aws.ToString(c.ClusterName))
	}
	if diff := cmp.Diff([]string{"prod", "default"}, names); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:cluster/staging" || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("failures %+v", out.Failures)
	}
	list, err := b.client.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ClusterArns) != 2 {
		t.Errorf("list clusters %v", list.ClusterArns)
	}
	_, err = b.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bad name")})
	checkAPIError(t, err, &ecstypes.InvalidParameterException{}, `Cluster name can have up to 255 characters: letters (uppercase and lowercase), numbers, underscores and hyphens; got "bad name".`)
}

func TestServiceAndTaskErrors(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	b.createCluster(t, "prod")
	td := register(t, b.client, fargateTaskDef("web", "nginx:1.27"))
	cdIn := fargateTaskDef("web-cd", "nginx:1.27")
	cd := register(t, b.client, cdIn)
	if _, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("blue-green"), TaskDefinition: aws.String(cd), DesiredCount: aws.Int32(0),
		NetworkConfiguration: awsvpc, DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("gone"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0), NetworkConfiguration: awsvpc,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		call    func() error
		wantErr error
		wantMsg string
	}{
		{"create service in a missing cluster", func() error {
			_, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("nope"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc})
			return err
		}, &ecstypes.ClusterNotFoundException{}, "Cluster not found."},
		{"create service without network configuration", func() error {
			_, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
			return err
		}, &ecstypes.InvalidParameterException{}, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"create service with an unknown task definition", func() error {
			_, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web:9"), DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc})
			return err
		}, &ecstypes.InvalidParameterException{}, "TaskDefinition not found."},
		{"create an existing service", func() error {
			_, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("blue-green"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), NetworkConfiguration: awsvpc})
			return err
		}, &ecstypes.InvalidParameterException{}, "Creation of service was not idempotent."},
		{"update a missing service", func() error {
			_, err := b.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: aws.String(td)})
			return err
		}, &ecstypes.ServiceNotFoundException{}, "Service not found."},
		{"update a deleted service", func() error {
			_, err := b.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("gone"), DesiredCount: aws.Int32(1)})
			return err
		}, &ecstypes.ServiceNotActiveException{}, "Service was not ACTIVE."},
		{"new revision on a CODE_DEPLOY service", func() error {
			_, err := b.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("blue-green"), TaskDefinition: aws.String(td)})
			return err
		}, &ecstypes.InvalidParameterException{}, "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy or a task set to deploy a new revision."},
		{"run task with an unknown container override", func() error {
			_, err := b.client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpc,
				Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("sidecar")}}}})
			return err
		}, &ecstypes.InvalidParameterException{}, "Override for container named sidecar is not a container in the TaskDefinition."},
		{"run a bridge definition on fargate", func() error {
			in := fargateTaskDef("bridge", "nginx:1.27")
			in.RequiresCompatibilities, in.NetworkMode = nil, ecstypes.NetworkModeBridge
			arn := register(t, b.client, in)
			_, err := b.client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(arn), LaunchType: ecstypes.LaunchTypeFargate})
			return err
		}, &ecstypes.InvalidParameterException{}, "Task definition does not support launch_type FARGATE."},
		{"describe no tasks", func() error {
			_, err := b.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{}})
			return err
		}, &ecstypes.InvalidParameterException{}, "Tasks cannot be empty."},
		{"list tasks of a missing service", func() error {
			_, err := b.client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String("api")})
			return err
		}, &ecstypes.ServiceNotFoundException{}, "Service not found."},
		{"list tasks of a family with a revision", func() error {
			_, err := b.client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), Family: aws.String("web:1")})
			return err
		}, &ecstypes.InvalidParameterException{}, `family must match ^[a-zA-Z0-9\-_]+$`},
		{"delete a scaled service", func() error {
			if _, err := b.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("blue-green"), DesiredCount: aws.Int32(2)}); err != nil {
				return err
			}
			_, err := b.client.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("blue-green")})
			return err
		}, &ecstypes.InvalidParameterException{}, "The service cannot be stopped while it is scaled above 0."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkAPIError(t, tc.call(), tc.wantErr, tc.wantMsg)
		})
	}

	// DescribeServices reports unknown services as failures, not errors.
	out, err := b.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"blue-green", "api", "gone"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range out.Services {
		got = append(got, aws.ToString(s.ServiceName)+" "+aws.ToString(s.Status)+" "+string(s.DeploymentController.Type))
	}
	if diff := cmp.Diff([]string{"blue-green ACTIVE CODE_DEPLOY", "gone DRAINING ECS"}, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:service/prod/api" || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("failures %+v", out.Failures)
	}
	// A tick finishes draining the deleted service.
	b.tick(t)
	out, err = b.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"gone"}})
	if err != nil || aws.ToString(out.Services[0].Status) != "INACTIVE" {
		t.Errorf("deleted service after a tick: %v %+v", err, out)
	}
}

func TestListServicesPages(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	b.createCluster(t, "prod")
	td := register(t, b.client, fargateTaskDef("web", "nginx:1.27"))
	var want []string
	for i := range 12 {
		name := fmt.Sprintf("svc-%02d", i)
		if _, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0), NetworkConfiguration: awsvpc}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "arn:aws:ecs:us-east-1:123456789012:service/prod/"+name)
	}
	var got []string
	pages := 0
	p := ecs.NewListServicesPaginator(b.client, &ecs.ListServicesInput{Cluster: aws.String("prod")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, out.ServiceArns...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if pages != 2 {
		t.Errorf("%d pages, want 2 (ECS pages services by 10)", pages)
	}
}

func TestWireErrorShape(t *testing.T) {
	b := newBed(t, nil)
	status, body := b.raw(t, "DescribeTaskDefinition", []byte(`{"taskDefinition":"unknown"}`))
	if status != http.StatusBadRequest || string(body) != `{"__type":"ClientException","message":"Unable to describe task definition."}` {
		t.Errorf("%d %s", status, body)
	}
	status, body = b.raw(t, "RegisterTaskDefinition", []byte(`{"family":`))
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"__type":"SerializationException"`) {
		t.Errorf("malformed JSON: %d %s", status, body)
	}
	status, body = b.raw(t, "RegisterTaskDefinition", []byte(`{"family":"x","containerDefinitions":[{"name":"a","image":"b","cpu":"lots"}]}`))
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"__type":"SerializationException"`) {
		t.Errorf("wrong member type: %d %s", status, body)
	}
}
