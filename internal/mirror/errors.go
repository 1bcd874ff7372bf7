package mirror

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapped message says
// which image, blob or registry was involved.
var (
	// ErrDigestMismatch means bytes read from the source did not hash to the
	// digest (or size) that the manifest promised. The blob was not committed.
	// It is not retried: a registry that serves wrong bytes once will again.
	ErrDigestMismatch = errors.New("digest mismatch")

	// ErrRateLimited means a registry answered 429 and retrying was pointless
	// (its budget is spent) or would have meant waiting longer than allowed.
	ErrRateLimited = errors.New("rate limited")

	// ErrRateLimitReserve means the copy was refused because it would have
	// spent manifest GETs kept in reserve (see WithRateLimitReserve).
	ErrRateLimitReserve = errors.New("rate-limit reserve reached")

	// ErrNoMatchingPlatform means a platform filter kept nothing.
	ErrNoMatchingPlatform = errors.New("no matching platform")

	// ErrUnsupportedManifest means the source manifest is of a kind the
	// mirror does not copy (Docker schema 1, unknown media types).
	ErrUnsupportedManifest = errors.New("unsupported manifest")
)
