// Package hubsim is an in-process container registry that answers like
// Docker Hub: the Bearer token flow of auth.docker.io, pull rate limits per
// identity with Docker Hub's headers and its exact 429 body, and a fixed set
// of realistic multi-arch images seeded at start. The tests, the demo and
// the local test bed pull from it instead of the real Docker Hub.
//
// The registry protocol itself is go-containerregistry's pkg/registry; hubsim
// wraps it with authentication, metering and controls.
//
// Rate limiting uses a sliding window: every manifest GET that is served
// uses one pull of the identity's budget, and that pull is given back exactly
// Window after it was made. Docker Hub describes its limits the same way
// ("N pulls per 6 hours"), and a sliding window makes Retry-After precise: it
// is the time until the oldest pull in the window expires.
//
// Decisions that Docker Hub's documentation leaves open:
//   - Only a manifest GET answered 200 uses the budget; a GET for a manifest
//     that does not exist does not. HEAD and blob requests never do.
//   - Anonymous identities are the client's IPv4 address, or its IPv6 /64
//     prefix (as Docker Hub counts IPv6), written like "2001:db8:1:2::/64".
//     Authenticated identities are the user name, also reported in
//     docker-ratelimit-source (Docker Hub reports an account UUID there).
//   - Every configured user may push to any repository over HTTP; anonymous
//     clients may only pull. Pulling a repository that does not exist is
//     refused with 401 insufficient_scope, as Docker Hub refuses it.
package hubsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Defaults applied to zero Config fields. The limits and window are Docker
// Hub's personal-plan numbers at the time of writing.
const (
	DefaultAnonymousLimit     = 100
	DefaultAuthenticatedLimit = 200
	DefaultWindow             = 6 * time.Hour
	DefaultLayerSize          = 4 << 10

	// MaxLayerSize bounds Config.LayerSize: every distinct layer is held in
	// memory, twice per platform.
	MaxLayerSize = 256 << 20

	// Service is the token service name Docker Hub announces.
	Service = "registry.docker.io"

	// TokenLifetime is how long an issued token is accepted (Docker Hub's
	// expires_in).
	TokenLifetime = 300 * time.Second
)

// Config configures a Hub. The zero value is valid: Docker Hub's limits, the
// system clock, no users, small layers.
type Config struct {
	// AnonymousLimit is the number of manifest GETs an anonymous identity
	// may make per Window (0: DefaultAnonymousLimit).
	AnonymousLimit int
	// AuthenticatedLimit is the same for an authenticated user
	// (0: DefaultAuthenticatedLimit).
	AuthenticatedLimit int
	// Window is the length of the sliding window, a whole number of seconds
	// (0: DefaultWindow).
	Window time.Duration
	// Users maps user names to their password or access token, either of
	// which the token endpoint accepts as the Basic password. Names follow
	// Docker Hub's rule: lowercase letters and digits, at most 30.
	Users map[string]string
	// Clock tells the time for windows and token expiry (nil: wall clock).
	Clock wire.Clock
	// LayerSize is the size in bytes of the filler file each seeded layer
	// carries, which sets the size of its blob (0: DefaultLayerSize).
	LayerSize int
	// TrustForwardedFor makes the anonymous identity the first address of
	// the X-Forwarded-For header when it holds one, so that one client can
	// pose as several hosts (a simulated fleet).
	TrustForwardedFor bool
	// Realm is the token endpoint the 401 challenge names, e.g.
	// https://auth.docker.io/token as on Docker Hub. Empty: this server's
	// own /token, built from the request's Host. A client that reaches the
	// hub under Docker Hub's host names (through a host mapping) needs the
	// real form, since go-containerregistry refuses a plain-http realm for
	// an https registry.
	Realm string
}

var userName = regexp.MustCompile(`^[a-z0-9]{1,30}$`)

