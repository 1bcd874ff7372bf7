package stssim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/stssim"
)

// start mounts s the way a root server does: only requests it claims reach
// it, everything else is a 404.
func start(t *testing.T, s *stssim.STS) (*sts.Client, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Handles(r) {
			http.NotFound(w, r)
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sts.NewFromConfig(simtest.Config(srv.URL)), srv.URL
}

func newSTS(t *testing.T, cfg stssim.Config) *stssim.STS {
	t.Helper()
	s, err := stssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type who struct{ Account, Arn, UserID string }

func TestGetCallerIdentity(t *testing.T) {
	tests := []struct {
		name string
		cfg  stssim.Config
		want who
	}{
		{"defaults", stssim.Config{}, who{"123456789012", "arn:aws:iam::123456789012:user/pullheal-local", "AIDAPULLHEALLOCAL0001"}},
		{"assumed role", stssim.Config{
			Account: "210987654321",
			Arn:     "arn:aws:sts::210987654321:assumed-role/pullheal-agent/task",
			UserID:  "AROAEXAMPLE:task",
		}, who{"210987654321", "arn:aws:sts::210987654321:assumed-role/pullheal-agent/task", "AROAEXAMPLE:task"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := start(t, newSTS(t, tt.cfg))
			out, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			got := who{aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOtherActionsAreTypedErrors(t *testing.T) {
	c, _ := start(t, newSTS(t, stssim.Config{}))
	_, err := c.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("GetSessionToken error = %v, want an API error", err)
	}
	if apiErr.ErrorCode() != "InvalidAction" || !strings.Contains(apiErr.ErrorMessage(), "GetSessionToken") {
		t.Errorf("error = %s: %s, want InvalidAction naming the action", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
}

func TestQueryRequestsWithoutTheSDK(t *testing.T) {
	_, url := start(t, newSTS(t, stssim.Config{}))
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantBody   string
	}{
		{"GET query", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
			return r
		}, http.StatusOK, "<Account>123456789012</Account>"},
		{"wrong version", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("Action=GetCallerIdentity&Version=2010-01-01"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0")
			return r
		}, http.StatusBadRequest, "<Code>InvalidAction</Code>"},
		{"missing action", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("Version=2011-06-15"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0")
			return r
		}, http.StatusBadRequest, "<Code>MissingAction</Code>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestHandles(t *testing.T) {
	s := newSTS(t, stssim.Config{})
	tests := []struct {
		name   string
		method string
		target string
		query  string
		auth   string
		want   bool
	}{
		{"signed for sts", http.MethodPost, "", "", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0", true},
		{"signed for ecr", http.MethodPost, "", "", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0", false},
		{"json target", http.MethodPost, "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken", "", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0", false},
		{"unsigned GET", http.MethodGet, "", "Action=GetCallerIdentity&Version=2011-06-15", "", true},
		{"unsigned GET other", http.MethodGet, "", "Action=ListQueues", "", false},
		{"garbage auth", http.MethodPost, "", "", "Basic QVdTOnh4", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/?"+tt.query, nil)
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if got := s.Handles(r); got != tt.want {
				t.Errorf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     stssim.Config
		wantErr string
	}{
		{"defaults", stssim.Config{}, ""},
		{"bad account", stssim.Config{Account: "12"}, "account"},
		{"not an arn", stssim.Config{Arn: "pullheal"}, "arn"},
		{"other account", stssim.Config{Arn: "arn:aws:iam::999999999999:user/x"}, "not in account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzServeHTTP(f *testing.F) {
	f.Add("Action=GetCallerIdentity&Version=2011-06-15")
	f.Add("Action=AssumeRole&Version=2011-06-15&RoleArn=x")
	f.Add("%zz=&&==")
	s, err := stssim.New(stssim.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if !strings.Contains(w.Body.String(), "<?xml") {
			t.Fatalf("body is not XML: %q", w.Body.String())
		}
	})
}
