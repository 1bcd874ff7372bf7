package mirror_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/pullheal/pullheal/internal/mirror"
)

// TestCopyInsecureNamedHost: a registry under a name (not a loopback or
// private address) is reached over plain HTTP only with WithInsecure. The
// transport resolves the made-up names to the loopback listeners.
func TestCopyInsecureNamedHost(t *testing.T) {
	src := newTestRegistry(t)
	dst := newTestRegistry(t)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	src.pushImage("library/app:1", img)
	resolve := map[string]string{}
	named := func(r *testRegistry, alias string) string {
		port := r.host[strings.LastIndex(r.host, ":")+1:]
		resolve[alias+":"+port] = r.host
		return alias + ":" + port
	}
	srcHost, dstHost := named(src, "source.example"), named(dst, "mirror.example")
	rt := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if real, ok := resolve[addr]; ok {
			addr = real
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	opts := []mirror.Option{mirror.WithTransport(rt), mirror.WithRetry(1, time.Millisecond)}

	if _, err := mirror.Copy(t.Context(), srcHost+"/library/app:1", dstHost+"/app:1", opts...); err == nil {
		t.Fatal("plain HTTP to a named host without WithInsecure succeeded")
	}
	res, err := mirror.Copy(t.Context(), srcHost+"/library/app:1", dstHost+"/app:1", append(opts, mirror.WithInsecure())...)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustDigest(t, img); res.TargetDigest != want || dst.digestOf("app:1") != want {
		t.Errorf("copied %s, destination holds %s, want %s", res.TargetDigest, dst.digestOf("app:1"), want)
	}
}
