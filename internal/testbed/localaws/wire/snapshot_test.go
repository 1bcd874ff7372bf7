package wire_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

type fileForTest struct {
	wire.SnapshotHeader
	Items []string `json:"items"`
}

func TestSnapshotRoundTrip(t *testing.T) {
	in := fileForTest{SnapshotHeader: wire.SnapshotHeader{Version: 1, Account: "123456789012", Region: "us-east-1"}, Items: []string{"a"}}
	b, err := wire.EncodeSnapshot("test", in)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"version\": 1,\n  \"account\": \"123456789012\",\n  \"region\": \"us-east-1\",\n  \"items\": [\n    \"a\"\n  ]\n}\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("EncodeSnapshot (-want +got):\n%s", diff)
	}
	var out fileForTest
	if err := wire.DecodeSnapshot(strings.NewReader(string(b)), "test", &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestSnapshotRefusals(t *testing.T) {
	var out fileForTest
	err := wire.DecodeSnapshot(strings.NewReader(`{"version":1,"extra":true}`), "test", &out)
	if err == nil || !strings.HasPrefix(err.Error(), "decode test snapshot: ") || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("unknown field: err = %v, want a decode error naming it", err)
	}
	h := wire.SnapshotHeader{Version: 1, Account: "123456789012", Region: "us-east-1"}
	tests := []struct {
		version         int
		account, region string
		want            string
	}{
		{1, "123456789012", "us-east-1", ""},
		{2, "123456789012", "us-east-1", "test snapshot: version 1, want 2"},
		{1, "210987654321", "us-east-1", `test snapshot: account "123456789012" region "us-east-1", want account "210987654321" region "us-east-1"`},
		{1, "123456789012", "eu-west-1", `test snapshot: account "123456789012" region "us-east-1", want account "123456789012" region "eu-west-1"`},
	}
	for _, tt := range tests {
		got := ""
		if err := h.Check("test", tt.version, tt.account, tt.region); err != nil {
			got = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Check(%d, %q, %q) (-want +got):\n%s", tt.version, tt.account, tt.region, diff)
		}
	}
}
