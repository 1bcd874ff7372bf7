package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// target is one implementation under comparison: the test bed or moto,
// reached through the real SDK clients. The raw response body of each call
// is kept: responses are compared as they are on the wire, so that a
// member of the wrong JSON type shows (the SDK would only fail on it).
type target struct {
	name     string
	endpoint string
	clients  map[string]any
	last     *recorder
}

// recorder is the SDK's HTTP client; it keeps the last response body.
type recorder struct {
	client *http.Client
	body   []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.body = nil
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func newTarget(name, endpoint, region string) *target {
	rec := &recorder{client: &http.Client{Timeout: 20 * time.Second}}
	cfg := aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		// Both accept any signature; moto derives nothing from the key.
		Credentials: credentials.NewStaticCredentialsProvider("AKIACONFORMANCE00000", "conformance", ""),
		HTTPClient:  rec,
		// A difference must show as a response, not be retried away.
		RetryMaxAttempts: 1,
	}
	return &target{name: name, endpoint: endpoint, last: rec, clients: map[string]any{
		"ecs":            ecs.NewFromConfig(cfg),
		"ecr":            ecr.NewFromConfig(cfg),
		"sqs":            sqs.NewFromConfig(cfg),
		"events":         eventbridge.NewFromConfig(cfg),
		"dynamodb":       dynamodb.NewFromConfig(cfg),
		"secretsmanager": secretsmanager.NewFromConfig(cfg),
		"sts":            sts.NewFromConfig(cfg),
		// EC2 only sets up what ECS cases need (moto registers a container
		// instance only for an instance it launched).
		"ec2": ec2.NewFromConfig(cfg),
		"iam": iam.NewFromConfig(cfg),
	}}
}

// result is what one call returned: the AWS error code, or the response
// body as JSON values (STS's XML as its text). Undecodable is set when the
// SDK could not read a successful response.
type result struct {
	Error       string `json:"error,omitempty"`
	Output      any    `json:"output,omitempty"`
	Undecodable bool   `json:"undecodable,omitempty"`
	sdkErr      error
}

// attributeValueFields are the DynamoDB members whose values are
// AttributeValue unions, which encoding/json cannot decode into.
var attributeValueFields = map[string]bool{"Item": true, "Key": true, "ExpressionAttributeValues": true, "ExclusiveStartKey": true}

// call sends service.Operation with input (AWS's wire names; encoding/json
// matches them to the SDK's field names) through the target's client.
func (tg *target) call(ctx context.Context, service, op string, input json.RawMessage) (result, error) {
	client, ok := tg.clients[service]
	if !ok {
		return result{}, fmt.Errorf("unknown service %q", service)
	}
	m := reflect.ValueOf(client).MethodByName(op)
	if !m.IsValid() {
		return result{}, fmt.Errorf("%s has no operation %s", service, op)
	}
	in := reflect.New(m.Type().In(1).Elem())
	if err := decodeInput(service, input, in); err != nil {
		return result{}, fmt.Errorf("%s.%s input: %w", service, op, err)
	}
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), in})
	var res result
	if errv := out[1]; !errv.IsNil() {
		err := errv.Interface().(error)
		var api smithy.APIError
		if errors.As(err, &api) {
			return result{Error: api.ErrorCode()}, nil
		}
		if tg.last.body == nil {
			return result{}, fmt.Errorf("%s %s.%s: %w", tg.name, service, op, err)
		}
		res.Undecodable, res.sdkErr = true, err
	}
	body := tg.last.body
	if len(bytes.TrimSpace(body)) == 0 {
		return res, nil
	}
	if err := json.Unmarshal(body, &res.Output); err != nil {
		// STS answers in XML; its leaf elements are compared.
		res.Output = xmlLeaves(body)
	}
	return res, nil
}

var xmlLeaf = regexp.MustCompile(`<([A-Za-z]+)>([^<]*)</([A-Za-z]+)>`)

// xmlLeaves reads a query-protocol response's leaf elements by name, which
// is all STS's GetCallerIdentity has.
func xmlLeaves(body []byte) map[string]any {
	out := map[string]any{}
	for _, m := range xmlLeaf.FindAllSubmatch(body, -1) {
		if string(m[1]) == string(m[3]) {
			out[string(m[1])] = string(m[2])
		}
	}
	return out
}

