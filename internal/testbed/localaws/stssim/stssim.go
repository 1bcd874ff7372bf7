// Package stssim is the local test bed's AWS STS: GetCallerIdentity over the
// awsquery protocol the aws-sdk-go-v2 STS client speaks (a form POST with
// Action and Version, answered in XML), so that code which checks whom it
// runs as works against the test bed.
//
// Query-protocol requests carry no X-Amz-Target header, so a server that
// mounts several stand-ins on one endpoint asks Handles which requests are
// for STS: those signed for the "sts" service (the SigV4 credential scope),
// and unsigned GET requests naming an STS action in the query string.
//
// Every caller is the one identity of the Config; the test bed does not
// check signatures.
package stssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

const (
	apiVersion = "2011-06-15"
	xmlns      = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Config is the identity GetCallerIdentity reports.
type Config struct {
	Account string // default 123456789012
	// Arn defaults to arn:aws:iam::ACCOUNT:user/pullheal-local.
	Arn string
	// UserID defaults to a fixed IAM user id (AIDA...).
	UserID string
}

var (
	arnRE = regexp.MustCompile(`^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+$`)
)

func (c *Config) applyDefaults() {
	if c.Account == "" {
		c.Account = wire.DefaultAccount
	}
	if c.Arn == "" {
		c.Arn = "arn:aws:iam::" + c.Account + ":user/pullheal-local"
	}
	if c.UserID == "" {
		c.UserID = "AIDAPULLHEALLOCAL0001"
	}
}

// Validate reports the first invalid field (after defaults are applied for
// empty fields).
func (c Config) Validate() error {
	c.applyDefaults()
	if err := wire.CheckAccountRegion(c.Account, ""); err != nil {
		return fmt.Errorf("stssim config: %w", err)
	}
	if !arnRE.MatchString(c.Arn) {
		return fmt.Errorf("stssim config: arn %q is not an IAM or STS principal ARN", c.Arn)
	}
	if !strings.Contains(c.Arn, "::"+c.Account+":") {
		return fmt.Errorf("stssim config: arn %q is not in account %s", c.Arn, c.Account)
	}
	return nil
}

// STS is the STS stand-in; it holds no mutable state and is safe for
// concurrent use.
type STS struct {
	cfg Config
}

// New returns an STS stand-in answering for cfg's identity.
func New(cfg Config) (*STS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	return &STS{cfg: cfg}, nil
}

// Handles reports whether r is an STS query-protocol request. It does not
// read the body.
func (s *STS) Handles(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	if wire.SignedService(r.Header.Get("Authorization")) == "sts" {
		return true
	}
	return r.Method == http.MethodGet && r.URL.Query().Get("Action") == "GetCallerIdentity"
}

// ServeHTTP implements http.Handler.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "InvalidAction", "STS query requests are GET or POST, got "+r.Method)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedQueryString", "cannot parse the request's form: "+err.Error())
		return
	}
	action, ver := r.Form.Get("Action"), r.Form.Get("Version")
	switch {
	case action == "":
		writeError(w, http.StatusBadRequest, "MissingAction", "Missing Action")
	case ver != apiVersion:
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, ver))
	case action == "GetCallerIdentity":
		s.getCallerIdentity(w)
	default:
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s (the test bed implements GetCallerIdentity only)", action, ver))
	}
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns    string   `xml:"xmlns,attr"`
	Result   identity `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata
}

type identity struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

func (s *STS) getCallerIdentity(w http.ResponseWriter) {
	writeXML(w, http.StatusOK, getCallerIdentityResponse{
		Xmlns:    xmlns,
		Result:   identity{Arn: s.cfg.Arn, UserID: s.cfg.UserID, Account: s.cfg.Account},
		Metadata: responseMetadata{RequestID: wire.RequestID()},
	})
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorBody
	RequestID string `xml:"RequestId"`
}

type errorBody struct {
	Type    string
	Code    string
	Message string
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeXML(w, status, errorResponse{
		Xmlns:     xmlns,
		Error:     errorBody{Type: "Sender", Code: code, Message: msg},
		RequestID: wire.RequestID(),
	})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", wire.RequestID())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}
