// Package s3sim is the local test bed's Amazon S3: the REST-XML protocol
// with path-style addressing (ENDPOINT/BUCKET/KEY) for CreateBucket,
// HeadBucket, PutObject, GetObject, HeadObject and DeleteObject, enough for
// the real aws-sdk-go-v2 client and the AWS CLI to store a policy in a
// bucket and for pullheal to read it conditionally.
//
// Decisions where S3 leaves room:
//   - Only path-style requests are served: virtual-hosted addressing would
//     need a DNS name per bucket on loopback. pullheal's S3 client uses
//     path style whenever an endpoint is configured.
//   - ETags are the quoted hex MD5 of the object, as S3 gives for a
//     single-part upload without SSE-KMS.
//   - Conditional GET and HEAD follow RFC 7232 as S3 documents it:
//     If-Match (412), If-None-Match (304), and the date conditions only
//     when the matching ETag condition is absent.
//   - A PutObject body sent with the aws-chunked content encoding
//     (flexible checksums as a trailer) is decoded. A flexible checksum
//     sent with the object is checked (BadDigest) and stored; without one
//     the stand-in stores a CRC32 (S3 computes CRC64NVME). GetObject with
//     x-amz-checksum-mode: ENABLED returns it, and the SDK checks the body.
//   - CreateBucket in us-east-1 on a bucket the caller owns answers 200, as
//     S3 does there for legacy compatibility; elsewhere
//     BucketAlreadyOwnedByYou. Every caller is the one account.
//   - Objects are at most 64 MiB here (S3's single PUT allows 5 GiB).
package s3sim

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

const (
	maxObject       = 64 << 20
	snapshotVersion = 1
)

// Config configures the stand-in.
type Config struct {
	Account, Region string
	Clock           wire.Clock
}

// S3 is the S3 stand-in. It is safe for concurrent use.
type S3 struct {
	cfg Config

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	Created time.Time          `json:"created"`
	Region  string             `json:"region"`
	Objects map[string]*object `json:"objects"`
}

type object struct {
	Data         []byte    `json:"data"`
	ETag         string    `json:"etag"`
	ContentType  string    `json:"contentType,omitempty"`
	LastModified time.Time `json:"lastModified"`
	// ChecksumAlgorithm and Checksum are the flexible checksum stored
	// with the object, returned when a GET asks for it.
	ChecksumAlgorithm string `json:"checksumAlgorithm,omitempty"`
	Checksum          string `json:"checksum,omitempty"`
}

// New returns an S3 with no buckets.
func New(cfg Config) (*S3, error) {
	if err := wire.CheckAccountRegion(cfg.Account, cfg.Region); err != nil {
		return nil, fmt.Errorf("s3sim config: %w", err)
	}
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	return &S3{cfg: cfg, buckets: map[string]*bucket{}}, nil
}

// Handles reports whether r is an S3 request: not a JSON-protocol call, and
// signed for the s3 service (SigV4 header or presigned query).
func (s *S3) Handles(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	if scope := credentialScope(r); scope != "" {
		parts := strings.Split(scope, "/")
		return len(parts) == 5 && parts[3] == "s3"
	}
	return false
}

// credentialScope returns AKID/DATE/REGION/SERVICE/aws4_request from a SigV4
// Authorization header or a presigned URL's X-Amz-Credential.
func credentialScope(r *http.Request) string {
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		scope, _, _ := strings.Cut(rest, ",")
		return strings.TrimSpace(scope)
	}
	return r.URL.Query().Get("X-Amz-Credential")
}

// ServeHTTP serves the path-style REST API.
func (s *S3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucketName, key, hasKey := strings.Cut(path, "/")
	q := r.URL.Query()
	switch {
	case bucketName == "":
		writeError(w, r, errNotImplemented("ListBuckets"))
	case !hasKey || key == "":
		if hasSubresource(q) {
			writeError(w, r, errNotImplemented("bucket subresource "+subresourceNames(q)))
			return
		}
		switch r.Method {
		case http.MethodPut:
			s.createBucket(w, r, bucketName)
		case http.MethodHead:
			s.headBucket(w, r, bucketName)
		default:
			writeError(w, r, errNotImplemented(r.Method+" on a bucket"))
		}
	default:
		if hasSubresource(q) {
			writeError(w, r, errNotImplemented("object subresource "+subresourceNames(q)))
			return
		}
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				writeError(w, r, errNotImplemented("CopyObject"))
				return
			}
			s.putObject(w, r, bucketName, key)
		case http.MethodGet, http.MethodHead:
			s.getObject(w, r, bucketName, key)
		case http.MethodDelete:
			s.deleteObject(w, r, bucketName, key)
		default:
			writeError(w, r, errNotImplemented(r.Method+" on an object"))
		}
	}
}

