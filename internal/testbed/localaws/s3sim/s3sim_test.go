package s3sim_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pullheal/pullheal/internal/testbed/localaws/s3sim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
)

func serve(t *testing.T, region string) (*s3.Client, *s3sim.S3, string) {
	t.Helper()
	sim, err := s3sim.New(s3sim.Config{Region: region})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sim.Handles(r) {
			http.Error(w, "not an S3 request", http.StatusTeapot)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := simtest.Config(srv.URL)
	if region != "" {
		cfg.Region = region
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), sim, srv.URL
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// The round trip pullheal relies on: create, put, get with the ETag, a
// conditional get that costs no download, and a changed object that does.
func TestPutGetConditional(t *testing.T) {
	c, _, _ := serve(t, "")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	body := "version: 1\n"
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml"),
		Body: strings.NewReader(body), ContentType: aws.String("application/yaml")})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(body))
	wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
	if aws.ToString(put.ETag) != wantETag {
		t.Fatalf("put ETag = %s, want %s", aws.ToString(put.ETag), wantETag)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != body || aws.ToString(got.ETag) != wantETag || aws.ToInt64(got.ContentLength) != int64(len(body)) ||
		aws.ToString(got.ContentType) != "application/yaml" || got.LastModified == nil {
		t.Fatalf("get = %q etag %s len %d type %s", data, aws.ToString(got.ETag), aws.ToInt64(got.ContentLength), aws.ToString(got.ContentType))
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml"), IfNoneMatch: got.ETag})
	if httpStatus(err) != http.StatusNotModified {
		t.Fatalf("If-None-Match with the current ETag: %v, want 304", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml"), IfMatch: aws.String(`"0000"`)})
	if httpStatus(err) != http.StatusPreconditionFailed || apiCode(err) != "PreconditionFailed" {
		t.Fatalf("If-Match with another ETag: %v, want 412 PreconditionFailed", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml"), Body: strings.NewReader("version: 1 # changed\n")}); err != nil {
		t.Fatal(err)
	}
	changed, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml"), IfNoneMatch: got.ETag})
	if err != nil {
		t.Fatalf("If-None-Match with the old ETag: %v", err)
	}
	data, _ = io.ReadAll(changed.Body)
	changed.Body.Close()
	if string(data) != "version: 1 # changed\n" || aws.ToString(changed.ETag) == wantETag {
		t.Fatalf("changed = %q etag %s", data, aws.ToString(changed.ETag))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("policies"), Key: aws.String("prod/policy.yaml")})
	if err != nil || aws.ToString(head.ETag) != aws.ToString(changed.ETag) || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Fatalf("head = %v %+v", err, head)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatalf("head bucket: %v", err)
	}
}

// Missing buckets and keys give S3's typed errors; HEAD gives its bare 404.
func TestErrors(t *testing.T) {
	c, _, _ := serve(t, "")
	ctx := context.Background()
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	if apiCode(err) != "NoSuchBucket" || httpStatus(err) != 404 {
		t.Fatalf("missing bucket: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b-1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b-1"), Key: aws.String("missing.yaml")})
	var nsk *s3types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("missing key: %v, want NoSuchKey", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("missing.yaml")})
	var nf *s3types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("head missing key: %v, want NotFound", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if apiCode(err) != "NoSuchBucket" {
		t.Fatalf("put into missing bucket: %v", err)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	if apiCode(err) != "InvalidBucketName" {
		t.Fatalf("bad bucket name: %v", err)
	}
	// us-east-1 answers 200 to a second create by the owner.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b-1")}); err != nil {
		t.Fatalf("second create in us-east-1: %v", err)
	}
	_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if apiCode(err) != "NotImplemented" {
		t.Fatalf("unserved operation: %v, want NotImplemented", err)
	}
}

// Outside us-east-1 a bucket needs its region as location constraint, and
// a second create is BucketAlreadyOwnedByYou.
func TestCreateBucketRegion(t *testing.T) {
	c, _, _ := serve(t, "eu-west-1")
	ctx := context.Background()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("eu-bucket")})
	if apiCode(err) != "IllegalLocationConstraintException" {
		t.Fatalf("no constraint outside us-east-1: %v", err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String("eu-bucket"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest1}}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateBucket(ctx, in)
	var owned *s3types.BucketAlreadyOwnedByYou
	if !errors.As(err, &owned) {
		t.Fatalf("second create: %v, want BucketAlreadyOwnedByYou", err)
	}
}

// A body in the aws-chunked encoding (flexible checksum as a trailer, as
// SDKs send over TLS) is stored decoded.
func TestAwsChunkedPut(t *testing.T) {
	c, _, url := serve(t, "")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("chunks")}); err != nil {
		t.Fatal(err)
	}
	body := "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
	req, _ := http.NewRequest(http.MethodPut, url+"/chunks/greeting", strings.NewReader(body))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", "11")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chunked put: %s", resp.Status)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("chunks"), Key: aws.String("greeting")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "hello world" {
		t.Fatalf("stored %q", data)
	}
}

// Objects survive a snapshot and restore.
func TestSnapshotRestore(t *testing.T) {
	c, sim, _ := serve(t, "")
	ctx := context.Background()
	_, _ = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("keep")})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keep"), Key: aws.String("a"), Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sim.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	c2, sim2, _ := serve(t, "")
	if err := sim2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := c2.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keep"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "data" {
		t.Fatalf("restored %q", data)
	}
}

// The SDK's flexible checksum is checked and stored; a GET in checksum
// mode returns it and the SDK validates the body against it.
func TestChecksums(t *testing.T) {
	c, _, url := serve(t, "")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sums")}); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), Body: strings.NewReader("hello world"),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(got.Body); err != nil {
		t.Fatalf("body failed the SDK's checksum validation: %v", err)
	}
	got.Body.Close()
	if aws.ToString(got.ChecksumSHA256) == "" || aws.ToString(got.ChecksumSHA256) != aws.ToString(put.ChecksumSHA256) {
		t.Fatalf("GET checksum %q, PUT %q", aws.ToString(got.ChecksumSHA256), aws.ToString(put.ChecksumSHA256))
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/sums/bad", strings.NewReader("hello world"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
	req.Header.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>BadDigest</Code>") {
		t.Fatalf("wrong checksum: %s %s", resp.Status, body)
	}
}
