package hubsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Actions a token may grant on a repository.
const (
	actionPull = "pull"
	actionPush = "push"
)

// grant is what a token allows. It is never changed after it is issued.
type grant struct {
	user    string // "" for an anonymous token
	expires time.Time
	access  map[string]map[string]bool // repository -> action -> granted
}

func (g *grant) allows(repo, action string) bool {
	return g.access[repo][action]
}

// tokens holds the tokens the token endpoint issued, until they expire.
type tokens struct {
	clock wire.Clock

	mu     sync.Mutex
	grants map[string]*grant
	sweep  time.Time // next time to drop expired grants
}

func newTokens(clock wire.Clock) *tokens {
	return &tokens{clock: clock, grants: map[string]*grant{}}
}

// issue stores g under a new opaque token and returns the token.
func (t *tokens) issue(g *grant) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	if !now.Before(t.sweep) {
		for k, old := range t.grants {
			if !now.Before(old.expires) {
				delete(t.grants, k)
			}
		}
		t.sweep = now.Add(TokenLifetime)
	}
	t.grants[tok] = g
	return tok, nil
}

// lookup returns the live grant of tok.
func (t *tokens) lookup(tok string) (*grant, bool) {
	if tok == "" {
		return nil, false
	}
	t.mu.Lock()
	g, ok := t.grants[tok]
	t.mu.Unlock()
	if !ok || !t.clock.Now().Before(g.expires) {
		return nil, false
	}
	return g, true
}

// tokenResponse is the token endpoint's answer, as auth.docker.io sends it.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// serveToken is the token endpoint: GET with optional Basic credentials (the
// Docker token protocol), or POST with an OAuth2 password grant (which
// containerd tries first).
func (h *Hub) serveToken(w http.ResponseWriter, r *http.Request) {
	var (
		user, pass string
		hasCreds   bool
		scopes     []string
		service    string
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		user, pass, hasCreds = r.BasicAuth()
		scopes = q["scope"]
		service = q.Get("service")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			writeTokenError(w, http.StatusBadRequest, fmt.Sprintf("token request: malformed form: %v", err))
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "password" {
			writeTokenError(w, http.StatusBadRequest, fmt.Sprintf("token request: unsupported grant_type %q (only password)", gt))
			return
		}
		user, pass, hasCreds = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		// OAuth2 puts several scopes in one space-separated value.
		scopes = strings.Fields(r.PostForm.Get("scope"))
		service = r.PostForm.Get("service")
	default:
		w.Header().Set("Allow", "GET, POST")
		writeTokenError(w, http.StatusMethodNotAllowed, fmt.Sprintf("token request: method %s not allowed", r.Method))
		return
	}
	if service != "" && service != Service {
		writeTokenError(w, http.StatusBadRequest, fmt.Sprintf("token request: unknown service %q (this is %s)", service, Service))
		return
	}
	if hasCreds && !h.checkPassword(user, pass) {
		writeTokenError(w, http.StatusUnauthorized, "incorrect username or password")
		return
	}
	if !hasCreds {
		user = ""
	}

	now := h.cfg.Clock.Now()
	g := &grant{user: user, expires: now.Add(TokenLifetime), access: map[string]map[string]bool{}}
	for _, s := range scopes {
		for _, one := range strings.Fields(s) {
			repo, actions, ok := parseScope(one)
			if !ok {
				continue // other resource types (registry:catalog:*) grant nothing here
			}
			for _, a := range actions {
				if h.mayGrant(user, repo, a, actions) {
					if g.access[repo] == nil {
						g.access[repo] = map[string]bool{}
					}
					g.access[repo][a] = true
				}
			}
		}
	}
	tok, err := h.tokens.issue(g)
	if err != nil {
		writeTokenError(w, http.StatusInternalServerError, err.Error())
		return
	}
	body, _ := json.Marshal(tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int(TokenLifetime / time.Second),
		IssuedAt:    now.UTC().Format(time.RFC3339Nano),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// mayGrant decides one action of a scope: anyone may pull a repository
// that exists (Docker Hub grants nothing for one that does not, so the pull
// then fails with insufficient_scope); a signed-in user may push anywhere,
// and pull what they are about to push.
func (h *Hub) mayGrant(user, repo, action string, requested []string) bool {
	if !validRepository(repo) {
		return false
	}
	switch action {
	case actionPull:
		return h.repoExists(repo) || (user != "" && slices.Contains(requested, actionPush))
	case actionPush:
		return user != ""
	}
	return false
}

func (h *Hub) checkPassword(user, pass string) bool {
	want, ok := h.cfg.Users[user]
	// Compare even for an unknown user, so the answer takes the same time.
	eq := subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
	return ok && eq
}

// parseScope splits "repository:NAME:ACTION[,ACTION]". NAME may hold a
// colon (a registry host with a port), so the actions are after the last one.
func parseScope(s string) (repo string, actions []string, ok bool) {
	typ, rest, found := strings.Cut(s, ":")
	if !found || typ != "repository" {
		return "", nil, false
	}
	i := strings.LastIndex(rest, ":")
	if i <= 0 || i == len(rest)-1 {
		return "", nil, false
	}
	return rest[:i], strings.Split(rest[i+1:], ","), true
}

func writeTokenError(w http.ResponseWriter, status int, details string) {
	body, _ := json.Marshal(map[string]string{"details": details})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// challenge answers 401 the way registry-1.docker.io does, pointing the
// client at this server's token endpoint. repo is "" for /v2/ itself, which
// Docker Hub challenges without a scope. reason is "" for a request without
// a token, "invalid_token" for an unknown or expired one and
// "insufficient_scope" for a token that lacks the action.
func (h *Hub) challenge(w http.ResponseWriter, r *http.Request, repo string, actions []string, reason string) {
	realm := h.cfg.Realm
	if realm == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		realm = scheme + "://" + r.Host + "/token"
	}
	c := fmt.Sprintf(`Bearer realm="%s",service="%s"`, realm, Service)
	if repo != "" {
		c += fmt.Sprintf(`,scope="repository:%s:%s"`, repo, strings.Join(actions, ","))
	}
	if reason != "" {
		c += fmt.Sprintf(`,error="%s"`, reason)
	}
	type detail struct {
		Type, Class, Name, Action string
	}
	type regErr struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Detail  []detail `json:"detail"`
	}
	e := regErr{Code: "UNAUTHORIZED", Message: "authentication required"}
	if repo != "" {
		for _, a := range actions {
			e.Detail = append(e.Detail, detail{Type: "repository", Name: repo, Action: a})
		}
	}
	body, _ := json.Marshal(map[string][]regErr{"errors": {e}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.Header().Set("Www-Authenticate", c)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(body)
}
