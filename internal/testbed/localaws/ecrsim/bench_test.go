package ecrsim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
)

// BenchmarkPushPull pushes a 3-layer image (3 x 32 KiB) into a fresh
// repository and pulls its manifest and layers back.
func BenchmarkPushPull(b *testing.B) {
	bd := newBed(b)
	img, err := random.Image(32<<10, 3)
	if err != nil {
		b.Fatal(err)
	}
	opts := bd.opts(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		repo := fmt.Sprintf("bench/r%d", i)
		i++
		if _, err := bd.api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(bd.ref(b, repo+":1"), img, opts...); err != nil {
			b.Fatal(err)
		}
		got, err := remote.Image(bd.ref(b, repo+":1"), opts...)
		if err != nil {
			b.Fatal(err)
		}
		layers, err := got.Layers()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
}

// BenchmarkCachedPullThroughHEAD is the steady state of a pull-through
// cache: HEAD of a tag imported earlier and checked within the day.
func BenchmarkCachedPullThroughHEAD(b *testing.B) {
	up := newUpstream(b, "", "")
	bd := newBed(b, func(c *ecrsim.Config) { c.Upstreams = map[string]string{"public.ecr.aws": up.srv.URL} })
	if _, err := bd.api.CreatePullThroughCacheRule(context.Background(), &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
	}); err != nil {
		b.Fatal(err)
	}
	up.push(b, "nginx/nginx:1", randomImage(b))
	auth := bd.auth(b)
	if resp := bd.get(b, http.MethodHead, "/v2/ecr-public/nginx/nginx/manifests/1", auth); resp.StatusCode != http.StatusOK {
		b.Fatalf("import: %d", resp.StatusCode)
	}
	cfg, _ := auth.Authorization()
	req, _ := http.NewRequest(http.MethodHead, bd.regURL+"/v2/ecr-public/nginx/nginx/manifests/1", nil)
	req.SetBasicAuth(cfg.Username, cfg.Password)
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("HEAD: %d", resp.StatusCode)
		}
	}
	if g := bd.ecr.UpstreamManifestGets(); g != 1 {
		b.Fatalf("upstream GETs = %d", g)
	}
}

// BenchmarkDescribeImages lists a repository of 200 images, 100 a page.
func BenchmarkDescribeImages(b *testing.B) {
	bd := newBed(b)
	ctx := context.Background()
	bd.createRepo(b, &ecr.CreateRepositoryInput{RepositoryName: aws.String("many")})
	opts := bd.opts(b)
	for i := range 200 {
		img, err := random.Image(64, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(bd.ref(b, fmt.Sprintf("many:%d", i)), img, opts...); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		n := 0
		p := ecr.NewDescribeImagesPaginator(bd.api, &ecr.DescribeImagesInput{RepositoryName: aws.String("many")})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.ImageDetails)
		}
		if n != 200 {
			b.Fatalf("listed %d images", n)
		}
	}
}
