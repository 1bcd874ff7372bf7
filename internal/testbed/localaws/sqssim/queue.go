package sqssim

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits SQS enforces.
const (
	maxVisibilityTimeout = 12 * 60 * 60
	maxDelaySeconds      = 15 * 60
	maxWaitTimeSeconds   = 20
	minRetention         = 60
	maxRetention         = 14 * 24 * 60 * 60
	minMessageSize       = 1024
	maxMessageSize       = 1024 * 1024
	maxBatchSize         = 1024 * 1024
	maxAttributes        = 10
	maxReceiveCountLimit = 1000
	purgeInterval        = 60 * time.Second
)

// settings are a queue's configurable attributes.
type settings struct {
	VisibilityTimeout             int            `json:"visibilityTimeout"`
	MessageRetentionPeriod        int            `json:"messageRetentionPeriod"`
	ReceiveMessageWaitTimeSeconds int            `json:"receiveMessageWaitTimeSeconds"`
	DelaySeconds                  int            `json:"delaySeconds"`
	MaximumMessageSize            int            `json:"maximumMessageSize"`
	Redrive                       *redrivePolicy `json:"redrive,omitempty"`
	// Passive holds attributes that are stored and reported but change no
	// behaviour here (Policy, RedriveAllowPolicy, encryption settings).
	Passive map[string]string `json:"passive,omitempty"`
}

type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

func defaultSettings() settings {
	return settings{
		VisibilityTimeout:      30,
		MessageRetentionPeriod: 345600,
		// 1 MiB since August 2025 (CreateQueue: "Default: 1,048,576 bytes").
		MaximumMessageSize: maxMessageSize,
		Passive:            map[string]string{"SqsManagedSseEnabled": "true"},
	}
}

func (s settings) clone() settings {
	c := s
	if s.Redrive != nil {
		r := *s.Redrive
		c.Redrive = &r
	}
	c.Passive = make(map[string]string, len(s.Passive))
	for k, v := range s.Passive {
		c.Passive[k] = v
	}
	return c
}

func (s settings) equal(o settings) bool {
	if s.VisibilityTimeout != o.VisibilityTimeout || s.MessageRetentionPeriod != o.MessageRetentionPeriod ||
		s.ReceiveMessageWaitTimeSeconds != o.ReceiveMessageWaitTimeSeconds || s.DelaySeconds != o.DelaySeconds ||
		s.MaximumMessageSize != o.MaximumMessageSize {
		return false
	}
	if (s.Redrive == nil) != (o.Redrive == nil) || (s.Redrive != nil && *s.Redrive != *o.Redrive) {
		return false
	}
	if len(s.Passive) != len(o.Passive) {
		return false
	}
	for k, v := range s.Passive {
		if o.Passive[k] != v {
			return false
		}
	}
	return true
}

// passiveAttributes are accepted and reported without effect.
var passiveAttributes = map[string]bool{
	"Policy":                       true,
	"RedriveAllowPolicy":           true,
	"KmsMasterKeyId":               true,
	"KmsDataKeyReusePeriodSeconds": true,
	"SqsManagedSseEnabled":         true,
}

// fifoAttributes exist only on FIFO queues.
var fifoAttributes = map[string]bool{
	"FifoQueue":                 true,
	"ContentBasedDeduplication": true,
	"DeduplicationScope":        true,
	"FifoThroughputLimit":       true,
}

