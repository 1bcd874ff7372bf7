// Package wire holds what the local AWS stand-ins share on the wire: the AWS
// JSON protocol's error shape, request dispatch by X-Amz-Target, the clock
// the simulations read, the default account and region with their checks,
// and the header of their saved state, so that each service package only
// describes its operations.
package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an AWS error as the JSON protocols send it: an HTTP status, a
// type (the SDK maps it to its typed exception, e.g. ecs ClientException)
// and a message. Headers carries protocol extras such as SQS's
// x-amzn-query-error.
type Error struct {
	Status  int
	Code    string
	Message string
	Headers map[string]string
	// Fields are extra members of the error body (e.g. ECR's registryId).
	Fields map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a client (4xx) error of the given type.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Op handles one operation: it decodes its own input from body and returns
// the value to encode as the JSON response, or an error (an *Error for a
// typed AWS error; anything else becomes a 500 InternalFailure).
type Op func(ctx context.Context, body []byte) (any, error)

// Service is one JSON-protocol service: its X-Amz-Target prefix (for example
// "AmazonEC2ContainerServiceV20141113"), its JSON version ("1.0" or "1.1")
// and its operations by name.
type Service struct {
	TargetPrefix string
	JSONVersion  string
	Ops          map[string]Op
	// CRC32 adds the X-Amz-Crc32 header DynamoDB puts on every response;
	// its SDK client checks the body against it.
	CRC32 bool
}

// Mux routes JSON-protocol requests to services by X-Amz-Target.
type Mux struct {
	services map[string]Service
}

// NewMux returns a Mux serving the given services.
func NewMux(services ...Service) *Mux {
	m := &Mux{services: map[string]Service{}}
	for _, s := range services {
		m.services[s.TargetPrefix] = s
	}
	return m
}

// Handles reports whether the request is for one of the mux's services.
func (m *Mux) Handles(r *http.Request) bool {
	prefix, _, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if !ok {
		return false
	}
	_, found := m.services[prefix]
	return found
}

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix, opName, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	svc, ok := m.services[prefix]
	if !ok {
		WriteError(w, "1.1", Errorf(http.StatusBadRequest, "UnknownOperationException", "unknown target %q", r.Header.Get("X-Amz-Target")))
		return
	}
	op, ok := svc.Ops[opName]
	if !ok {
		WriteError(w, svc.JSONVersion, Errorf(http.StatusBadRequest, "UnknownOperationException", "operation %s is not supported by this test bed", opName))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		WriteError(w, svc.JSONVersion, Errorf(http.StatusBadRequest, "SerializationException", "read body: %v", err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !isObject(body) {
		WriteError(w, svc.JSONVersion, notObject())
		return
	}
	if svc.CRC32 {
		w = &crc32Writer{ResponseWriter: w}
		defer w.(*crc32Writer).flush()
	}
	out, err := op(r.Context(), body)
	if err != nil {
		WriteError(w, svc.JSONVersion, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	WriteJSON(w, svc.JSONVersion, http.StatusOK, out)
}

// Decode unmarshals an operation's input, turning a syntax error into the
// SerializationException AWS answers with.
// A body that is valid JSON but not an object (null, [], "", 1) is refused
// the same way: every operation's input is a structure.
func Decode(body []byte, v any) error {
	if !isObject(body) {
		return notObject()
	}
	if err := json.Unmarshal(body, v); err != nil {
		return Errorf(http.StatusBadRequest, "SerializationException", "cannot decode request: %v", err)
	}
	return nil
}

// isObject reports whether body's first non-space byte opens a JSON object.
func isObject(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func notObject() *Error {
	return Errorf(http.StatusBadRequest, "SerializationException", "cannot decode request: the input must be a JSON object")
}

// WriteJSON writes v as an AWS JSON protocol response.
func WriteJSON(w http.ResponseWriter, jsonVersion string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, jsonVersion, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-"+jsonVersion)
	w.Header().Set("X-Amzn-RequestId", RequestID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteError writes err in the JSON protocol's error shape.
func WriteError(w http.ResponseWriter, jsonVersion string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: err.Error()}
	}
	body := map[string]any{}
	for k, v := range e.Fields {
		body[k] = v
	}
	body["__type"] = e.Code
	body["message"] = e.Message
	for k, v := range e.Headers {
		w.Header().Set(k, v)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-"+jsonVersion)
	w.Header().Set("X-Amzn-RequestId", RequestID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Clock tells the simulations the time; tests pass a controllable one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Epoch renders t the way the AWS JSON protocols send timestamps: seconds
// since the epoch as a number, with millisecond precision.
func Epoch(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// RequestID returns a random request ID in the UUID-like form AWS puts in
// X-Amzn-RequestId.
func RequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// crc32Writer holds a response until it is complete, to send the CRC32 of
// its body as a header.
type crc32Writer struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (c *crc32Writer) WriteHeader(status int) { c.status = status }

func (c *crc32Writer) Write(b []byte) (int, error) {
	c.body = append(c.body, b...)
	return len(b), nil
}

func (c *crc32Writer) flush() {
	c.ResponseWriter.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(c.body)), 10))
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.ResponseWriter.WriteHeader(c.status)
	_, _ = c.ResponseWriter.Write(c.body)
}

// SignedService returns the service of a SigV4 Authorization header's
// credential scope (AKID/DATE/REGION/SERVICE/aws4_request), or "". The
// query-protocol stand-ins (STS, IAM) carry no X-Amz-Target, so a server
// mounting several of them on one endpoint routes by it.
func SignedService(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}
