package ociimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/mirror"
)

// Keychain answers ECR registries (and extraECRHosts, such as a stand-in
// on loopback) with credentials from ECR's GetAuthorizationToken, and any
// other registry from the docker config file, as `pullheal mirror` does.
func Keychain(api mirror.TokenAPI, extraECRHosts ...string) authn.Keychain {
	return authn.NewMultiKeychain(mirror.NewECRKeychain(api, nil, extraECRHosts...), authn.DefaultKeychain)
}

// Push uploads the index of the layout at dir to ref (REGISTRY/REPO:TAG),
// then reads the tag back and returns its digest, which is the layout's
// index digest or an error. go-containerregistry speaks plain HTTP to
// loopback registries and HTTPS to every other one.
func Push(ctx context.Context, dir, ref string, kc authn.Keychain, opts ...remote.Option) (v1.Hash, error) {
	idx, err := ReadLayout(dir)
	if err != nil {
		return v1.Hash{}, err
	}
	want, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}, opts...)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", r, err)
	}
	got, err := remote.Head(r, opts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read back %s: %w", r, err)
	}
	if got.Digest != want {
		return v1.Hash{}, fmt.Errorf("read back %s: digest %s, pushed %s", r, got.Digest, want)
	}
	return got.Digest, nil
}