// apply sets the given attributes on s, validating each. dlqExists reports
// whether a dead-letter target ARN names an existing queue; self is the
// queue's own ARN.
func (s *settings) apply(attrs map[string]string, self string, dlqExists func(arn string) bool) error {
	for name, value := range attrs {
		switch name {
		case "VisibilityTimeout":
			n, err := intAttribute(name, value, 0, maxVisibilityTimeout)
			if err != nil {
				return err
			}
			s.VisibilityTimeout = n
		case "MessageRetentionPeriod":
			n, err := intAttribute(name, value, minRetention, maxRetention)
			if err != nil {
				return err
			}
			s.MessageRetentionPeriod = n
		case "ReceiveMessageWaitTimeSeconds":
			n, err := intAttribute(name, value, 0, maxWaitTimeSeconds)
			if err != nil {
				return err
			}
			s.ReceiveMessageWaitTimeSeconds = n
		case "DelaySeconds":
			n, err := intAttribute(name, value, 0, maxDelaySeconds)
			if err != nil {
				return err
			}
			s.DelaySeconds = n
		case "MaximumMessageSize":
			n, err := intAttribute(name, value, minMessageSize, maxMessageSize)
			if err != nil {
				return err
			}
			s.MaximumMessageSize = n
		case "RedrivePolicy":
			if value == "" {
				s.Redrive = nil
				continue
			}
			p, err := parseRedrivePolicy(value, self, dlqExists)
			if err != nil {
				return err
			}
			s.Redrive = p
		case "FifoQueue":
			if value == "true" {
				return newError(errUnsupportedOperation, "FIFO queues are not supported by the local test bed.")
			}
			if value != "false" {
				return newError(errInvalidAttributeValue, "Invalid value for the parameter FifoQueue.")
			}
		default:
			if fifoAttributes[name] {
				return newError(errInvalidAttributeName, "You can specify the %s only when FifoQueue is set to true.", name)
			}
			if !passiveAttributes[name] {
				return newError(errInvalidAttributeName, "Unknown Attribute %s.", name)
			}
			if value == "" {
				delete(s.Passive, name)
			} else {
				s.Passive[name] = value
			}
		}
	}
	return nil
}

func intAttribute(name, value string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < lo || n > hi {
		return 0, newError(errInvalidAttributeValue, "Invalid value for the parameter %s: %q is not an integer from %d to %d.", name, value, lo, hi)
	}
	return n, nil
}

// parseRedrivePolicy reads the JSON document SQS takes; maxReceiveCount may
// be a number or a numeric string, as SQS accepts both.
func parseRedrivePolicy(value, self string, dlqExists func(string) bool) (*redrivePolicy, error) {
	invalid := func(reason string) error {
		return newError(errInvalidParameterValue, "Value %s for parameter RedrivePolicy is invalid. Reason: %s", value, reason)
	}
	var raw struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	if err := decodeStrict(value, &raw); err != nil {
		return nil, invalid("Redrive policy is not a valid JSON map.")
	}
	if raw.DeadLetterTargetArn == "" {
		return nil, invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	var count int
	switch v := raw.MaxReceiveCount.(type) {
	case float64:
		count = int(v)
		if float64(count) != v {
			return nil, invalid("Invalid value for maxReceiveCount: " + fmt.Sprint(v) + ", valid values are from 1 to 1000 both inclusive.")
		}
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, invalid("Invalid value for maxReceiveCount: " + v + ", valid values are from 1 to 1000 both inclusive.")
		}
		count = n
	case nil:
		return nil, invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	default:
		return nil, invalid("Invalid value for maxReceiveCount, valid values are from 1 to 1000 both inclusive.")
	}
	if count < 1 || count > maxReceiveCountLimit {
		return nil, invalid(fmt.Sprintf("Invalid value for maxReceiveCount: %d, valid values are from 1 to 1000 both inclusive.", count))
	}
	if raw.DeadLetterTargetArn == self {
		return nil, invalid("Dead-letter target cannot be the queue itself.")
	}
	if !dlqExists(raw.DeadLetterTargetArn) {
		return nil, invalid("Dead letter target does not exist.")
	}
	return &redrivePolicy{DeadLetterTargetArn: raw.DeadLetterTargetArn, MaxReceiveCount: count}, nil
}