// hasSubresource reports a query naming a subresource (?acl, ?tagging,
// ?uploads, ...), which this stand-in does not serve. x-id is the SDK's
// operation marker and the X-Amz-* parameters are presigning.
func hasSubresource(q map[string][]string) bool {
	return subresourceNames(q) != ""
}

func subresourceNames(q map[string][]string) string {
	var names []string
	for k := range q {
		if k == "x-id" || strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			continue
		}
		names = append(names, k)
	}
	return strings.Join(names, ",")
}

type createBucketConfiguration struct {
	LocationConstraint string `xml:"LocationConstraint"`
}

func (s *S3) createBucket(w http.ResponseWriter, r *http.Request, name string) {
	if msg := checkBucketName(name); msg != "" {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "InvalidBucketName", Message: msg, BucketName: name})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: err.Error()})
		return
	}
	var conf createBucketConfiguration
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := xml.Unmarshal(body, &conf); err != nil {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
				Message: "The XML you provided was not well-formed or did not validate against our published schema"})
			return
		}
	}
	// A region's endpoint creates buckets in that region only: us-east-1
	// takes no constraint, every other region its own name.
	want := s.cfg.Region
	if want == "us-east-1" {
		want = ""
	}
	if conf.LocationConstraint != want {
		msg := "The " + strconv.Quote(conf.LocationConstraint) + " location constraint is incompatible for the region specific endpoint this request was sent to."
		if conf.LocationConstraint == "" {
			msg = "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to."
		}
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IllegalLocationConstraintException", Message: msg})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok && s.cfg.Region != "us-east-1" {
		writeError(w, r, &apiError{Status: http.StatusConflict, Code: "BucketAlreadyOwnedByYou",
			Message: "Your previous request to create the named bucket succeeded and you already own it.", BucketName: name})
		return
	}
	if _, ok := s.buckets[name]; !ok {
		s.buckets[name] = &bucket{Created: s.cfg.Clock.Now().UTC(), Region: s.cfg.Region, Objects: map[string]*object{}}
	}
	w.Header().Set("Location", "/"+name)
	writeHeaders(w)
	w.WriteHeader(http.StatusOK)
}

// checkBucketName applies the general purpose bucket naming rules.
func checkBucketName(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "The specified bucket is not valid: bucket names must be 3 to 63 characters long."
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "The specified bucket is not valid: bucket names can consist only of lowercase letters, numbers, periods and hyphens."
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) || strings.Contains(b, "..") {
		return "The specified bucket is not valid."
	}
	return ""
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func (s *S3) headBucket(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	b, ok := s.buckets[name]
	s.mu.Unlock()
	if !ok {
		writeError(w, r, noSuchBucket(name))
		return
	}
	writeHeaders(w)
	w.Header().Set("X-Amz-Bucket-Region", b.Region)
	w.WriteHeader(http.StatusOK)
}

func (s *S3) putObject(w http.ResponseWriter, r *http.Request, bucketName, key string) {
	if len(key) > 1024 {
		writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "KeyTooLongError", Message: "Your key is too long", Key: key})
		return
	}
	data, trailers, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if want := r.Header.Get("Content-MD5"); want != "" {
		sum := md5.Sum(data)
		if got := base64Std(sum[:]); got != want {
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "BadDigest",
				Message: "The Content-MD5 you specified did not match what we received."})
			return
		}
	}
	sum := md5.Sum(data)
	o := &object{Data: data, ETag: `"` + hex.EncodeToString(sum[:]) + `"`, ContentType: r.Header.Get("Content-Type"),
		LastModified: s.cfg.Clock.Now().UTC().Truncate(time.Second)}
	if o.ContentType == "" {
		o.ContentType = "binary/octet-stream"
	}
	alg, value, cerr := objectChecksum(r.Header, trailers, data)
	if cerr != nil {
		writeError(w, r, cerr)
		return
	}
	o.ChecksumAlgorithm, o.Checksum = alg, value
	s.mu.Lock()
	b, ok := s.buckets[bucketName]
	if ok {
		b.Objects[key] = o
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, r, noSuchBucket(bucketName))
		return
	}
	writeHeaders(w)
	w.Header().Set("ETag", o.ETag)
	w.Header().Set(checksumHeaders[o.ChecksumAlgorithm], o.Checksum)
	w.Header().Set("X-Amz-Checksum-Type", "FULL_OBJECT")
	w.WriteHeader(http.StatusOK)
}

// readBody reads a PutObject body, decoding the aws-chunked encoding and
// returning its trailers (lower-case names).
func readBody(r *http.Request) ([]byte, map[string]string, error) {
	chunked := strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-")
	data, err := io.ReadAll(io.LimitReader(r.Body, maxObject+64<<10))
	if err != nil {
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "read body: " + err.Error()}
	}
	var trailers map[string]string
	if chunked {
		if data, trailers, err = decodeChunked(data); err != nil {
			return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: err.Error()}
		}
		if dl := r.Header.Get("X-Amz-Decoded-Content-Length"); dl != "" && dl != strconv.Itoa(len(data)) {
			return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody",
				Message: "You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header"}
		}
	}
	if len(data) > maxObject {
		return nil, nil, &apiError{Status: http.StatusBadRequest, Code: "EntityTooLarge",
			Message: fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of this test bed (%d bytes)", maxObject)}
	}
	return data, trailers, nil
}

