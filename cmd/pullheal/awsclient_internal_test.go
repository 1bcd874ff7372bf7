package main

import (
	"testing"
	"time"
)

// TestAWSClientBoundsEveryWait: the agent's SDK HTTP client has a connect,
// TLS, header and idle timeout, each above the long poll's wait (a
// ReceiveMessage answers only when it ends) and below the message budget.
func TestAWSClientBoundsEveryWait(t *testing.T) {
	wait := 20 * time.Second
	c := awsHTTPClient(wait)
	tr := c.GetTransport()
	if tr.TLSHandshakeTimeout <= 0 || tr.TLSHandshakeTimeout > 10*time.Second {
		t.Errorf("TLS handshake timeout %s", tr.TLSHandshakeTimeout)
	}
	if tr.ResponseHeaderTimeout <= wait || tr.ResponseHeaderTimeout > time.Minute {
		t.Errorf("response header timeout %s, want above the %s long poll and at most a minute", tr.ResponseHeaderTimeout, wait)
	}
	if tr.IdleConnTimeout <= 0 {
		t.Errorf("idle connection timeout %s", tr.IdleConnTimeout)
	}
	if d := c.GetDialer(); d.Timeout <= 0 || d.Timeout > 10*time.Second {
		t.Errorf("dial timeout %s", d.Timeout)
	}
	if got := c.GetTimeout(); got <= tr.ResponseHeaderTimeout || got > 2*time.Minute {
		t.Errorf("per-attempt timeout %s, want above the header timeout and at most 2m", got)
	}
}
