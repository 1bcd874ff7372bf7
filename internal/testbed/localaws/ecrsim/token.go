package ecrsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// tokenLifetime is how long a GetAuthorizationToken token is valid, as in
// ECR.
const tokenLifetime = 12 * time.Hour

// AuthorizationToken is a registry credential: HTTP Basic with Username
// "AWS" and Password, valid until ExpiresAt on the ECR's clock.
type AuthorizationToken struct {
	Username  string
	Password  string
	ExpiresAt time.Time
}

// Token issues a registry credential for in-process pullers (the ECS
// scheduler pulls with the task execution role's token).
func (e *ECR) Token() AuthorizationToken {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issueTokenLocked()
}

// issueTokenLocked signs the expiry time: a token needs no record, and
// stays valid across restarts because the key is part of the state.
func (e *ECR) issueTokenLocked() AuthorizationToken {
	exp := e.now().Add(tokenLifetime).Truncate(time.Second)
	ts := strconv.FormatInt(exp.Unix(), 10)
	return AuthorizationToken{Username: "AWS", Password: ts + "." + e.signLocked(ts), ExpiresAt: exp}
}

func (e *ECR) signLocked(ts string) string {
	m := hmac.New(sha256.New, e.st.TokenKey)
	m.Write([]byte(e.cfg.Account + "|" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

// checkPassword reports whether password is a token this registry issued,
// and whether it has expired.
func (e *ECR) checkPassword(password string) (valid, expired bool) {
	ts, sig, ok := strings.Cut(password, ".")
	if !ok {
		return false, false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false, false
	}
	e.mu.Lock()
	want := e.signLocked(ts)
	e.mu.Unlock()
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return false, false
	}
	return true, !e.now().Before(time.Unix(unix, 0))
}
