package mirror_test

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/mirror"
)

// signedSource serves an image signed two ways: a cosign-style signature
// under the tag sha256-HEX.sig, and an OCI referrer (a manifest whose
// subject is the image) listed by the referrers API.
func signedSource(t *testing.T) (host string, img v1.Image, sig, att v1.Hash) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/app:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	cosign, _ := random.Image(256, 1)
	sigTag, _ := name.NewTag(host + "/app:sha256-" + d.Hex + ".sig")
	if err := remote.Write(sigTag, cosign); err != nil {
		t.Fatal(err)
	}
	sig, _ = cosign.Digest()

	mt, _ := img.MediaType()
	size, _ := img.Size()
	attestation, _ := random.Image(256, 1)
	attached := mutate.Subject(attestation, v1.Descriptor{MediaType: mt, Digest: d, Size: size}).(v1.Image)
	att, _ = attached.Digest()
	if err := remote.Write(ref.Context().Digest(att.String()), attached); err != nil {
		t.Fatal(err)
	}
	return host, img, sig, att
}

// TestCopyReferrers: a signed image arrives signed, into a registry with
// the referrers API and into one without it (the fallback tag lists the
// referrer there); WithReferrers(false) leaves the signatures behind.
func TestCopyReferrers(t *testing.T) {
	host, img, sig, att := signedSource(t)
	d, _ := img.Digest()
	for _, tc := range []struct {
		name      string
		referrers bool // the destination has the referrers API
	}{{"destination with the referrers API", true}, {"destination without it", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(tc.referrers)))
			t.Cleanup(srv.Close)
			dst := strings.TrimPrefix(srv.URL, "http://")
			res, err := mirror.Copy(t.Context(), host+"/app:1", dst+"/mirror/app:1")
			if err != nil {
				t.Fatal(err)
			}
			if res.Referrers != 2 || res.TargetDigest != d.String() {
				t.Errorf("result %+v, want the image and 2 referrers", res)
			}
			sigTag, _ := name.NewTag(dst + "/mirror/app:sha256-" + d.Hex + ".sig")
			if desc, err := remote.Head(sigTag); err != nil || desc.Digest != sig {
				t.Errorf("cosign signature in the destination: %v, %v; want %s", desc, err, sig)
			}
			dstDigest, _ := name.NewDigest(dst + "/mirror/app@" + d.String())
			var listed []v1.Descriptor
			if tc.referrers {
				idx, err := remote.Referrers(dstDigest)
				if err != nil {
					t.Fatal(err)
				}
				im, _ := idx.IndexManifest()
				listed = im.Manifests
			} else {
				fallback, _ := name.NewTag(dst + "/mirror/app:sha256-" + d.Hex)
				idx, err := remote.Index(fallback)
				if err != nil {
					t.Fatalf("fallback referrers tag: %v", err)
				}
				im, _ := idx.IndexManifest()
				listed = im.Manifests
			}
			if len(listed) != 1 || listed[0].Digest != att {
				t.Errorf("referrers of the copy: %v, want %s", listed, att)
			}
			if _, err := remote.Head(dstDigest.Context().Digest(att.String())); err != nil {
				t.Errorf("the referrer is not in the destination: %v", err)
			}

			again, err := mirror.Copy(t.Context(), host+"/app:1", dst+"/mirror/app:1")
			if err != nil || !again.AlreadyMirrored || again.Referrers != 0 || again.BytesCopied != 0 || again.ManifestGETs != 0 {
				t.Errorf("repeated copy: %+v, %v", again, err)
			}
		})
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	dst := strings.TrimPrefix(srv.URL, "http://")
	res, err := mirror.Copy(t.Context(), host+"/app:1", dst+"/mirror/app:1", mirror.WithReferrers(false))
	if err != nil {
		t.Fatal(err)
	}
	sigTag, _ := name.NewTag(dst + "/mirror/app:sha256-" + d.Hex + ".sig")
	if _, err := remote.Head(sigTag); res.Referrers != 0 || err == nil {
		t.Errorf("WithReferrers(false): %d referrers, signature tag lookup %v", res.Referrers, err)
	}
}
