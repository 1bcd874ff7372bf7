// Package taskdef turns a task definition as ECS describes it into the
// input that registers a corrected revision of it: read-only fields dropped,
// tags carried over, images substituted, provenance tags added, and a diff a
// reviewer can read.
//
// Both callers share one pipeline. The CLI decodes JSON (DescribeTaskDefinition
// output, its taskDefinition member alone, or a RegisterTaskDefinition input)
// with Decode, refuses members of the wrong JSON type with CheckTypes and
// writes the result with Encode; nothing else is changed on that path,
// including fields that no SDK release knows yet, key order, number literals
// and string escapes. The agent starts from the SDK's DescribeTaskDefinition
// output with FromSDK and registers with RegisterInput; both conversions go
// through the SDK's own generated serialisers, so they keep every field the
// SDK models and name it exactly as the ECS API does. Since the SDK drops the
// members of an answer it does not model, the agent keeps the raw answer
// (RecordBody) and refuses, with CheckDescribed, a revision that has one.
package taskdef
