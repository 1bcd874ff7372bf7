package policysource

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// NewS3Client returns the S3 client policies are read with. With a custom
// endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or endpoint_url in the
// shared config) it addresses buckets path-style (ENDPOINT/BUCKET/KEY):
// the SDK has no setting of its own for that, S3-compatible stand-ins and
// proxies expect it, and S3's interface VPC endpoints accept it. Against
// AWS's own endpoints the SDK's virtual-hosted addressing stays.
func NewS3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		// An object uploaded without a checksum (by an older tool) is
		// read all the same; the SDK would write a line to stderr,
		// outside the agent's JSON log, on every such read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// NewSSMClient returns the Systems Manager client policies are read with.
func NewSSMClient(cfg aws.Config) *ssm.Client { return ssm.NewFromConfig(cfg) }

// ReaderFromConfig returns a Reader for loc with clients made from cfg.
func ReaderFromConfig(cfg aws.Config, loc Location, timeout time.Duration) (*Reader, error) {
	switch loc.Kind {
	case S3:
		return NewReader(loc, NewS3Client(cfg), nil, timeout)
	case SSM:
		return NewReader(loc, nil, NewSSMClient(cfg), timeout)
	}
	return NewReader(loc, nil, nil, timeout)
}
