// Command pushimage pushes the image index of an OCI image layout (what
// `make image` writes) to a registry, for `make push IMAGE=...`. ECR hosts
// get credentials from ECR's GetAuthorizationToken (the AWS SDK's default
// configuration); other registries those of the docker config file;
// loopback registries are spoken to over plain HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/ociimage"
	"github.com/pullheal/pullheal/internal/tools/toolmain"
)

type usageError = toolmain.UsageError

func main() { toolmain.Main("pushimage", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pushimage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("layout", "bin/image", "`DIR` of the OCI image layout")
	endpoints := fs.String("registry-endpoints", os.Getenv("PULLHEAL_REGISTRY_ENDPOINTS"),
		"`HOST=URL,...`: reach these registry hosts at other base URLs (the local test bed); default $PULLHEAL_REGISTRY_ENDPOINTS")
	if err := fs.Parse(args); err != nil {
		return usageError{Err: err}
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return usageError{Err: errors.New("want one IMAGE, REGISTRY/REPOSITORY:TAG (make push IMAGE=REGISTRY/REPOSITORY:TAG)")}
	}
	image := fs.Arg(0)
	ref, err := name.ParseReference(image, name.StrictValidation)
	if err != nil {
		return usageError{Err: fmt.Errorf("IMAGE %q: %v", image, err)}
	}
	hosts, err := hostmap.Parse(*endpoints)
	if err != nil {
		return usageError{Err: fmt.Errorf("-registry-endpoints: %v", err)}
	}

	var opts []func(*config.LoadOptions) error
	host := ref.Context().RegistryStr()
	if _, region, ok := imageref.ECRHost(host); ok {
		// A token is good for the registry of the region it came from.
		opts = append(opts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	kc := ociimage.Keychain(ecr.NewFromConfig(awsCfg))
	digest, err := ociimage.Push(ctx, *dir, image, kc, remote.WithTransport(hosts.Transport(remote.DefaultTransport)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pushed %s@%s\n", ref.Context(), digest)
	return nil
}