// Validate reports the first field of c that cannot be used.
func (c Config) Validate() error {
	switch {
	case c.AnonymousLimit < 0:
		return fmt.Errorf("%w: AnonymousLimit %d is negative", ErrInvalidConfig, c.AnonymousLimit)
	case c.AuthenticatedLimit < 0:
		return fmt.Errorf("%w: AuthenticatedLimit %d is negative", ErrInvalidConfig, c.AuthenticatedLimit)
	case c.Window < 0:
		return fmt.Errorf("%w: Window %s is negative", ErrInvalidConfig, c.Window)
	case c.Window%time.Second != 0:
		return fmt.Errorf("%w: Window %s is not a whole number of seconds (ratelimit headers carry seconds)", ErrInvalidConfig, c.Window)
	case c.LayerSize < 0 || c.LayerSize > MaxLayerSize:
		return fmt.Errorf("%w: LayerSize %d is outside 0..%d", ErrInvalidConfig, c.LayerSize, MaxLayerSize)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Users)) {
		if !userName.MatchString(name) {
			return fmt.Errorf("%w: user name %q must be 1 to 30 lowercase letters or digits", ErrInvalidConfig, name)
		}
		if c.Users[name] == "" {
			return fmt.Errorf("%w: user %q has an empty password", ErrInvalidConfig, name)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.AnonymousLimit == 0 {
		c.AnonymousLimit = DefaultAnonymousLimit
	}
	if c.AuthenticatedLimit == 0 {
		c.AuthenticatedLimit = DefaultAuthenticatedLimit
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.LayerSize == 0 {
		c.LayerSize = DefaultLayerSize
	}
	if c.Clock == nil {
		c.Clock = wire.SystemClock{}
	}
	// A private copy, so that the caller changing its map later changes nothing.
	c.Users = maps.Clone(c.Users)
	if c.Users == nil {
		c.Users = map[string]string{}
	}
	return c
}

// Hub is a Docker-Hub-like registry. It is an http.Handler to be served at
// the root of a server; it is safe for concurrent use.
type Hub struct {
	cfg   Config
	store http.Handler // go-containerregistry's registry: protocol and storage

	tokens *tokens
	meter  *meter

	mu     sync.Mutex
	repos  map[string]bool // repositories that hold at least one manifest
	seeded []SeededImage
}

// SeededImage is one tag New put into the hub.
type SeededImage struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Digest is the digest of the tag's manifest: an image index.
	Digest string `json:"digest"`
	// Platforms lists the index's platforms ("linux/amd64").
	Platforms []string `json:"platforms"`
	// PlatformDigests maps each platform to its image manifest's digest.
	PlatformDigests map[string]string `json:"platformDigests"`
}

// ErrInvalidConfig is wrapped by the errors of Config.Validate (and so of New).
var ErrInvalidConfig = errors.New("invalid hubsim config")

// New returns a Hub seeded with the images of seed.json (see Images). It
// needs no network: seeding writes into the in-process store.
func New(cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:    cfg,
		store:  registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		tokens: newTokens(cfg.Clock),
		meter:  newMeter(cfg.Clock, cfg.Window),
		repos:  map[string]bool{},
	}
	seeded, err := h.seed(context.Background())
	if err != nil {
		return nil, fmt.Errorf("seed hubsim: %w", err)
	}
	h.seeded = seeded
	return h, nil
}

// Images lists the images New seeded, sorted by repository and tag (images
// added with WriteImage or WriteIndex are not listed). For a given LayerSize
// the digests are the same on every start and every machine.
func (h *Hub) Images() []SeededImage {
	out := make([]SeededImage, len(h.seeded))
	for i, s := range h.seeded {
		s.Platforms = slices.Clone(s.Platforms)
		s.PlatformDigests = maps.Clone(s.PlatformDigests)
		out[i] = s
	}
	return out
}

// ServeHTTP serves the registry API under /v2/, the token endpoint at /token
// and the controls under /_hubsim/.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/token":
		h.serveToken(w, r)
	case strings.HasPrefix(p, controlPrefix):
		h.serveControl(w, r)
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		h.serveRegistry(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Hub) repoExists(repo string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.repos[repo]
}

func (h *Hub) addRepo(repo string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repos[repo] = true
}

func (h *Hub) limitFor(identity string) int {
	if _, ok := h.cfg.Users[identity]; ok {
		return h.cfg.AuthenticatedLimit
	}
	return h.cfg.AnonymousLimit
}
