package ecssim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// ECS's tag limits: 50 tags per resource, keys of 1 to 128 characters and
// values of up to 256, and the aws: prefix reserved for AWS.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks tags a caller sets. The wording is this stand-in's;
// the error type is the InvalidParameterException ECS answers with.
func validateTags(tags []tag) error {
	if len(tags) > maxTags {
		return invalidParam("Too many tags: %d given, a resource can have at most %d.", len(tags), maxTags)
	}
	for _, t := range tags {
		switch n := utf8.RuneCountInString(t.Key); {
		case n == 0:
			return invalidParam("Tag keys must be between 1 and %d characters; got an empty key.", maxTagKeyLen)
		case n > maxTagKeyLen:
			return invalidParam("Tag key %.20q... is %d characters; tag keys must be at most %d.", t.Key, n, maxTagKeyLen)
		}
		if n := utf8.RuneCountInString(t.Value); n > maxTagValueLen {
			return invalidParam("Value of tag %q is %d characters; tag values must be at most %d.", t.Key, n, maxTagValueLen)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidParam("Tag key %q uses the reserved prefix aws:, which is for AWS use only.", t.Key)
		}
	}
	return nil
}

func nonNilTags(tags []tag) []tag {
	if tags == nil {
		return []tag{}
	}
	return tags
}

// mergeTags sets add over have, keeping have's order and appending new keys.
func mergeTags(have, add []tag) []tag {
	out := append([]tag{}, have...)
	for _, a := range add {
		replaced := false
		for i := range out {
			if out[i].Key == a.Key {
				out[i].Value = a.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// taggable finds the tag list of the resource an ARN names. Callers hold
// e.mu.
func (e *ECS) taggable(arn string) (*[]tag, error) {
	res, ok := e.resourceOf(arn)
	if !ok {
		return nil, invalidParam("The ARN provided is invalid.")
	}
	kind, rest, _ := strings.Cut(res, "/")
	switch kind {
	case "task-definition":
		td, why := e.lookupTaskDef(arn)
		if why != tdOK || !strings.Contains(rest, ":") {
			return nil, clientErr("The specified task definition does not exist.")
		}
		return &td.Tags, nil
	case "cluster":
		c := e.st.Clusters[rest]
		if c == nil {
			return nil, clusterNotFound()
		}
		return &c.Tags, nil
	case "service", "task":
		cl, name, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, invalidParam("Long arn format must be used for tagging operations")
		}
		c := e.st.Clusters[cl]
		if c == nil {
			return nil, clusterNotFound()
		}
		if kind == "service" {
			if s := c.Services[name]; s != nil {
				return &s.Tags, nil
			}
			return nil, serviceNotFound()
		}
		if t := c.Tasks[name]; t != nil {
			return &t.Tags, nil
		}
		return nil, invalidParam("The referenced task was not found.")
	}
	return nil, invalidParam("The ARN provided is invalid.")
}

func (e *ECS) listTagsForResource(_ context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tags, err := e.taggable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": nonNilTags(*tags)}, nil
}

func (e *ECS) tagResource(_ context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
		Tags        []tag  `json:"tags"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tags, err := e.taggable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	merged := mergeTags(*tags, in.Tags)
	if len(merged) > maxTags {
		return nil, invalidParam("Too many tags: the resource would have %d, a resource can have at most %d.", len(merged), maxTags)
	}
	*tags = merged
	return struct{}{}, nil
}

func (e *ECS) untagResource(_ context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tags, err := e.taggable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, k := range in.TagKeys {
		drop[k] = true
	}
	kept := []tag{}
	for _, t := range *tags {
		if !drop[t.Key] {
			kept = append(kept, t)
		}
	}
	*tags = kept
	return struct{}{}, nil
}

// pageSize validates maxResults.
func pageSize(maxResults *int, def, limit int) (int, error) {
	if maxResults == nil {
		return def, nil
	}
	if *maxResults < 1 || *maxResults > limit {
		return 0, invalidParam("maxResults must be between 1 and %d; got %d.", limit, *maxResults)
	}
	return *maxResults, nil
}

// listPage is a List* operation's answer: one page of a sorted list under
// key, with a nextToken while more remain. The token is opaque to the
// caller: the offset of the next page.
func listPage(key string, items []string, token string, limit int) (map[string]any, error) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		var t struct {
			Offset int `json:"o"`
		}
		if err != nil || json.Unmarshal(b, &t) != nil || t.Offset < 0 {
			return nil, invalidParam("Invalid nextToken.")
		}
		start = t.Offset
	}
	if start > len(items) {
		start = len(items)
	}
	end := min(start+limit, len(items))
	out := map[string]any{key: append([]string{}, items[start:end]...)}
	if end < len(items) {
		out["nextToken"] = base64.RawURLEncoding.EncodeToString([]byte(`{"o":` + strconv.Itoa(end) + `}`))
	}
	return out, nil
}