// decodeChunked decodes aws-chunked: SIZE[;chunk-signature=...]\r\n DATA
// \r\n, ending with a zero-size chunk and optional NAME:VALUE trailer
// lines.
func decodeChunked(b []byte) ([]byte, map[string]string, error) {
	var out []byte
	for {
		line, rest, ok := strings.Cut(string(b), "\r\n")
		if !ok {
			return nil, nil, fmt.Errorf("aws-chunked body: chunk header not terminated")
		}
		sizeHex, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("aws-chunked body: bad chunk size %q", sizeHex)
		}
		b = []byte(rest)
		if n == 0 {
			trailers := map[string]string{}
			for _, l := range strings.Split(rest, "\r\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					trailers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
				}
			}
			return out, trailers, nil
		}
		if int64(len(b)) < n+2 || string(b[n:n+2]) != "\r\n" {
			return nil, nil, fmt.Errorf("aws-chunked body: chunk shorter than its size")
		}
		out = append(out, b[:n]...)
		b = b[n+2:]
	}
}

func (s *S3) getObject(w http.ResponseWriter, r *http.Request, bucketName, key string) {
	s.mu.Lock()
	b, ok := s.buckets[bucketName]
	var o *object
	if ok {
		o = b.Objects[key]
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, r, noSuchBucket(bucketName))
		return
	case o == nil:
		writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "NoSuchKey", Message: "The specified key does not exist.", Key: key})
		return
	}
	writeHeaders(w)
	h := w.Header()
	h.Set("ETag", o.ETag)
	h.Set("Last-Modified", o.LastModified.Format(http.TimeFormat))
	switch status := precondition(r, o); status {
	case http.StatusNotModified:
		w.WriteHeader(status)
		return
	case http.StatusPreconditionFailed:
		h.Del("ETag")
		h.Del("Last-Modified")
		writeError(w, r, &apiError{Status: status, Code: "PreconditionFailed",
			Message: "At least one of the pre-conditions you specified did not hold", Condition: "If-Match"})
		return
	}
	h.Set("Content-Type", o.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(o.Data)))
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && o.Checksum != "" {
		h.Set(checksumHeaders[o.ChecksumAlgorithm], o.Checksum)
		h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
	}
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(o.Data)
	}
}

// precondition evaluates the conditional headers in RFC 7232's order.
func precondition(r *http.Request, o *object) int {
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagMatches(im, o.ETag) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && o.LastModified.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, o.ETag) {
			return http.StatusNotModified
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !o.LastModified.After(t) {
			return http.StatusNotModified
		}
	}
	return http.StatusOK
}

// etagMatches compares a list of entity tags (or *) with an ETag, weakly:
// S3 accepts the tag with or without quotes.
func etagMatches(list, etag string) bool {
	bare := strings.Trim(etag, `"`)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.Trim(strings.TrimPrefix(t, "W/"), `"`) == bare {
			return true
		}
	}
	return false
}

func (s *S3) deleteObject(w http.ResponseWriter, r *http.Request, bucketName, key string) {
	s.mu.Lock()
	b, ok := s.buckets[bucketName]
	if ok {
		delete(b.Objects, key)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, r, noSuchBucket(bucketName))
		return
	}
	writeHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

type snapshot struct {
	wire.SnapshotHeader
	Buckets map[string]*bucket `json:"buckets"`
}

// Snapshot writes every bucket and object.
func (s *S3) Snapshot(w io.Writer) error {
	s.mu.Lock()
	b, err := wire.EncodeSnapshot("s3", snapshot{
		SnapshotHeader: wire.SnapshotHeader{Version: snapshotVersion, Account: s.cfg.Account, Region: s.cfg.Region},
		Buckets:        s.buckets,
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Restore replaces every bucket with a snapshot's.
func (s *S3) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "s3", &snap); err != nil {
		return err
	}
	if err := snap.Check("s3", snapshotVersion, s.cfg.Account, s.cfg.Region); err != nil {
		return err
	}
	if snap.Buckets == nil {
		snap.Buckets = map[string]*bucket{}
	}
	for name, b := range snap.Buckets {
		if b == nil {
			return fmt.Errorf("s3 snapshot: bucket %q is null", name)
		}
		if b.Objects == nil {
			b.Objects = map[string]*object{}
		}
	}
	s.mu.Lock()
	s.buckets = snap.Buckets
	s.mu.Unlock()
	return nil
}
