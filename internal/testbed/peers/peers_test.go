package peers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/pullheal/pullheal/internal/testbed/peers"
)

// TestPeersStart starts both peers and asks each one thing; it fails (does
// not skip) when a peer is missing, since suites that need them must too.
func TestPeersStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	moto, err := peers.StartMoto(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Close()
	reg, err := peers.StartRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	resp, err := http.Get(reg.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("registry /v2/: %s", resp.Status)
	}
	if err := moto.Reset(ctx); err != nil {
		t.Error(err)
	}
}
