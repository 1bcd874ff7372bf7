package sqssim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

var queueNamePattern = wire.NewPattern(`^[A-Za-z0-9_-]{1,80}$`)

func (s *SQS) createQueue(ctx context.Context, body []byte) (any, error) {
	var in struct {
		QueueName  string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if strings.HasSuffix(in.QueueName, ".fifo") {
		return nil, newError(errUnsupportedOperation, "FIFO queues are not supported by the local test bed.")
	}
	if !queueNamePattern.MatchString(in.QueueName) {
		return nil, newError(errInvalidParameterValue, "Value %q for parameter QueueName is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.", in.QueueName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := s.arn(in.QueueName)
	exists := func(a string) bool { return s.queueByARN(a) != nil }
	if q := s.queues[in.QueueName]; q != nil {
		// Same attributes (those given, over the current ones) make
		// CreateQueue idempotent; any difference is QueueNameExists.
		want := q.settings.clone()
		if err := want.apply(in.Attributes, arn, exists); err != nil {
			return nil, err
		}
		if !want.equal(q.settings) {
			return nil, newError(errQueueNameExists, "A queue already exists with the same name and a different value for attribute(s) %s", strings.Join(slices.Sorted(maps.Keys(in.Attributes)), ", "))
		}
		return map[string]string{"QueueUrl": s.queueURL(ctx, q.name)}, nil
	}
	st := defaultSettings()
	if err := st.apply(in.Attributes, arn, exists); err != nil {
		return nil, err
	}
	q := newQueue(in.QueueName, arn, s.clock.Now(), st)
	for k, v := range in.Tags {
		q.tags[k] = v
	}
	s.queues[q.name] = q
	return map[string]string{"QueueUrl": s.queueURL(ctx, q.name)}, nil
}

func (s *SQS) getQueueURL(ctx context.Context, body []byte) (any, error) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[in.QueueName]
	if q == nil || (in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != s.account) {
		return nil, newError(errQueueDoesNotExist, "The specified queue does not exist.")
	}
	return map[string]string{"QueueUrl": s.queueURL(ctx, q.name)}, nil
}

func (s *SQS) listQueues(ctx context.Context, body []byte) (any, error) {
	var in struct {
		QueueNamePrefix string
		NextToken       string
		MaxResults      *int
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, newError(errInvalidParameterValue, "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.queues {
		if strings.HasPrefix(name, in.QueueNamePrefix) && name > after {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := struct {
		QueueUrls []string `json:",omitempty"`
		NextToken string   `json:",omitempty"`
	}{}
	if len(names) > limit {
		names = names[:limit]
		if in.MaxResults != nil {
			out.NextToken = base64.StdEncoding.EncodeToString([]byte(names[len(names)-1]))
		}
	}
	for _, name := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(ctx, name))
	}
	return out, nil
}

func decodeToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", newError(errInvalidParameterValue, "Invalid NextToken value.")
	}
	return string(b), nil
}

func (s *SQS) deleteQueue(_ context.Context, body []byte) (any, error) {
	var in struct{ QueueUrl string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	delete(s.queues, q.name)
	q.signal() // long pollers find the queue gone
	return nil, nil
}

// queueAttributeNames are the names GetQueueAttributes knows, "All" aside.
var queueAttributeNames = map[string]bool{
	"ApproximateNumberOfMessages":           true,
	"ApproximateNumberOfMessagesNotVisible": true,
	"ApproximateNumberOfMessagesDelayed":    true,
	"CreatedTimestamp":                      true,
	"LastModifiedTimestamp":                 true,
	"QueueArn":                              true,
	"VisibilityTimeout":                     true,
	"MaximumMessageSize":                    true,
	"MessageRetentionPeriod":                true,
	"DelaySeconds":                          true,
	"ReceiveMessageWaitTimeSeconds":         true,
	"RedrivePolicy":                         true,
}

func (s *SQS) getQueueAttributes(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl       string
		AttributeNames []string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	all := q.attributes(s.clock.Now())
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			out = all
			break
		}
		if !queueAttributeNames[name] && !passiveAttributes[name] && !fifoAttributes[name] {
			return nil, newError(errInvalidAttributeName, "Unknown Attribute %s.", name)
		}
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

// attributes renders every attribute the queue has now.
func (q *queue) attributes(now time.Time) map[string]string {
	visible, inFlight, delayed := q.counts(now)
	st := q.settings
	out := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"QueueArn":                              q.arn,
		"VisibilityTimeout":                     strconv.Itoa(st.VisibilityTimeout),
		"MaximumMessageSize":                    strconv.Itoa(st.MaximumMessageSize),
		"MessageRetentionPeriod":                strconv.Itoa(st.MessageRetentionPeriod),
		"DelaySeconds":                          strconv.Itoa(st.DelaySeconds),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(st.ReceiveMessageWaitTimeSeconds),
	}
	if st.Redrive != nil {
		b, _ := json.Marshal(st.Redrive)
		out["RedrivePolicy"] = string(b)
	}
	for k, v := range st.Passive {
		out[k] = v
	}
	return out
}

func (s *SQS) setQueueAttributes(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl   string
		Attributes map[string]string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	next := q.settings.clone()
	if err := next.apply(in.Attributes, q.arn, func(a string) bool { return s.queueByARN(a) != nil }); err != nil {
		return nil, err
	}
	q.settings = next
	q.modified = s.clock.Now()
	q.signal() // a shorter delay or a new redrive policy may free messages
	return nil, nil
}

func (s *SQS) purgeQueue(_ context.Context, body []byte) (any, error) {
	var in struct{ QueueUrl string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < purgeInterval {
		return nil, newError(errPurgeQueueInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name)
	}
	q.lastPurge = now
	for _, m := range q.msgs {
		q.remove(m)
	}
	q.compact()
	return nil, nil
}

func (s *SQS) listDeadLetterSourceQueues(ctx context.Context, body []byte) (any, error) {
	var in struct{ QueueUrl string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dlq, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, q := range s.queues {
		if q.settings.Redrive != nil && q.settings.Redrive.DeadLetterTargetArn == dlq.arn {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	urls := []string{}
	for _, name := range names {
		urls = append(urls, s.queueURL(ctx, name))
	}
	return map[string]any{"queueUrls": urls}, nil
}

func (s *SQS) tagQueue(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Tags     map[string]string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for k, v := range in.Tags {
		q.tags[k] = v
	}
	return nil, nil
}

func (s *SQS) untagQueue(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		TagKeys  []string
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(q.tags, k)
	}
	return nil, nil
}

func (s *SQS) listQueueTags(_ context.Context, body []byte) (any, error) {
	var in struct{ QueueUrl string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(q.tags) == 0 {
		return struct{}{}, nil
	}
	tags := make(map[string]string, len(q.tags))
	for k, v := range q.tags {
		tags[k] = v
	}
	return map[string]any{"Tags": tags}, nil
}

// decodeStrict decodes a JSON object held in a string attribute.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