// attrValue is a message attribute as the JSON protocol carries it; binary
// values travel base64-encoded, which encoding/json does for []byte.
type attrValue struct {
	DataType    string  `json:"DataType"`
	StringValue *string `json:"StringValue,omitempty"`
	BinaryValue []byte  `json:"BinaryValue,omitempty"`
	// List values are reserved by SQS and refused when sent.
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

// message is one message of a queue with its delivery state.
type message struct {
	ID           string               `json:"id"`
	Body         string               `json:"body"`
	Attributes   map[string]attrValue `json:"attributes,omitempty"`
	TraceHeader  *attrValue           `json:"traceHeader,omitempty"`
	SenderID     string               `json:"senderId"`
	Sent         time.Time            `json:"sent"`
	VisibleAt    time.Time            `json:"visibleAt"`
	ReceiveCount int                  `json:"receiveCount"`
	FirstReceive time.Time            `json:"firstReceive,omitzero"`
	LastReceive  time.Time            `json:"lastReceive,omitzero"`
	// Handle is the receipt handle of the latest receive ("" before the
	// first); only it may delete or change the visibility of the message.
	Handle    string `json:"handle,omitempty"`
	DLQSource string `json:"dlqSource,omitempty"`

	md5Body, md5Attrs, md5System string
	deleted                      bool
}

func (m *message) checksum() {
	sum := md5.Sum([]byte(m.Body))
	m.md5Body = hex.EncodeToString(sum[:])
	m.md5Attrs = ""
	if len(m.Attributes) > 0 {
		m.md5Attrs = attributesMD5(m.Attributes)
	}
	m.md5System = ""
	if m.TraceHeader != nil {
		m.md5System = attributesMD5(map[string]attrValue{"AWSTraceHeader": *m.TraceHeader})
	}
}

func (m *message) inFlight(now time.Time) bool { return m.Handle != "" && now.Before(m.VisibleAt) }
func (m *message) delayed(now time.Time) bool  { return m.ReceiveCount == 0 && now.Before(m.VisibleAt) }

// queue is one standard queue. Its fields are guarded by SQS.mu.
type queue struct {
	name      string
	arn       string
	created   time.Time
	modified  time.Time
	lastPurge time.Time
	settings  settings
	tags      map[string]string

	// msgs holds messages in send order; deleted ones are dropped lazily.
	msgs    []*message
	byID    map[string]*message
	deleted int

	// wake is closed (and replaced) whenever a message may have become
	// receivable, to release long-polling receivers at once.
	wake chan struct{}
}

func newQueue(name, arn string, now time.Time, s settings) *queue {
	return &queue{
		name:     name,
		arn:      arn,
		created:  now,
		modified: now,
		settings: s,
		tags:     map[string]string{},
		byID:     map[string]*message{},
		wake:     make(chan struct{}),
	}
}

func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// checkMessage validates a message about to be sent: body characters and the
// size limit, which counts the body and every attribute's name, type and
// value. extra is the size of other content already counted.
func (q *queue) checkMessage(m *message, extra int) error {
	if m.Body == "" {
		return newError(errMissingParameter, "The request must contain the parameter MessageBody.")
	}
	if !utf8.ValidString(m.Body) {
		return newError(errInvalidMessageContents, "Invalid binary character in the message body: the body is not valid UTF-8.")
	}
	for i, r := range m.Body {
		if !allowedRune(r) {
			return newError(errInvalidMessageContents, "Invalid binary character '#x%X' was found in the message body at byte %d, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", r, i)
		}
	}
	if size := messageSize(m) + extra; size > q.settings.MaximumMessageSize {
		return newError(errInvalidParameterValue, "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.settings.MaximumMessageSize)
	}
	return nil
}

func allowedRune(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

func messageSize(m *message) int {
	n := len(m.Body)
	for name, a := range m.Attributes {
		n += len(name) + len(a.DataType) + len(a.BinaryValue)
		if a.StringValue != nil {
			n += len(*a.StringValue)
		}
	}
	return n
}

// enqueue adds a checked message, available after delay seconds.
func (q *queue) enqueue(m *message, now time.Time, delay int) {
	m.ID = newID()
	m.Sent = now
	m.VisibleAt = now.Add(time.Duration(delay) * time.Second)
	m.checksum()
	q.insert(m)
}

func (q *queue) insert(m *message) {
	q.msgs = append(q.msgs, m)
	q.byID[m.ID] = m
	q.signal()
}

// remove marks m deleted. It leaves q.msgs alone, so callers may remove
// while ranging over it; compact reclaims the slots afterwards.
func (q *queue) remove(m *message) {
	if m.deleted {
		return
	}
	m.deleted = true
	delete(q.byID, m.ID)
	q.deleted++
}

// compact drops deleted messages from q.msgs once they are the majority.
// It must not run while a caller ranges over q.msgs.
func (q *queue) compact() {
	if q.deleted <= 64 || q.deleted <= len(q.msgs)/2 {
		return
	}
	live := q.msgs[:0]
	for _, x := range q.msgs {
		if !x.deleted {
			live = append(live, x)
		}
	}
	clear(q.msgs[len(live):])
	q.msgs = live
	q.deleted = 0
}

func (q *queue) expired(m *message, now time.Time) bool {
	return !now.Before(m.Sent.Add(time.Duration(q.settings.MessageRetentionPeriod) * time.Second))
}

// dropExpired removes messages past the retention period.
func (q *queue) dropExpired(now time.Time) {
	for _, m := range q.msgs {
		if !m.deleted && q.expired(m, now) {
			q.remove(m)
		}
	}
	q.compact()
}

// counts returns the visible, in-flight and delayed message counts.
func (q *queue) counts(now time.Time) (visible, inFlight, delayed int) {
	q.dropExpired(now)
	for _, m := range q.msgs {
		switch {
		case m.deleted:
		case m.inFlight(now):
			inFlight++
		case m.delayed(now):
			delayed++
		default:
			visible++
		}
	}
	return visible, inFlight, delayed
}

// nextVisible is the earliest time a message that is not receivable now
// becomes receivable; zero when none will.
func (q *queue) nextVisible(now time.Time) time.Time {
	var next time.Time
	for _, m := range q.msgs {
		if m.deleted || !now.Before(m.VisibleAt) {
			continue
		}
		if next.IsZero() || m.VisibleAt.Before(next) {
			next = m.VisibleAt
		}
	}
	return next
}

// handleState is what a receipt handle refers to.
type handleState int

const (
	handleCurrent handleState = iota // the in-flight receive of a message
	handleGone                       // a message that no longer exists
	handleStale                      // a receive that has ended
)

// resolve finds the message a receipt handle refers to.
func (q *queue) resolve(handle string, now time.Time) (*message, handleState, error) {
	arn, id, ok := decodeHandle(handle)
	if !ok || arn != q.arn {
		return nil, 0, newError(errReceiptHandleIsInvalid, "The input receipt handle %q is not a valid receipt handle.", handle)
	}
	m := q.byID[id]
	switch {
	case m == nil:
		return nil, handleGone, nil
	case m.Handle != handle || !m.inFlight(now):
		return m, handleStale, nil
	}
	return m, handleCurrent, nil
}

// Receipt handles carry the queue ARN and message ID, so that a handle from
// another queue or a forged one is told apart from a handle whose message is
// gone, plus the receive count and randomness so each receive differs.
func newHandle(arn, id string, receive int) string {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	raw := fmt.Sprintf("%s %s %d %x", arn, id, receive, nonce)
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func decodeHandle(handle string) (arn, id string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(handle)
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(string(raw), " ")
	if len(parts) != 4 {
		return "", "", false
	}
	if _, err := strconv.Atoi(parts[2]); err != nil {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// newID returns a random UUID (version 4), the form of SQS message IDs.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
