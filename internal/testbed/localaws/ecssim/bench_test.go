package ecssim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
)

// BenchmarkRegisterTaskDefinition measures a rich registration through
// the operation itself (no HTTP).
func BenchmarkRegisterTaskDefinition(b *testing.B) {
	e, err := ecssim.New(ecssim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	op := e.Service().Ops["RegisterTaskDefinition"]
	body := readFile(b, "taskdef-rich.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op(context.Background(), body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeTaskDefinitionSDK measures a describe round trip with
// the SDK client over loopback HTTP.
func BenchmarkDescribeTaskDefinitionSDK(b *testing.B) {
	bd := newBed(b, nil)
	register(b, bd.client, fargateTaskDef("web", "nginx:1.27"))
	in := &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bd.client.DescribeTaskDefinition(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// nopPuller succeeds at once, so the benchmark measures the scheduler.
type nopPuller struct{}

func (nopPuller) Pull(context.Context, ecssim.PullRequest) error { return nil }

// BenchmarkTickSteady measures a scheduling round over 50 services of 4
// running tasks each, with nothing to do.
func BenchmarkTickSteady(b *testing.B) {
	bd := newBed(b, nopPuller{})
	bd.createCluster(b, "prod")
	td := register(b, bd.client, fargateTaskDef("web", "nginx:1.27"))
	for i := range 50 {
		if _, err := bd.client.CreateService(context.Background(), &ecs.CreateServiceInput{
			Cluster: aws.String("prod"), ServiceName: aws.String(fmt.Sprintf("svc-%d", i)), TaskDefinition: aws.String(td),
			DesiredCount: aws.Int32(4), NetworkConfiguration: awsvpc,
		}); err != nil {
			b.Fatal(err)
		}
	}
	bd.tick(b)
	b.ReportAllocs()
	for b.Loop() {
		bd.tick(b)
	}
}

// BenchmarkPullFromRegistry measures one successful pull (HEAD, manifest
// GET, blob HEADs) from an in-process registry through the redirect.
func BenchmarkPullFromRegistry(b *testing.B) {
	reg := newTestRegistry(b, "")
	img, err := randomImage()
	if err != nil {
		b.Fatal(err)
	}
	reg.push(b, "library/busybox:1.36", img)
	p, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{Hosts: map[string]string{"docker.io": reg.srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	req := ecssim.PullRequest{Image: "busybox:1.36", Platform: "linux/amd64"}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Pull(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
