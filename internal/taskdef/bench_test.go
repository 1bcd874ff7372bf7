package taskdef_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// BenchmarkRewrite is the CLI's work on a 10-container task definition:
// decode, substitute every image, read and add tags, encode. Target: under
// 200µs per operation on 2 cores.
func BenchmarkRewrite(b *testing.B) {
	input := readFile(b, "ten-containers.json")
	images := make(map[string]string, 10)
	for i := range 10 {
		images[fmt.Sprintf("app%d", i)] = fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/example/service-%d:1.%d.0", i, i)
	}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		doc, err := taskdef.Decode(input)
		if err != nil {
			b.Fatal(err)
		}
		rewritten, err := doc.WithImages(images)
		if err != nil {
			b.Fatal(err)
		}
		prov := taskdef.Provenance{
			SourceArn:  doc.SourceArn(),
			Reason:     "Docker Hub rate limit",
			Generation: taskdef.GenerationOf(doc.Tags()) + 1,
			RewriteID:  taskdef.RewriteID(doc.SourceArn(), images),
		}
		if _, err := rewritten.WithTags(prov.Tags()...).Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgentRoundTrip is the agent's conversion work: FromSDK, rewrite,
// RegisterInput.
func BenchmarkAgentRoundTrip(b *testing.B) {
	doc, err := taskdef.Decode(readFile(b, "ten-containers.json"))
	if err != nil {
		b.Fatal(err)
	}
	in, err := doc.RegisterInput()
	if err != nil {
		b.Fatal(err)
	}
	td := registerToTaskDefinition(in)
	images := map[string]string{"app0": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/example/service-0:1.0.0"}
	b.ReportAllocs()
	for b.Loop() {
		d, err := taskdef.FromSDK(td, in.Tags)
		if err != nil {
			b.Fatal(err)
		}
		d, err = d.WithImages(images)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.RegisterInput(); err != nil {
			b.Fatal(err)
		}
	}
}

func registerToTaskDefinition(in *ecs.RegisterTaskDefinitionInput) *ecstypes.TaskDefinition {
	var td ecstypes.TaskDefinition
	src, dst := reflect.ValueOf(in).Elem(), reflect.ValueOf(&td).Elem()
	for i := 0; i < dst.NumField(); i++ {
		if f := dst.Type().Field(i); f.IsExported() {
			if s := src.FieldByName(f.Name); s.IsValid() && s.Type() == f.Type {
				dst.Field(i).Set(s)
			}
		}
	}
	return &td
}
