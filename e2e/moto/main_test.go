//go:build e2emoto

package moto

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/pullheal/pullheal/internal/testbed/peers"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// The peers every test shares; each test names its own resources.
var (
	// binary is the pullheal executable every test runs.
	binary string
	// motoURL is moto_server's endpoint, the agent's AWS_ENDPOINT_URL.
	motoURL string
	// registryURL is the docker-registry's base URL.
	registryURL *url.URL
	// ecrHost is the ECR registry host moto's authorization token names:
	// the host of every corrected image.
	ecrHost string
)

// The SDK configuration of the tests and of the agents. moto accepts any
// credentials.
const (
	region    = "us-east-1"
	accessKey = "testing"
	secretKey = "testing"
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/moto:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	path, cleanup, err := proctest.FindBinary("../..")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	binary = path
	dir, err := os.MkdirTemp("", "pullheal-moto-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	// moto takes seconds to import botocore's models: start the registry
	// meanwhile.
	type started struct {
		p   *peers.Process
		err error
	}
	motoc := make(chan started, 1)
	go func() {
		p, err := peers.StartMoto(ctx, dir)
		motoc <- started{p, err}
	}()
	reg, regErr := peers.StartRegistry(ctx, dir)
	if regErr == nil {
		defer reg.Close()
	}
	ms := <-motoc
	if ms.err == nil {
		defer ms.p.Close()
	}
	if err := errors.Join(ms.err, regErr); err != nil {
		return 0, err
	}
	motoURL = ms.p.URL
	if registryURL, err = url.Parse(reg.URL); err != nil {
		return 0, err
	}
	if ecrHost, err = tokenHost(ctx); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func awsConfig() aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	}
}

func clients() scenario.Clients { return scenario.NewClients(awsConfig()) }

// tokenHost asks moto's ECR for an authorization token, as the agent does
// to discover its registry, and returns the registry host it names.
func tokenHost(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := clients().ECR.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", fmt.Errorf("moto GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", errors.New("moto GetAuthorizationToken: no authorization data")
	}
	u, err := url.Parse(aws.ToString(out.AuthorizationData[0].ProxyEndpoint))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("moto GetAuthorizationToken: proxy endpoint %q is not a URL", aws.ToString(out.AuthorizationData[0].ProxyEndpoint))
	}
	return u.Host, nil
}