func decodeInput(service string, input json.RawMessage, in reflect.Value) error {
	if len(input) == 0 {
		return nil
	}
	if service != "dynamodb" {
		dec := json.NewDecoder(strings.NewReader(string(input)))
		dec.DisallowUnknownFields()
		return dec.Decode(in.Interface())
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(input, &fields); err != nil {
		return err
	}
	avs := map[string]map[string]ddbtypes.AttributeValue{}
	for name := range attributeValueFields {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		avs[name] = map[string]ddbtypes.AttributeValue{}
		for k, v := range m {
			av, err := attributeValue(v)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", name, k, err)
			}
			avs[name][k] = av
		}
		delete(fields, name)
	}
	rest, _ := json.Marshal(fields)
	dec := json.NewDecoder(strings.NewReader(string(rest)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in.Interface()); err != nil {
		return err
	}
	for name, m := range avs {
		in.Elem().FieldByName(name).Set(reflect.ValueOf(m))
	}
	return nil
}

// attributeValue decodes DynamoDB's wire form ({"S":"x"}, {"N":"1"}, ...).
func attributeValue(raw json.RawMessage) (ddbtypes.AttributeValue, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 {
		return nil, fmt.Errorf("not an attribute value: %s", raw)
	}
	for kind, val := range v {
		switch kind {
		case "S", "N":
			var s string
			if err := json.Unmarshal(val, &s); err != nil {
				return nil, err
			}
			if kind == "S" {
				return &ddbtypes.AttributeValueMemberS{Value: s}, nil
			}
			return &ddbtypes.AttributeValueMemberN{Value: s}, nil
		case "BOOL", "NULL":
			var b bool
			if err := json.Unmarshal(val, &b); err != nil {
				return nil, err
			}
			if kind == "BOOL" {
				return &ddbtypes.AttributeValueMemberBOOL{Value: b}, nil
			}
			return &ddbtypes.AttributeValueMemberNULL{Value: b}, nil
		case "SS", "NS":
			var ss []string
			if err := json.Unmarshal(val, &ss); err != nil {
				return nil, err
			}
			if kind == "SS" {
				return &ddbtypes.AttributeValueMemberSS{Value: ss}, nil
			}
			return &ddbtypes.AttributeValueMemberNS{Value: ss}, nil
		case "M":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(val, &m); err != nil {
				return nil, err
			}
			out := map[string]ddbtypes.AttributeValue{}
			for k, e := range m {
				av, err := attributeValue(e)
				if err != nil {
					return nil, err
				}
				out[k] = av
			}
			return &ddbtypes.AttributeValueMemberM{Value: out}, nil
		case "L":
			var l []json.RawMessage
			if err := json.Unmarshal(val, &l); err != nil {
				return nil, err
			}
			out := make([]ddbtypes.AttributeValue, 0, len(l))
			for _, e := range l {
				av, err := attributeValue(e)
				if err != nil {
					return nil, err
				}
				out = append(out, av)
			}
			return &ddbtypes.AttributeValueMemberL{Value: out}, nil
		}
		return nil, fmt.Errorf("attribute type %q is not supported here", kind)
	}
	return nil, nil
}

// normalizers replace what must differ between two implementations (ids
// each side draws at random) with a placeholder; nothing else is touched.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`), "<id>"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<id>"},
	// Secrets Manager appends six random characters to a secret's ARN.
	{regexp.MustCompile(`(:secret:[A-Za-z0-9/_+=.@-]+)-[A-Za-z0-9]{6}\b`), "$1-<rand>"},
	{regexp.MustCompile(`ecs-svc/[0-9]+`), "ecs-svc/<id>"},
	{regexp.MustCompile(`\b(eni|subnet|sg|vpc)-[0-9a-f]+\b`), "$1-<id>"},
	// EC2 instance IDs: i- and 8 or 17 hexadecimal digits.
	{regexp.MustCompile(`\bi-[0-9a-f]{8}(?:[0-9a-f]{9})?\b`), "i-<id>"},
	{regexp.MustCompile(`\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b`), "<mac>"},
	{regexp.MustCompile(`\b10\.[0-9]+\.[0-9]+\.[0-9]+\b`), "<ip>"},
	{regexp.MustCompile(`\bip-10-[0-9]+-[0-9]+-[0-9]+\b`), "ip-<ip>"},
	{regexp.MustCompile(`<RequestId>[^<]*</RequestId>`), "<RequestId><random></RequestId>"},
}

// randomKeys are members whose whole value is opaque and drawn per call.
var randomKeys = map[string]bool{"ReceiptHandle": true, "MessageId": true, "EventId": true, "VersionId": true,
	"authorizationToken": true, "runtimeId": true, "RequestId": true, "UserId": true,
	"RoleId": true, "InstanceProfileId": true, "PolicyId": true}

