// Package policysource reads pullheal's policy from where a deployment keeps
// it: a local file, an S3 object (s3://BUCKET/KEY) or an SSM parameter
// (ssm:NAME or its ARN, SecureString included), and keeps it current. A
// Reader reads one location, conditionally when it has read it before (an
// S3 ETag, an SSM parameter version, a file's content hash), so that an
// unchanged policy costs no download and no parse. A Watcher re-reads on an
// interval and swaps the policy in force atomically; a new policy that does
// not validate is refused and the last good one stays.
package policysource

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Kind is where a policy lives.
type Kind int

// Kinds of location.
const (
	File Kind = iota
	S3
	SSM
)

func (k Kind) String() string {
	switch k {
	case S3:
		return "s3"
	case SSM:
		return "ssm"
	}
	return "file"
}

// Location is a parsed --policy value.
type Location struct {
	Kind Kind
	// Path is the file's path (File).
	Path string
	// Bucket and Key name the object (S3).
	Bucket, Key string
	// Parameter is the parameter's name or ARN as given (SSM); Region is
	// the ARN's region, "" for a plain name.
	Parameter string
	Region    string
}

// String returns the location as the user writes it; problems name the
// policy by it.
func (l Location) String() string {
	switch l.Kind {
	case S3:
		return "s3://" + l.Bucket + "/" + l.Key
	case SSM:
		return "ssm:" + l.Parameter
	}
	return l.Path
}

// Limits from the S3 and Systems Manager documentation.
const (
	maxKeyBytes       = 1024 // S3 object key, UTF-8 bytes
	maxParameterName  = 1011 // fully qualified parameter name
	maxParameterARN   = 2048 // PSParameterName in the SSM API model
	maxHierarchyDepth = 15
)

// ParseLocation parses a --policy value: s3://BUCKET/KEY, ssm:NAME (a
// parameter name or ARN), or a file path. Another URL scheme is refused
// rather than read as a file of that name.
func ParseLocation(s string) (Location, error) {
	switch {
	case s == "":
		return Location{}, fmt.Errorf("policy location is empty: want a file, s3://BUCKET/KEY or ssm:NAME")
	case strings.HasPrefix(s, "s3://"):
		return parseS3(s)
	case strings.HasPrefix(s, "ssm:"):
		return parseSSM(s)
	}
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		return Location{}, fmt.Errorf("policy location %q: scheme %q is not supported: want a file, s3://BUCKET/KEY or ssm:NAME", s, s[:i])
	}
	return Location{Kind: File, Path: s}, nil
}

func isScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return true
}

func parseS3(s string) (Location, error) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
	switch {
	case !ok || key == "":
		return Location{}, fmt.Errorf("policy location %q: want s3://BUCKET/KEY, with the object's key", s)
	case len(key) > maxKeyBytes:
		return Location{}, fmt.Errorf("policy location %q: the key is %d bytes; S3 keys are at most %d", s, len(key), maxKeyBytes)
	case !utf8.ValidString(key) || strings.ContainsAny(key, "\x00\r\n"):
		return Location{}, fmt.Errorf("policy location %q: the key is not printable UTF-8", s)
	}
	if err := checkBucket(bucket); err != nil {
		return Location{}, fmt.Errorf("policy location %q: %v", s, err)
	}
	return Location{Kind: S3, Bucket: bucket, Key: key}, nil
}

// checkBucket applies S3's general purpose bucket naming rules.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q: must be 3 to 63 characters", b)
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return fmt.Errorf("bucket name %q: only lower-case letters, digits, '.' and '-' are allowed", b)
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q: must begin and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q: must not hold two adjacent periods", b)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func parseSSM(s string) (Location, error) {
	p := strings.TrimPrefix(s, "ssm:")
	if strings.HasPrefix(p, "arn:") {
		a, err := arn.Parse(p)
		if err != nil || a.Service != "ssm" || !strings.HasPrefix(a.Resource, "parameter/") || a.Region == "" || a.AccountID == "" {
			return Location{}, fmt.Errorf("policy location %q: want an SSM parameter ARN, arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME", s)
		}
		if len(p) > maxParameterARN {
			return Location{}, fmt.Errorf("policy location %q: the ARN is longer than %d characters", s, maxParameterARN)
		}
		// A hierarchical name keeps its leading '/' in the API but not in
		// its ARN: parameter/app/policy is /app/policy.
		name := strings.TrimPrefix(a.Resource, "parameter")
		if strings.Count(name, "/") == 1 {
			name = name[1:]
		}
		if err := checkParameterName(name); err != nil {
			return Location{}, fmt.Errorf("policy location %q: %v", s, err)
		}
		return Location{Kind: SSM, Parameter: p, Region: a.Region}, nil
	}
	if err := checkParameterName(p); err != nil {
		return Location{}, fmt.Errorf("policy location %q: %v", s, err)
	}
	return Location{Kind: SSM, Parameter: p}, nil
}

// checkParameterName applies Parameter Store's naming rules (PutParameter's
// documentation). A version or label selector (NAME:3) is refused: the
// agent follows the parameter's latest version.
func checkParameterName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("want ssm:NAME with a parameter name or ARN")
	case len(n) > maxParameterName:
		return fmt.Errorf("parameter name is longer than %d characters", maxParameterName)
	case strings.Contains(n, ":"):
		return fmt.Errorf("parameter name %q holds ':': version and label selectors are not supported, the policy follows the parameter's latest version", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-/", r)) {
			return fmt.Errorf("parameter name %q: only letters, digits, '_', '.', '-' and '/' are allowed", n)
		}
	}
	if strings.Contains(n, "/") {
		if !strings.HasPrefix(n, "/") {
			return fmt.Errorf("parameter name %q: a hierarchical name begins with '/'", n)
		}
		if strings.Count(n, "/") > maxHierarchyDepth {
			return fmt.Errorf("parameter name %q: more than %d hierarchy levels", n, maxHierarchyDepth)
		}
	}
	return nil
}
