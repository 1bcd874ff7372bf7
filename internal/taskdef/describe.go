package taskdef

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The SDK's wire deserialiser skips every member of a response it does not
// model, so a task definition FromSDK builds cannot hold a field ECS added
// after this build's SDK: registering a corrected revision from it would
// silently drop that field. RecordBody and CheckDescribed close that gap
// for the callers that describe a revision in order to register a
// corrected one (the agent, scan --apply).

// RecordBody is an option for one ECS call that stores the raw body of its
// successful response in *body (the last attempt's, when the SDK retries).
func RecordBody(body *[]byte) func(*ecs.Options) {
	return func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// After: between the operation's deserialiser and the
			// transport, so the body is read before the deserialiser reads
			// it, and handed on unchanged.
			return s.Deserialize.Add(bodyRecorder{body}, middleware.After)
		})
	}
}

type bodyRecorder struct{ body *[]byte }

func (bodyRecorder) ID() string { return "pullheal.RecordBody" }

func (m bodyRecorder) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 200 || resp.StatusCode > 299 || resp.Body == nil {
		return out, md, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return out, md, err
	}
	*m.body = b
	return out, md, nil
}

// CheckDescribed reads the raw body of a DescribeTaskDefinition answer
// (called with Include: TAGS), which RecordBody kept, as the CLI reads a
// file, and returns an error wrapping ErrUnknownField, naming the member,
// when the task definition or its tags hold a member the SDK does not
// model: FromSDK's document lacks it, and so would a revision registered
// from it. Members of the answer outside taskDefinition and tags are not
// part of the task definition and are not checked. An empty body (a client
// that ignored the option) checks nothing.
func CheckDescribed(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	raw, err := Decode(body)
	if err != nil {
		return fmt.Errorf("DescribeTaskDefinition answer: %w", err)
	}
	if _, err := raw.sdkInput(); err != nil {
		if errors.Is(err, ErrUnknownField) {
			return fmt.Errorf("task definition %s: %w: a corrected revision registered through this build's SDK would lose it (update pullheal)", raw.Family(), err)
		}
		return fmt.Errorf("DescribeTaskDefinition answer for %s: %w", raw.Family(), err)
	}
	return nil
}
