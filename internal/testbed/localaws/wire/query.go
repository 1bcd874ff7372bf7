package wire

import (
	"io"
	"net/http"
	"net/url"
)

// maxQueryBody bounds a query-protocol request body, as the JSON
// stand-ins bound theirs.
const maxQueryBody = 1 << 20

// QueryForm reads the form of a query-protocol request (IAM, EC2: Action,
// Version and parameters in a POST body). A body that cannot be read or
// parsed is a 400 MalformedQueryString, for the service to send in its own
// error format.
func QueryForm(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "MalformedQueryString", "read the request: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "MalformedQueryString", "cannot parse the request's form: %v", err)
	}
	return form, nil
}
