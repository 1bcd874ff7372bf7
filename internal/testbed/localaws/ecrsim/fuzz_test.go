package ecrsim_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// FuzzAPIOps feeds arbitrary bodies to every API operation: each answers
// with a value or a typed client error, never a panic or a server error.
func FuzzAPIOps(f *testing.F) {
	f.Add("CreateRepository", `{"repositoryName":"a/b","imageTagMutability":"IMMUTABLE_WITH_EXCLUSION","imageTagMutabilityExclusionFilters":[{"filterType":"WILDCARD","filter":"*"}]}`)
	f.Add("DescribeImages", `{"repositoryName":"app","imageIds":[{"imageTag":"1"},{"imageDigest":"sha256:00"}]}`)
	f.Add("DescribeRepositories", `{"maxResults":0,"nextToken":"ZWNyc2ltOjE"}`)
	f.Add("BatchGetImage", `{"repositoryName":"app","imageIds":[{}],"acceptedMediaTypes":["x"]}`)
	f.Add("PutLifecyclePolicy", `{"repositoryName":"app","lifecyclePolicyText":"{\"rules\":[{}]}"}`)
	f.Add("CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"hub/","upstreamRegistryUrl":"https://registry-1.docker.io/","credentialArn":"arn:aws:secretsmanager:x:secret:ecr-pullthroughcache/a"}`)
	f.Add("CreateRepositoryCreationTemplate", `{"prefix":"ROOT","appliedFor":["CREATE_ON_PUSH","CREATE_ON_PUSH"]}`)
	f.Add("TagResource", `{"resourceArn":"arn:aws:ecr:us-east-1:123456789012:repository/app","tags":[{"Key":"k"}]}`)
	f.Add("GetAuthorizationToken", `{"registryIds":["123456789012"]}`)
	f.Add("ListImages", `{"repositoryName":"app","filter":{"tagStatus":"X"}}`)
	f.Fuzz(func(t *testing.T, op, body string) {
		e, err := ecrsim.New(ecrsim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc := e.Service()
		fn, ok := svc.Ops[op]
		if !ok || op == "ValidatePullThroughCacheRule" {
			return
		}
		ctx := context.Background()
		if _, err := svc.Ops["CreateRepository"](ctx, []byte(`{"repositoryName":"app"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := fn(ctx, []byte(body)); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status >= 500 {
				t.Fatalf("%s(%q) = %v, want a typed client error", op, body, err)
			}
		}
	})
}

// FuzzRegistry sends arbitrary authenticated requests to the registry:
// none may panic or fail as a server error.
func FuzzRegistry(f *testing.F) {
	f.Add("GET", "/v2/app/manifests/latest", "", "")
	f.Add("PUT", "/v2/app/manifests/1", "application/vnd.oci.image.index.v1+json", `{"schemaVersion":2,"manifests":[{"digest":"sha256:x"}]}`)
	f.Add("PUT", "/v2/app/manifests/1", "", `{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[{"digest":"md5:1"}]}`)
	f.Add("POST", "/v2/app/blobs/uploads/?mount=sha256:0&from=app", "", "")
	f.Add("POST", "/v2/app/blobs/uploads/?digest=sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "", "foo")
	f.Add("PATCH", "/v2/app/blobs/uploads/1", "", "abc")
	f.Add("PUT", "/v2/app/blobs/uploads/1?digest=sha256:zz", "", "")
	f.Add("GET", "/v2/app/tags/list?n=-1&last=%ff", "", "")
	f.Add("DELETE", "/v2/app/blobs/sha256:00", "", "")
	f.Add("HEAD", "/v2/hub/library/x/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000", "", "")
	e, err := ecrsim.New(ecrsim.Config{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := e.Service().Ops["CreateRepository"](context.Background(), []byte(`{"repositoryName":"app"}`)); err != nil {
		f.Fatal(err)
	}
	tok := e.Token()
	h := e.Registry()
	f.Fuzz(func(t *testing.T, method, path, contentType, body string) {
		r, err := http.NewRequest(method, "http://registry.local"+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		r.SetBasicAuth(tok.Username, tok.Password)
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s = %d %s", method, path, w.Code, w.Body)
		}
	})
}
