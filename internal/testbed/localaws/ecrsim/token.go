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
	return e.issueTokenForLocked("")
}

// issueTokenForLocked signs the expiry time and the principal (empty for
// the test bed's own caller): a token needs no record, and stays valid
// across restarts because the key is part of the state. The password is
// EXPIRY.SIGNATURE, or EXPIRY.PRINCIPAL.SIGNATURE with the principal in
// unpadded base64url.
func (e *ECR) issueTokenForLocked(principal string) AuthorizationToken {
	exp := e.now().Add(tokenLifetime).Truncate(time.Second)
	ts := strconv.FormatInt(exp.Unix(), 10)
	signed := ts
	if principal != "" {
		signed += "." + encodePrincipal(principal)
	}
	return AuthorizationToken{Username: "AWS", Password: signed + "." + e.signLocked(signed), ExpiresAt: exp}
}

func (e *ECR) signLocked(signed string) string {
	m := hmac.New(sha256.New, e.st.TokenKey)
	m.Write([]byte(e.cfg.Account + "|" + signed))
	return hex.EncodeToString(m.Sum(nil))
}

// checkPassword reports whether password is a token this registry issued,
// whether it has expired, and to whom it was issued.
func (e *ECR) checkPassword(password string) (valid, expired bool, principal string) {
	i := strings.LastIndexByte(password, '.')
	if i < 0 {
		return false, false, ""
	}
	signed, sig := password[:i], password[i+1:]
	ts, enc, hasPrincipal := strings.Cut(signed, ".")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false, false, ""
	}
	if hasPrincipal {
		var ok bool
		if principal, ok = decodePrincipal(enc); !ok || principal == "" {
			return false, false, ""
		}
	}
	e.mu.Lock()
	want := e.signLocked(signed)
	e.mu.Unlock()
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return false, false, ""
	}
	return true, !e.now().Before(time.Unix(unix, 0)), principal
}