// timeKey names the members that hold a timestamp (each side stamps its
// own, moto to the microsecond): epoch numbers in the JSON protocols, numeric strings in SQS's
// attribute maps.
var timeKey = regexp.MustCompile(`(At|Date|Timestamp|DateTime|Time)$`)

func isTime(k string, v any) bool {
	if !timeKey.MatchString(k) {
		return false
	}
	switch x := v.(type) {
	case float64:
		return true
	case string:
		// Numeric strings in SQS's attributes, ISO 8601 in the query
		// protocols (IAM's CreateDate), each side to its own precision.
		if _, err := strconv.ParseFloat(x, 64); err == nil {
			return true
		}
		_, err := time.Parse(time.RFC3339, x)
		return err == nil
	}
	return false
}

// tagLists are members holding a set of tags, whose order AWS does not
// define.
var tagLists = map[string]bool{"Tags": true, "tags": true, "TagList": true}

func sortTags(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	key := func(e any) string {
		m, _ := e.(map[string]any)
		if k, ok := m["key"]; ok {
			return fmt.Sprint(k)
		}
		return fmt.Sprint(m["Key"])
	}
	sort.SliceStable(l, func(i, j int) bool { return key(l[i]) < key(l[j]) })
	return l
}

func normalize(v any, endpoint string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		renamed := false
		for k, e := range x {
			if nk := normalizeString(k, endpoint); nk != k {
				// A map keyed by random ids (VersionIdsToStages):
				// its values are what can be compared.
				k, renamed = nk, true
				k = fmt.Sprintf("%s#%d", k, len(out))
			}
			switch {
			case randomKeys[k] && e != nil:
				out[k] = "<random>"
			case isTime(k, e):
				out[k] = "<time>"
			case strings.HasPrefix(k, "MD5Of"):
				// A digest of what was sent is the same on both sides
				// (and looks like a random 32-hex id).
				out[k] = e
			case tagLists[k]:
				out[k] = sortTags(normalize(e, endpoint))
			default:
				out[k] = normalize(e, endpoint)
			}
		}
		if renamed {
			return valuesByKeyOrder(out)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, endpoint)
		}
		return out
	case string:
		// A JSON document inside a string (RedrivePolicy, Detail) is
		// compared as a document, not as its spacing.
		if strings.HasPrefix(x, "{") {
			var doc map[string]any
			if json.Unmarshal([]byte(x), &doc) == nil {
				return map[string]any{"<json>": normalize(doc, endpoint)}
			}
		}
		return normalizeString(x, endpoint)
	}
	return v
}

func normalizeString(s, endpoint string) string {
	s = strings.ReplaceAll(s, endpoint, "<endpoint>")
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// valuesByKeyOrder turns a map whose keys were random into the list of its
// values in a stable order.
func valuesByKeyOrder(m map[string]any) []any {
	out := make([]any, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sortByJSON(out)
	return out
}

func sortByJSON(l []any) {
	sort.SliceStable(l, func(i, j int) bool { return brief(l[i]) < brief(l[j]) })
}

// sortUnordered sorts the lists at the given paths: lists whose order AWS
// does not define (ListQueues, DescribeRepositories).
func sortUnordered(v any, paths []string) {
	for _, p := range paths {
		if l, ok := lookup(v, p); ok {
			if list, ok := l.([]any); ok {
				sortByJSON(list)
			}
		}
	}
}

// difference is one member whose values differ.
type difference struct {
	Path          string
	TestBed, Moto any
}

func (d difference) String() string {
	return fmt.Sprintf("%s: test bed %s, moto %s", d.Path, brief(d.TestBed), brief(d.Moto))
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// empty values are the same absence on the wire: a member left out, null,
// [] or {} (the SDK decodes them alike for callers).
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func compare(path string, a, b any, out *[]difference) {
	if empty(a) && empty(b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			compare(join(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			compare(path+"["+strconv.Itoa(i)+"]", al[i], bl[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, difference{Path: path, TestBed: a, Moto: b})
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lookup reads a dotted path (Tasks[0].TaskArn) out of a plain value.
func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		if name != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[name]; !ok {
				return nil, false
			}
		}
		for hasIdx {
			var n string
			n, idx, _ = strings.Cut(idx, "]")
			i, err := strconv.Atoi(n)
			l, ok := v.([]any)
			if err != nil || !ok || i >= len(l) {
				return nil, false
			}
			v = l[i]
			_, idx, hasIdx = strings.Cut(idx, "[")
		}
	}
	return v, true
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
}
