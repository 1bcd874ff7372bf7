package policysource

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gopkg.in/yaml.v3"

	"github.com/pullheal/pullheal/policy"
)

// Error is a policy that could not be read: one line naming the location
// and the problem.
type Error struct {
	Location string
	Problem  string
	// Input is true when the location itself is wrong (missing, denied,
	// too large) rather than the service unreachable: the one-shot
	// commands exit 2 for it.
	Input bool
	cause error
}

func (e *Error) Error() string { return e.Location + ": " + e.Problem }

// Unwrap returns the cause (an SDK error, fs.ErrNotExist, ...), or nil.
func (e *Error) Unwrap() error { return e.cause }

// IsBadInput reports whether err is the user's to fix (a missing or denied
// object or parameter, an invalid policy) rather than a failure that may
// pass (a network error, a 5xx).
func IsBadInput(err error) bool {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Input
}

func (r *Reader) problem(msg string, cause error, input bool) *Error {
	return &Error{Location: r.loc.String(), Problem: oneLine(msg), Input: input, cause: cause}
}

// awsProblem names an S3 or SSM error the way a person fixes it: the
// missing thing, or the permission the agent's role lacks.
func (r *Reader) awsProblem(err error) *Error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return r.problem(err.Error(), err, false)
	}
	code, msg := ae.ErrorCode(), ae.ErrorMessage()
	status := httpStatus(err)
	detail := code
	if msg != "" && msg != code {
		detail += ": " + msg
	}
	switch code {
	case "NoSuchKey":
		return r.problem("no such object (NoSuchKey)", err, true)
	case "NoSuchBucket":
		return r.problem("no such bucket (NoSuchBucket)", err, true)
	case "ParameterNotFound":
		return r.problem("no such parameter (ParameterNotFound)", err, true)
	case "AccessDenied", "AccessDeniedException":
		need := fmt.Sprintf("s3:GetObject on arn:aws:s3:::%s/%s", r.loc.Bucket, r.loc.Key)
		if r.loc.Kind == SSM {
			need = "ssm:GetParameter on the parameter, and kms:Decrypt on its key for a SecureString"
		}
		return r.problem(fmt.Sprintf("access denied (%s); the agent's role needs %s", detail, need), err, true)
	}
	// Other client errors (an invalid name, a KMS key the role cannot
	// use, a bucket in a region S3 would not name) are the location's;
	// throttling and server errors may pass.
	input := status >= 400 && status < 500 && status != 408 && status != 429 &&
		!strings.Contains(code, "Throttl") && code != "TooManyRequestsException" && code != "RequestTimeout"
	return r.problem(fmt.Sprintf("%s (HTTP %d)", detail, status), err, input)
}

// httpStatus is the HTTP status of an SDK error's response, 0 if none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// bucketRegion is the region S3 names when it refuses a request sent to the
// wrong one (301 PermanentRedirect, or 400 AuthorizationHeaderMalformed,
// with x-amz-bucket-region), "" otherwise.
func bucketRegion(err error) string {
	if err == nil {
		return ""
	}
	var re interface{ HTTPResponse() *smithyhttp.Response }
	if !errors.As(err, &re) || re.HTTPResponse() == nil || re.HTTPResponse().Response == nil {
		return ""
	}
	switch re.HTTPResponse().StatusCode {
	case 301, 400:
		return re.HTTPResponse().Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// noLocalFiles refuses a policy read from S3 or SSM that names a lifecycle
// policy file: relative to what directory would it be read? Reading it from
// the agent's working directory would let the remote policy pick a local
// file.
func noLocalFiles(name string, data []byte) error {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return nil // policy.Parse reports the syntax error with its position
	}
	var found []policy.Problem
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value == "lifecyclePolicyFile" {
					found = append(found, policy.Problem{File: name, Line: k.Line, Column: k.Column,
						Message: "lifecyclePolicyFile: a policy read from S3 or SSM cannot name a local file; put the lifecycle policy inline with lifecyclePolicy"})
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	if len(found) == 0 {
		return nil
	}
	return &policy.Error{Problems: found}
}

// oneLine escapes control characters, so that a message quoting a service's
// error text stays on its line.
func oneLine(msg string) string {
	if strings.IndexFunc(msg, unicode.IsControl) < 0 {
		return msg
	}
	var b strings.Builder
	for _, r := range msg {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
