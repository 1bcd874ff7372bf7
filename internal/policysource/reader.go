package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/pullheal/pullheal/internal/regfile"
	"github.com/pullheal/pullheal/policy"
)

// DefaultTimeout bounds one read of a policy, download included.
const DefaultTimeout = 30 * time.Second

// S3API is the S3 call a Reader makes, with the SDK's signature.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// SSMAPI is the Systems Manager call a Reader makes, with the SDK's
// signature.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Info names the policy in force: where it came from, which version of it
// (an S3 ETag, an SSM parameter version, a file's modification time) and the
// SHA-256 of its bytes. Review events and the startup log carry it.
type Info struct {
	Source  string `json:"source"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// Snapshot is one read of a policy. It is immutable: a reload makes a new
// Snapshot, so a heal that took one decides with one policy throughout.
type Snapshot struct {
	Policy *policy.Policy
	Info   Info
	// etag is the ETag exactly as S3 sent it, for If-None-Match.
	etag string
}

// Reader reads the policy at one location.
type Reader struct {
	loc     Location
	s3      S3API
	ssm     SSMAPI
	timeout time.Duration
}

// NewReader returns a Reader for loc. An S3 location needs s3c, an SSM
// location ssmc; a file needs neither. timeout <= 0 is DefaultTimeout.
func NewReader(loc Location, s3c S3API, ssmc SSMAPI, timeout time.Duration) (*Reader, error) {
	switch {
	case loc.Kind == S3 && s3c == nil:
		return nil, errors.New("policy source: an S3 location needs an S3 client")
	case loc.Kind == SSM && ssmc == nil:
		return nil, errors.New("policy source: an SSM location needs an SSM client")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Reader{loc: loc, s3: s3c, ssm: ssmc, timeout: timeout}, nil
}

// Location returns where the Reader reads.
func (r *Reader) Location() Location { return r.loc }

// Read reads and parses the policy. With prev (an earlier Snapshot of this
// Reader), an unchanged policy returns prev itself, unparsed: S3 answers a
// conditional GET with 304; SSM's parameter version and the value's hash
// are the same; a file's bytes hash the same. A policy whose version moved but whose bytes did not
// returns a new Snapshot sharing prev's Policy.
//
// Errors name the location in one line (an *Error), except an invalid
// policy, which gives the policy package's *policy.Error with every
// problem as LOCATION:LINE:COLUMN.
func (r *Reader) Read(ctx context.Context, prev *Snapshot) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var (
		data []byte
		info = Info{Source: r.loc.String()}
		etag string
		err  error
	)
	switch r.loc.Kind {
	case S3:
		data, info.Version, etag, err = r.readS3(ctx, prev)
	case SSM:
		data, info.Version, err = r.readSSM(ctx)
	default:
		data, info.Version, err = r.readFile()
	}
	switch {
	case errors.Is(err, errUnchanged):
		return prev, nil
	case err != nil:
		return nil, err
	}
	sum := sha256.Sum256(data)
	info.SHA256 = hex.EncodeToString(sum[:])
	if prev != nil && prev.Info.SHA256 == info.SHA256 {
		if prev.Info.Version == info.Version {
			return prev, nil
		}
		return &Snapshot{Policy: prev.Policy, Info: info, etag: etag}, nil
	}
	p, err := r.parse(data)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Policy: p, Info: info, etag: etag}, nil
}

var errUnchanged = errors.New("policy unchanged")

func (r *Reader) parse(data []byte) (*policy.Policy, error) {
	name := r.loc.String()
	if r.loc.Kind != File {
		if err := noLocalFiles(name, data); err != nil {
			return nil, err
		}
	}
	return policy.Parse(name, data)
}

func (r *Reader) readFile() ([]byte, string, error) {
	// A FIFO or device would block the read (and SIGTERM with it).
	f, err := regfile.Open(r.loc.Path)
	if err != nil {
		return nil, "", r.problem(policy.FileProblem(err), err, true)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", r.problem("stat: "+err.Error(), err, true)
	}
	data, err := io.ReadAll(io.LimitReader(f, policy.MaxFileSize+1))
	if err != nil {
		return nil, "", r.problem("read: "+err.Error(), err, true)
	}
	return data, fi.ModTime().UTC().Format(time.RFC3339Nano), nil
}

func (r *Reader) readS3(ctx context.Context, prev *Snapshot) ([]byte, string, string, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(r.loc.Bucket), Key: aws.String(r.loc.Key)}
	if prev != nil && prev.etag != "" {
		in.IfNoneMatch = aws.String(prev.etag)
	}
	out, err := r.s3.GetObject(ctx, in)
	if region := bucketRegion(err); region != "" {
		// The bucket lives in another region than the client's: S3 says
		// which (x-amz-bucket-region) and the request is sent there.
		out, err = r.s3.GetObject(ctx, in, func(o *s3.Options) { o.Region = region })
	}
	if err != nil {
		if httpStatus(err) == 304 {
			return nil, "", "", errUnchanged
		}
		return nil, "", "", r.awsProblem(err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > policy.MaxFileSize {
		return nil, "", "", r.problem(fmt.Sprintf("object is %d bytes; a policy is at most %d", n, policy.MaxFileSize), nil, true)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, policy.MaxFileSize+1))
	if err != nil {
		return nil, "", "", r.problem("download: "+err.Error(), err, false)
	}
	etag := aws.ToString(out.ETag)
	return data, strings.Trim(etag, `"`), etag, nil
}

func (r *Reader) readSSM(ctx context.Context) ([]byte, string, error) {
	var opts []func(*ssm.Options)
	if r.loc.Region != "" {
		// An ARN names its region; the call must go there.
		opts = append(opts, func(o *ssm.Options) { o.Region = r.loc.Region })
	}
	out, err := r.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(r.loc.Parameter), WithDecryption: aws.Bool(true)}, opts...)
	if err != nil {
		return nil, "", r.awsProblem(err)
	}
	if out.Parameter == nil {
		return nil, "", r.problem("GetParameter returned no parameter", nil, false)
	}
	// GetParameter returns the value whatever its version, so Read
	// compares the version and the value's hash: a parameter deleted and
	// created again starts at version 1 with another value.
	return []byte(aws.ToString(out.Parameter.Value)), strconv.FormatInt(out.Parameter.Version, 10), nil
}
