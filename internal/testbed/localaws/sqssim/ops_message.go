package sqssim

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

type sendEntry struct {
	ID                      string `json:"Id"`
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]attrValue
	MessageSystemAttributes map[string]attrValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

type sendResult struct {
	ID                           string `json:"Id,omitempty"`
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
}

func (s *SQS) sendMessage(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		sendEntry
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
	m, delay, err := buildMessage(q, &in.sendEntry, s.account)
	if err != nil {
		return nil, err
	}
	if err := q.checkMessage(m, 0); err != nil {
		return nil, err
	}
	q.enqueue(m, s.clock.Now(), delay)
	return sendResult{MessageId: m.ID, MD5OfMessageBody: m.md5Body, MD5OfMessageAttributes: m.md5Attrs, MD5OfMessageSystemAttributes: m.md5System}, nil
}

func (s *SQS) sendMessageBatch(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []sendEntry
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.ID
	}
	if err := checkBatch("SendMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, e := range in.Entries {
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for name, a := range e.MessageAttributes {
			total += len(name) + len(a.DataType) + len(a.BinaryValue)
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
		}
	}
	if total > maxBatchSize {
		return nil, newError(errBatchRequestTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchSize, total)
	}
	out := struct {
		Successful []sendResult
		Failed     []batchError
	}{Successful: []sendResult{}, Failed: []batchError{}}
	now := s.clock.Now()
	for i := range in.Entries {
		e := &in.Entries[i]
		m, delay, err := buildMessage(q, e, s.account)
		if err == nil {
			err = q.checkMessage(m, 0)
		}
		if err != nil {
			out.Failed = append(out.Failed, entryError(e.ID, err))
			continue
		}
		q.enqueue(m, now, delay)
		out.Successful = append(out.Successful, sendResult{ID: e.ID, MessageId: m.ID, MD5OfMessageBody: m.md5Body, MD5OfMessageAttributes: m.md5Attrs, MD5OfMessageSystemAttributes: m.md5System})
	}
	return out, nil
}

var attributeNamePattern = wire.NewPattern(`^[A-Za-z0-9_.-]{1,256}$`)

// buildMessage validates a send entry and returns its message (not yet
// enqueued) and delay.
func buildMessage(q *queue, e *sendEntry, sender string) (*message, int, error) {
	if e.MessageBody == nil || *e.MessageBody == "" {
		return nil, 0, newError(errMissingParameter, "The request must contain the parameter MessageBody.")
	}
	if e.MessageDeduplicationId != nil {
		return nil, 0, newError(errInvalidParameterValue, "Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.", *e.MessageDeduplicationId)
	}
	delay := q.settings.DelaySeconds
	if e.DelaySeconds != nil {
		if *e.DelaySeconds < 0 || *e.DelaySeconds > maxDelaySeconds {
			return nil, 0, newError(errInvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *e.DelaySeconds)
		}
		delay = *e.DelaySeconds
	}
	if len(e.MessageAttributes) > maxAttributes {
		return nil, 0, newError(errInvalidParameterValue, "Number of message attributes [%d] exceeds the allowed maximum [%d].", len(e.MessageAttributes), maxAttributes)
	}
	for name, a := range e.MessageAttributes {
		if err := checkAttribute(name, a); err != nil {
			return nil, 0, err
		}
	}
	m := &message{Body: *e.MessageBody, SenderID: sender}
	if len(e.MessageAttributes) > 0 {
		m.Attributes = e.MessageAttributes
	}
	for name, a := range e.MessageSystemAttributes {
		if name != "AWSTraceHeader" {
			return nil, 0, newError(errInvalidParameterValue, "Message system attribute name '%s' is invalid.", name)
		}
		if a.DataType != "String" || a.StringValue == nil || *a.StringValue == "" {
			return nil, 0, newError(errInvalidParameterValue, "Value for message system attribute AWSTraceHeader must be a non-empty String.")
		}
		th := a
		m.TraceHeader = &th
	}
	return m, delay, nil
}

