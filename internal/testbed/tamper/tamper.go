// Package tamper puts proxies in front of the test bed that change its
// answers, for tests of what pullheal does with an answer the test bed
// itself would never give (a field newer than this build's SDK).
package tamper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// DescribeTaskDefinition starts a proxy to the AWS endpoint that calls
// inject on the taskDefinition of every successful DescribeTaskDefinition
// answer before passing it on; every other call passes unchanged. The
// proxy stops when the test ends.
func DescribeTaskDefinition(t testing.TB, endpoint string, inject func(td map[string]any)) *httptest.Server {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil || target.Host == "" {
		t.Fatalf("tamper: endpoint %q is not a URL", endpoint)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.Header.Get("X-Amz-Target"), ".DescribeTaskDefinition") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return err
		}
		td, ok := m["taskDefinition"].(map[string]any)
		if !ok {
			return fmt.Errorf("tamper: DescribeTaskDefinition answer without a taskDefinition object")
		}
		inject(td)
		if body, err = json.Marshal(m); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}
