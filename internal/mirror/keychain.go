package mirror

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// TokenAPI is the ECR call that yields registry credentials; *ecr.Client
// satisfies it.
type TokenAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// ecrTokenMargin is how long before its expiry an ECR token is replaced, so
// that a copy never starts with a token that dies halfway.
const ecrTokenMargin = 5 * time.Minute

// ecrHostPattern matches ECR registry hosts (IPv4, FIPS and dual-stack forms).
var ecrHostPattern = regexp.MustCompile(`^[0-9]{12}\.(dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?|dkr-ecr(-fips)?\.[a-z0-9-]+\.on\.aws)$`)

// ECRKeychain answers for Amazon ECR registries with credentials from
// GetAuthorizationToken, cached until ecrTokenMargin before they expire.
// For any other registry it answers anonymous, so it composes with other
// keychains through authn.NewMultiKeychain.
type ECRKeychain struct {
	api   TokenAPI
	now   func() time.Time
	hosts []string

	mu       sync.Mutex
	user     string
	pass     string
	expires  time.Time
	endpoint string // host of the token's proxy endpoint
}

// NewECRKeychain returns a keychain over api. now may be nil (wall clock).
// extraHosts are registry hosts to answer for besides ECR's own names (a
// registry reached through a proxy or a local stand-in).
func NewECRKeychain(api TokenAPI, now func() time.Time, extraHosts ...string) *ECRKeychain {
	if now == nil {
		now = time.Now
	}
	return &ECRKeychain{api: api, now: now, hosts: extraHosts}
}

// Resolve implements authn.Keychain.
func (k *ECRKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *ECRKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	if !k.serves(r.RegistryStr()) {
		return authn.Anonymous, nil
	}
	// Fetch now, so that a missing permission fails the copy up front.
	if _, err := k.credentials(ctx); err != nil {
		return nil, err
	}
	return ecrAuthenticator{k}, nil
}

func (k *ECRKeychain) serves(host string) bool {
	if ecrHostPattern.MatchString(host) || slices.Contains(k.hosts, host) {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.endpoint != "" && k.endpoint == host
}

// Endpoint returns the registry host of the account's ECR, from the
// authorization token's proxy endpoint (fetching a token if none is held).
func (k *ECRKeychain) Endpoint(ctx context.Context) (string, error) {
	if _, err := k.credentials(ctx); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.endpoint == "" {
		return "", errors.New("ecr authorization token: no proxy endpoint")
	}
	return k.endpoint, nil
}

// credentials returns the cached credentials, fetching new ones when they
// are missing or close to expiry.
func (k *ECRKeychain) credentials(ctx context.Context) (*authn.AuthConfig, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.user != "" && k.now().Before(k.expires.Add(-ecrTokenMargin)) {
		return &authn.AuthConfig{Username: k.user, Password: k.pass}, nil
	}
	out, err := k.api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("ecr authorization token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return nil, errors.New("ecr authorization token: response holds no authorization data")
	}
	data := out.AuthorizationData[0]
	decoded, err := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	if err != nil {
		return nil, errors.New("ecr authorization token: token is not base64")
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok || user == "" || pass == "" {
		return nil, errors.New("ecr authorization token: token is not user:password")
	}
	k.user, k.pass = user, pass
	k.expires = aws.ToTime(data.ExpiresAt)
	if k.expires.IsZero() {
		// ECR tokens last 12 hours; without a stated expiry assume less.
		k.expires = k.now().Add(time.Hour)
	}
	if u, err := url.Parse(aws.ToString(data.ProxyEndpoint)); err == nil && u.Host != "" {
		k.endpoint = u.Host
	}
	return &authn.AuthConfig{Username: user, Password: pass}, nil
}

// ecrAuthenticator reads the keychain's cache on every request, so that a
// long copy moves to a fresh token when the old one nears expiry.
type ecrAuthenticator struct{ k *ECRKeychain }

func (a ecrAuthenticator) Authorization() (*authn.AuthConfig, error) {
	return a.k.credentials(context.Background())
}

func (a ecrAuthenticator) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	return a.k.credentials(ctx)
}

// String keeps credentials out of any %v of the authenticator.
func (a ecrAuthenticator) String() string { return "ecr credentials" }

// SecretsAPI is the Secrets Manager call that reads a secret;
// *secretsmanager.Client satisfies it.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Credentials returns a registry user name and access token.
type Credentials func(ctx context.Context) (username, token string, err error)

// SecretsManagerCredentials reads credentials from the secret secretID, a
// JSON object {"username": ..., "accessToken": ...}: the format ECR
// pull-through cache rules use for Docker Hub.
func SecretsManagerCredentials(api SecretsAPI, secretID string) Credentials {
	return func(ctx context.Context) (string, string, error) {
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return "", "", fmt.Errorf("read secret %s: %w", secretID, err)
		}
		if out.SecretString == nil {
			return "", "", fmt.Errorf("secret %s has no string value", secretID)
		}
		var v struct {
			Username    string `json:"username"`
			AccessToken string `json:"accessToken"`
		}
		if err := json.Unmarshal([]byte(*out.SecretString), &v); err != nil {
			// The error of json would quote the secret's bytes; do not.
			return "", "", fmt.Errorf("secret %s is not a JSON object", secretID)
		}
		if v.Username == "" || v.AccessToken == "" {
			return "", "", fmt.Errorf("secret %s lacks username or accessToken", secretID)
		}
		return v.Username, v.AccessToken, nil
	}
}

// dockerHubCacheTTL is how long Docker Hub credentials are reused before the
// secret is read again (it may have been rotated).
const dockerHubCacheTTL = 15 * time.Minute

// DockerHubKeychain answers for Docker Hub with the given credentials, read
// once per dockerHubCacheTTL, and anonymous for other registries.
type DockerHubKeychain struct {
	creds Credentials
	now   func() time.Time

	mu      sync.Mutex
	user    string
	token   string
	fetched time.Time
}

// SourceKeychain is the keychain an upstream is read with: the Docker Hub
// account in the Secrets Manager secret secretID, or when secretID is
// empty the docker config file's credentials, else anonymous.
func SourceKeychain(api SecretsAPI, secretID string, now func() time.Time) authn.Keychain {
	if secretID == "" {
		return authn.DefaultKeychain
	}
	return NewDockerHubKeychain(SecretsManagerCredentials(api, secretID), now)
}

// NewDockerHubKeychain returns a keychain over creds. now may be nil.
func NewDockerHubKeychain(creds Credentials, now func() time.Time) *DockerHubKeychain {
	if now == nil {
		now = time.Now
	}
	return &DockerHubKeychain{creds: creds, now: now}
}

// Resolve implements authn.Keychain.
func (k *DockerHubKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *DockerHubKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	if !isDockerHub(r.RegistryStr()) {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.user == "" || k.now().Sub(k.fetched) >= dockerHubCacheTTL {
		user, token, err := k.creds(ctx)
		if err != nil {
			return nil, fmt.Errorf("docker hub credentials: %w", err)
		}
		k.user, k.token, k.fetched = user, token, k.now()
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.token}), nil
}

func isDockerHub(host string) bool {
	return slices.Contains(registryAliases(name.DefaultRegistry), host)
}