func checkAttribute(name string, a attrValue) error {
	lower := strings.ToLower(name)
	if !attributeNamePattern.MatchString(name) || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return newError(errInvalidParameterValue, "Message (user) attribute name '%s' is invalid. Names use A-Z, a-z, 0-9, '_', '-' and '.', up to 256 characters, must not start or end with '.', contain '..' or start with 'AWS.' or 'Amazon.'.", name)
	}
	if a.StringListValues != nil || a.BinaryListValues != nil {
		return newError(errInvalidParameterValue, "Message (user) attribute '%s': list values are reserved and not supported.", name)
	}
	base, _, _ := strings.Cut(a.DataType, ".")
	switch base {
	case "String", "Number":
		if a.StringValue == nil || *a.StringValue == "" {
			return newError(errInvalidParameterValue, "The message (user) attribute '%s' must contain a non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
		}
		if a.BinaryValue != nil {
			return newError(errInvalidParameterValue, "The message (user) attribute '%s' of type '%s' must not carry a BinaryValue.", name, a.DataType)
		}
		for _, r := range *a.StringValue {
			if !allowedRune(r) {
				return newError(errInvalidParameterValue, "The message (user) attribute '%s' contains an invalid character '#x%X'.", name, r)
			}
		}
		if base == "Number" {
			if _, err := strconv.ParseFloat(*a.StringValue, 64); err != nil {
				return newError(errInvalidParameterValue, "Can't cast the value of message (user) attribute '%s' to a number.", name)
			}
		}
	case "Binary":
		if len(a.BinaryValue) == 0 {
			return newError(errInvalidParameterValue, "The message (user) attribute '%s' must contain a non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
		}
		if a.StringValue != nil {
			return newError(errInvalidParameterValue, "The message (user) attribute '%s' of type '%s' must not carry a StringValue.", name, a.DataType)
		}
	default:
		return newError(errInvalidParameterValue, "The message (user) attribute '%s' has an invalid message attribute type '%s', the set of supported type prefixes is Binary, Number, and String.", name, a.DataType)
	}
	return nil
}

var batchIDPattern = wire.NewPattern(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch validates batch entry IDs: 1 to 10 entries, well-formed and
// distinct.
func checkBatch(entry string, ids []string) error {
	if len(ids) == 0 {
		return newError(errEmptyBatchRequest, "There should be at least one %s in the request.", entry)
	}
	if len(ids) > 10 {
		return newError(errTooManyEntries, "Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDPattern.MatchString(id) {
			return newError(errInvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return newError(errBatchEntryIdsNotDistinct, "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

// systemAttributeNames are the message system attributes ReceiveMessage
// can return.
var systemAttributeNames = []string{
	"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"AWSTraceHeader", "DeadLetterQueueSourceArn",
}

type receivedMessage struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string    `json:",omitempty"`
	MD5OfMessageAttributes string               `json:",omitempty"`
	MessageAttributes      map[string]attrValue `json:",omitempty"`
}

type receiveRequest struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
}

func (s *SQS) receiveMessage(ctx context.Context, body []byte) (any, error) {
	var in receiveRequest
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	limit := 1
	if in.MaxNumberOfMessages != nil {
		if *in.MaxNumberOfMessages < 1 || *in.MaxNumberOfMessages > 10 {
			return nil, newError(errInvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *in.MaxNumberOfMessages)
		}
		limit = *in.MaxNumberOfMessages
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > maxVisibilityTimeout) {
		return nil, newError(errInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= %d, if provided.", *in.VisibilityTimeout, maxVisibilityTimeout)
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > maxWaitTimeSeconds) {
		return nil, newError(errInvalidParameterValue, "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= %d, if provided.", *in.WaitTimeSeconds, maxWaitTimeSeconds)
	}
	var deadline time.Time
	for {
		s.mu.Lock()
		q, err := s.lookup(in.QueueUrl)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if deadline.IsZero() {
			wait := q.settings.ReceiveMessageWaitTimeSeconds
			if in.WaitTimeSeconds != nil {
				wait = *in.WaitTimeSeconds
			}
			deadline = time.Now().Add(time.Duration(wait) * time.Second)
		}
		now := s.clock.Now()
		got := s.take(q, now, limit, in)
		if len(got) > 0 {
			s.mu.Unlock()
			return map[string]any{"Messages": got}, nil
		}
		wake, next := q.wake, q.nextVisible(now)
		s.mu.Unlock()

		// Wait on real time, bounded by WaitTimeSeconds, for a send or for
		// the clock to reach the next message's visibility.
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return struct{}{}, nil
		}
		if !next.IsZero() && next.Sub(now) < remaining {
			remaining = next.Sub(now)
		}
		timer := time.NewTimer(remaining)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
		timer.Stop()
	}
}

// take receives up to limit messages from q, moving those past the redrive
// policy's maxReceiveCount to the dead-letter queue. Callers hold s.mu.
func (s *SQS) take(q *queue, now time.Time, limit int, in receiveRequest) []receivedMessage {
	vt := q.settings.VisibilityTimeout
	if in.VisibilityTimeout != nil {
		vt = *in.VisibilityTimeout
	}
	var dlq *queue
	if rp := q.settings.Redrive; rp != nil {
		dlq = s.queueByARN(rp.DeadLetterTargetArn)
	}
	var out []receivedMessage
	for _, m := range q.msgs {
		if len(out) == limit {
			break
		}
		if m.deleted || now.Before(m.VisibleAt) {
			continue
		}
		if q.expired(m, now) {
			q.remove(m)
			continue
		}
		if dlq != nil && dlq != q && m.ReceiveCount >= q.settings.Redrive.MaxReceiveCount {
			q.remove(m)
			moved := *m
			moved.deleted = false
			moved.Handle = ""
			moved.VisibleAt = now
			moved.DLQSource = q.arn
			if dlq.byID[moved.ID] == nil {
				dlq.insert(&moved)
			}
			continue
		}
		m.ReceiveCount++
		if m.FirstReceive.IsZero() {
			m.FirstReceive = now
		}
		m.LastReceive = now
		m.Handle = newHandle(q.arn, m.ID, m.ReceiveCount)
		m.VisibleAt = now.Add(time.Duration(vt) * time.Second)
		out = append(out, render(m, in))
	}
	q.compact()
	return out
}

// render builds the response form of a received message with the requested
// system and user attributes; MD5OfMessageAttributes covers the returned
// attributes only, as on SQS.
func render(m *message, in receiveRequest) receivedMessage {
	r := receivedMessage{MessageId: m.ID, ReceiptHandle: m.Handle, MD5OfBody: m.md5Body, Body: m.Body}
	want := map[string]bool{}
	for _, n := range append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...) {
		want[n] = true
	}
	if want["All"] {
		for _, n := range systemAttributeNames {
			want[n] = true
		}
	}
	values := map[string]string{
		"SenderId":                         m.SenderID,
		"SentTimestamp":                    epochMillis(m.Sent),
		"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
		"ApproximateFirstReceiveTimestamp": epochMillis(m.FirstReceive),
	}
	if m.TraceHeader != nil && m.TraceHeader.StringValue != nil {
		values["AWSTraceHeader"] = *m.TraceHeader.StringValue
	}
	if m.DLQSource != "" {
		values["DeadLetterQueueSourceArn"] = m.DLQSource
	}
	for _, n := range systemAttributeNames {
		if v, ok := values[n]; ok && want[n] {
			if r.Attributes == nil {
				r.Attributes = map[string]string{}
			}
			r.Attributes[n] = v
		}
	}
	for name, a := range m.Attributes {
		if attributeWanted(name, in.MessageAttributeNames) {
			if r.MessageAttributes == nil {
				r.MessageAttributes = map[string]attrValue{}
			}
			r.MessageAttributes[name] = a
		}
	}
	if len(r.MessageAttributes) > 0 {
		r.MD5OfMessageAttributes = attributesMD5(r.MessageAttributes)
	}
	return r
}

// attributeWanted applies ReceiveMessage's MessageAttributeNames: "All" or
// ".*" for every attribute, "prefix.*" for a prefix, otherwise exact names.
func attributeWanted(name string, filters []string) bool {
	for _, f := range filters {
		switch {
		case f == "All" || f == ".*":
			return true
		case strings.HasSuffix(f, ".*"):
			if strings.HasPrefix(name, strings.TrimSuffix(f, "*")) {
				return true
			}
		case f == name:
			return true
		}
	}
	return false
}

func (s *SQS) deleteMessage(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl      string
		ReceiptHandle string
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
	return nil, s.delete(q, in.ReceiptHandle)
}

// delete applies DeleteMessage to one handle. Callers hold s.mu.
func (s *SQS) delete(q *queue, handle string) error {
	m, state, err := q.resolve(handle, s.clock.Now())
	switch {
	case err != nil:
		return err
	case state == handleGone:
		return nil
	case state == handleStale && m.Handle != handle:
		// AWS: "If you use an old ReceiptHandle, the request will succeed,
		// but the message might not be deleted." The test bed keeps the
		// message, the outcome a consumer must be ready for.
		return nil
	}
	// The most recent receive's handle deletes, even once its visibility
	// timeout has ended: it is the handle AWS asks for.
	q.remove(m)
	q.compact()
	return nil
}

type deleteEntry struct {
	ID            string `json:"Id"`
	ReceiptHandle string
}

func (s *SQS) deleteMessageBatch(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []deleteEntry
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	return handleBatch(s, in.QueueUrl, "DeleteMessageBatchRequestEntry", in.Entries,
		func(e deleteEntry) string { return e.ID },
		func(q *queue, e deleteEntry) error { return s.delete(q, e.ReceiptHandle) })
}

func (s *SQS) changeMessageVisibility(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout *int
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
	return nil, s.changeVisibility(q, in.ReceiptHandle, in.VisibilityTimeout)
}

// changeVisibility applies ChangeMessageVisibility to one handle. Callers
// hold s.mu.
func (s *SQS) changeVisibility(q *queue, handle string, timeout *int) error {
	if timeout == nil {
		return newError(errMissingParameter, "The request must contain the parameter VisibilityTimeout.")
	}
	vt := *timeout
	if vt < 0 || vt > maxVisibilityTimeout {
		return newError(errInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= %d.", vt, maxVisibilityTimeout)
	}
	now := s.clock.Now()
	m, state, err := q.resolve(handle, now)
	switch {
	case err != nil:
		return err
	case state == handleGone:
		return newError(errInvalidParameterValue, "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
	case state == handleStale:
		return newError(errMessageNotInflight, "The message referred to by receipt handle %s is not in flight: its visibility timeout has ended or it was received again.", handle)
	}
	if now.Sub(m.LastReceive)+time.Duration(vt)*time.Second > maxVisibilityTimeout*time.Second {
		return newError(errInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [%d seconds].", vt, maxVisibilityTimeout)
	}
	m.VisibleAt = now.Add(time.Duration(vt) * time.Second)
	if vt == 0 {
		q.signal()
	}
	return nil
}

type visibilityEntry struct {
	ID                string `json:"Id"`
	ReceiptHandle     string
	VisibilityTimeout *int
}

func (s *SQS) changeMessageVisibilityBatch(_ context.Context, body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []visibilityEntry
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	return handleBatch(s, in.QueueUrl, "ChangeMessageVisibilityBatchRequestEntry", in.Entries,
		func(e visibilityEntry) string { return e.ID },
		func(q *queue, e visibilityEntry) error {
			return s.changeVisibility(q, e.ReceiptHandle, e.VisibilityTimeout)
		})
}

// handleBatch answers DeleteMessageBatch and ChangeMessageVisibilityBatch:
// it checks the entries' IDs, applies apply to each entry under s.mu and
// reports each entry as successful or failed, as SQS does.
func handleBatch[E any](s *SQS, queueURL, entryName string, entries []E, id func(E) string, apply func(*queue, E) error) (any, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = id(e)
	}
	if err := checkBatch(entryName, ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueURL)
	if err != nil {
		return nil, err
	}
	type ok struct {
		ID string `json:"Id"`
	}
	out := struct {
		Successful []ok
		Failed     []batchError
	}{Successful: []ok{}, Failed: []batchError{}}
	for _, e := range entries {
		if err := apply(q, e); err != nil {
			out.Failed = append(out.Failed, entryError(id(e), err))
			continue
		}
		out.Successful = append(out.Successful, ok{id(e)})
	}
	return out, nil
}
