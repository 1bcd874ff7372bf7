package ecssim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
)

// TestCreateEchoesTags: CreateCluster and CreateService return the
// resource with the tags they were given, as ECS does (moto agrees).
func TestCreateEchoesTags(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	tags := []ecstypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}
	cl, err := b.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod"), Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tagMap(tags), tagMap(cl.Cluster.Tags)); diff != "" {
		t.Errorf("CreateCluster tags (-want +got):\n%s", diff)
	}
	td := register(t, b.client, fargateTaskDef("web", "nginx:1.27"))
	svc, err := b.client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0), NetworkConfiguration: awsvpc, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tagMap(tags), tagMap(svc.Service.Tags)); diff != "" {
		t.Errorf("CreateService tags (-want +got):\n%s", diff)
	}
	up, err := b.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tagMap(tags), tagMap(up.Service.Tags)); diff != "" {
		t.Errorf("UpdateService tags (-want +got):\n%s", diff)
	}
	// DescribeServices still shows tags only when asked (include TAGS).
	d, err := b.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil || len(d.Services) != 1 || len(d.Services[0].Tags) != 0 {
		t.Errorf("DescribeServices without include: %v %+v, want no tags", err, d)
	}
}

// TestFargateTaskFollowsItsDefinition: a Fargate task's ephemeral storage
// is its task definition's (20 GiB by default, RunTask's override wins),
// and an awsvpc task carries an ElasticNetworkInterface attachment in the
// first subnet, precreated while it provisions and deleted once stopped.
func TestFargateTaskFollowsItsDefinition(t *testing.T) {
	b := newBed(t, nil)
	ctx := context.Background()
	b.createCluster(t, "prod")
	big := fargateTaskDef("big", "nginx:1.27")
	big.EphemeralStorage = &ecstypes.EphemeralStorage{SizeInGiB: 40}
	cases := []struct {
		name     string
		td       *ecs.RegisterTaskDefinitionInput
		override *ecstypes.TaskOverride
		want     int32
	}{
		{"default", fargateTaskDef("small", "nginx:1.27"), nil, 20},
		{"task definition", big, nil, 40},
		{"override", big, &ecstypes.TaskOverride{EphemeralStorage: &ecstypes.EphemeralStorage{SizeInGiB: 60}}, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arn := register(t, b.client, tc.td)
			out, err := b.client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(arn),
				LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: awsvpc, Overrides: tc.override})
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("RunTask: %v %+v", err, out)
			}
			task := out.Tasks[0]
			for name, got := range map[string]*ecstypes.EphemeralStorage{"ephemeralStorage": task.EphemeralStorage} {
				if got == nil || got.SizeInGiB != tc.want {
					t.Errorf("%s = %+v, want %d GiB", name, got, tc.want)
				}
			}
			if task.FargateEphemeralStorage == nil || task.FargateEphemeralStorage.SizeInGiB != tc.want {
				t.Errorf("fargateEphemeralStorage = %+v, want %d GiB", task.FargateEphemeralStorage, tc.want)
			}
			if len(task.Attachments) != 1 {
				t.Fatalf("attachments = %+v, want one ENI", task.Attachments)
			}
			a := task.Attachments[0]
			details := map[string]string{}
			for _, d := range a.Details {
				details[aws.ToString(d.Name)] = aws.ToString(d.Value)
			}
			if aws.ToString(a.Type) != "ElasticNetworkInterface" || aws.ToString(a.Status) != "PRECREATED" || aws.ToString(a.Id) == "" {
				t.Errorf("attachment %s %s %s, want an ElasticNetworkInterface PRECREATED with an id", aws.ToString(a.Id), aws.ToString(a.Type), aws.ToString(a.Status))
			}
			if details["subnetId"] != "subnet-0a1b2c3d" || !strings.HasPrefix(details["networkInterfaceId"], "eni-") ||
				details["macAddress"] == "" || details["privateIPv4Address"] == "" || !strings.HasSuffix(details["privateDnsName"], ".ec2.internal") {
				t.Errorf("attachment details %v", details)
			}
			if _, err := b.client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: task.TaskArn}); err != nil {
				t.Fatal(err)
			}
			b.tick(t)
			d, err := b.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{aws.ToString(task.TaskArn)}})
			if err != nil || len(d.Tasks) != 1 {
				t.Fatalf("DescribeTasks: %v %+v", err, d)
			}
			st := d.Tasks[0]
			if aws.ToString(st.LastStatus) != "STOPPED" || len(st.Attachments) != 1 || aws.ToString(st.Attachments[0].Status) != "DELETED" {
				t.Errorf("stopped task: status %s attachments %+v, want STOPPED with a DELETED attachment", aws.ToString(st.LastStatus), st.Attachments)
			}
			if st.EphemeralStorage == nil || st.EphemeralStorage.SizeInGiB != tc.want {
				t.Errorf("stopped task's ephemeralStorage = %+v, want %d GiB", st.EphemeralStorage, tc.want)
			}
		})
	}
}
