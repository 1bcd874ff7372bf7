package s3sim

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// apiError is an S3 error as the REST-XML protocol sends it.
type apiError struct {
	XMLName    xml.Name `xml:"Error"`
	Status     int      `xml:"-"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Key        string   `xml:"Key,omitempty"`
	BucketName string   `xml:"BucketName,omitempty"`
	Condition  string   `xml:"Condition,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func noSuchBucket(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoSuchBucket", Message: "The specified bucket does not exist", BucketName: name}
}

func errNotImplemented(what string) *apiError {
	return &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
		Message: "A header or query you provided implies functionality that is not implemented: " + what + " is not served by this test bed"}
}

// writeHeaders sets the request IDs S3 puts on every response.
func writeHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Amz-Request-Id", requestID())
	w.Header().Set("X-Amz-Id-2", base64.StdEncoding.EncodeToString([]byte(wire.RequestID())))
}

// requestID has the form of S3's x-amz-request-id: 16 upper-case hex digits.
func requestID() string {
	return strings.ToUpper(strings.ReplaceAll(wire.RequestID(), "-", ""))[:16]
}

// writeError writes err as S3's XML error; a HEAD response has no body, as
// S3 sends none.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
	}
	writeHeaders(w)
	e.RequestID = w.Header().Get("X-Amz-Request-Id")
	e.HostID = w.Header().Get("X-Amz-Id-2")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	body, _ := xml.Marshal(e)
	body = append([]byte(xml.Header), body...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
