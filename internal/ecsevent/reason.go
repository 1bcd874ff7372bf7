package ecsevent

import (
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
)

// Cause is what a container's stop reason says about its image pull.
type Cause string

// Causes. OtherFailure is a pull failure that is not a rate limit pullheal
// can route around (401, denied, not found, platform mismatch, network, TLS,
// ECR throttling, ...); NoFailure means the container did not fail to pull
// (it ran and exited, was stopped by a user, ran out of memory, or the task
// is not stopped).
const (
	RateLimit    Cause = "rate-limit"
	OtherFailure Cause = "other"
	NoFailure    Cause = "none"
)

// ReasonCap is the length in bytes at which the ECS agent cuts stop
// reasons. Older platforms cut at 255 as 252 characters and "...", which the
// "..." suffix already reveals.
const ReasonCap = 1024

// ClassifyReason decides what one stop reason (a task's stoppedReason or a
// container's reason) says about the pull of ref, the image it belongs to.
//
// The rules, in order:
//
//  1. Text that is not about an image pull is NoFailure.
//  2. A visible rate-limit signal (a 429 status, "Too Many Requests",
//     "toomanyrequests", "pull rate limit", "HAP429") is RateLimit, unless the
//     image is in ECR or ECR Public: their "toomanyrequests: Rate exceeded" is
//     API throttling, not a pull limit another registry would lift, so it is
//     OtherFailure. A 429 from any other registry (quay.io, ghcr.io,
//     registry.k8s.io, gcr.io, ...) is RateLimit: pullheal handles public
//     registries' limits, and the policy decides whether to act. For a zero
//     ref (the image did not parse) the registry is read from the text.
//  3. A visible cause of another kind (denied, unauthorized, not found,
//     platform, network, TLS, 5xx, throttling) is OtherFailure.
//  4. A truncated reason (it ends in "..." or is exactly ReasonCap bytes
//     long) for a Docker Hub image, cut after
//     "unexpected status" and a manifest URL but before the status code, is
//     RateLimit with inferred set: containerd reports that error when the
//     free HEAD (resolve) succeeded and the counted manifest GET failed, and
//     on Docker Hub that GET fails for the pull rate limit. A HEAD failure,
//     a blob failure, a visible status code or a status cut to digits that
//     cannot begin 429 ("40...") is not inferred. A truncated reason cut
//     inside the error code itself ("...: toomanyre...", at least "toom",
//     or "too many" of the phrase) is RateLimit with inferred set for any
//     registry but ECR and ECR Public, whose code means throttling.
//  5. Any other pull failure is OtherFailure, with truncated set when the
//     cause may have been cut off: the agent re-reads the full reason with
//     DescribeTasks before giving up.
func ClassifyReason(reason string, ref imageref.Ref) (cause Cause, explanation string, truncated, inferred bool) {
	v := analyze(reason).verdict(ref)
	return v.cause, v.explanation, v.truncated, v.inferred
}

// IsTruncated reports whether reason looks cut by the ECS agent.
func IsTruncated(reason string) bool {
	r := strings.TrimRight(reason, " \t\r\n")
	return strings.HasSuffix(r, "...") || strings.HasSuffix(r, "…") || len(reason) == ReasonCap
}

// signals are the facts read from one reason text.
type signals uint32

const (
	sigPull          signals = 1 << iota // the text is about an image pull
	sig429                               // a standalone 429 status
	sigTooManyToken                      // the registry error code toomanyrequests
	sigTooManyPhrase                     // "too many requests"
	sigHAP429                            // Docker Hub's abuse limit
	sigPullRateLimit                     // Docker Hub's "pull rate limit" wording
	sigUnauth                            // "unauthenticated pull rate limit"
	sigRateLimitWord                     // "rate limit", "rate-limit", "rate limited"
	sigRateExceeded                      // ECR's "Rate exceeded"
	sigDockerHubText                     // a Docker Hub host or docker.com link
	sigECRText                           // an ECR host
	sigStatusCut                         // truncated after "unexpected status" and a manifest URL, before the code
	sigTokenCut                          // truncated inside "toomanyrequests" or "too many requests"

	sigRateLimit = sig429 | sigTooManyToken | sigTooManyPhrase | sigHAP429 | sigPullRateLimit | sigRateLimitWord
)

// analysis is everything ClassifyReason needs from a text, computed once so
// that a task-level reason can be judged against several containers' images.
type analysis struct {
	text      string // as given
	norm      string // lower-case ASCII, whitespace runs collapsed
	sig       signals
	other     string // the visible non-rate-limit cause, "" if none
	transient bool   // other is a transient cause
	truncated bool
}

// verdict is a classification and how much it can be trusted.
type verdict struct {
	cause       Cause
	reason      string
	explanation string
	truncated   bool
	inferred    bool
	decisive    bool // the deciding cause is visible in the text
	transient   bool // an OtherFailure that says nothing against the image
}

// rank orders verdicts of the same container from two texts (its own reason
// and the task's): a visible rate limit, then a visible other cause, then an
// inferred rate limit, then a pull failure whose cause was cut off, then
// nothing. A visible 429 wins over a visible other cause because the runtime
// reports the failure that stopped the pull, and retrying elsewhere cures
// the rate limit whatever else was said.
func (v verdict) rank() int {
	switch {
	case v.cause == RateLimit && !v.inferred:
		return 5
	case v.cause == OtherFailure && v.decisive:
		return 4
	case v.cause == RateLimit:
		return 3
	case v.cause == OtherFailure:
		return 2
	}
	return 0
}

var pullMarkers = []string{
	"cannotpull", // CannotPullContainerError, CannotPullImageManifestError, CannotPullECRContainerError, ...
	"pull image manifest",
	"ref pull has been retried",
	"inspect image has been retried",
	"failed to resolve ref",
	"httpreadseeker",
	"httpreaderseeker",
	"pull access denied",
	"error pulling image",
	"failed to pull",
	"pulling image",
	"image pull",
	"pull rate limit",
	"/manifests/",
	"/blobs/",
	"manifest unknown",
	"registry auth",
}

// otherCauses are the visible causes of pull failures that are not rate
// limits, in the order they are reported when several appear.
var otherCauses = []struct {
	label   string
	phrases []string
	status  []string
	// transient: the cause says nothing against the image (see
	// Failure.Transient).
	transient bool
}{
	{"access denied (repository missing or private)", []string{"pull access denied", "access denied", "denied:", "is denied", "accessdenied"}, nil, false},
	{"unauthorized (401)", []string{"unauthorized", "authentication required", "no basic auth credentials", "incorrect username or password"}, []string{"401"}, false},
	{"forbidden (403)", []string{"forbidden"}, []string{"403"}, false},
	{"no image for the task's platform", []string{"no match for platform", "no matching manifest", "does not match the specified platform", "platform mismatch"}, nil, false},
	{"image or tag not found", []string{"manifest unknown", "manifest_unknown", "not found", "name unknown", "name_unknown", "does not exist", "no such image"}, []string{"404"}, false},
	{"registry API throttling (Rate exceeded)", []string{"rate exceeded", "throttling"}, nil, true},
	{"TLS or certificate error", []string{"x509", "tls", "certificate"}, nil, false},
	{"network error", []string{"i/o timeout", "timeout", "deadline exceeded", "connection refused", "connection reset", "no such host", "network is unreachable", "dial tcp"}, nil, true},
	{"registry server error (5xx)", []string{"internal server error", "bad gateway", "service unavailable"}, []string{"500", "502", "503", "504"}, true},
	{"disk full", []string{"no space left on device"}, nil, true},
}

func analyze(text string) analysis {
	a := analysis{text: text, truncated: IsTruncated(text)}
	if strings.TrimSpace(text) == "" {
		return a
	}
	n := normalize(text)
	a.norm = n
	var s signals
	for _, m := range pullMarkers {
		if strings.Contains(n, m) {
			s |= sigPull
			break
		}
	}
	if hasStatus(n, "429") {
		s |= sig429
	}
	if hasWord(n, "toomanyrequests") {
		s |= sigTooManyToken | sigPull
	}
	if strings.Contains(n, "too many requests") {
		s |= sigTooManyPhrase
	}
	if strings.Contains(n, "hap429") {
		s |= sigHAP429
	}
	if strings.Contains(n, "pull rate limit") {
		s |= sigPullRateLimit
		if strings.Contains(n, "unauthenticated pull rate limit") {
			s |= sigUnauth
		}
	}
	if containsFree(n, "rate limit") || containsFree(n, "rate-limit") {
		s |= sigRateLimitWord
	}
	if strings.Contains(n, "rate exceeded") {
		s |= sigRateExceeded
	}
	if strings.Contains(n, "docker.io") || strings.Contains(n, "docker.com") {
		s |= sigDockerHubText
	}
	if strings.Contains(n, ".dkr.ecr") || strings.Contains(n, ".dkr-ecr") || strings.Contains(n, "public.ecr.aws") {
		s |= sigECRText
	}
	if s&sigRateLimit == 0 {
		a.other, a.transient = otherCause(n)
		if a.truncated && a.other == "" && statusCut(n) {
			s |= sigStatusCut
		}
		if a.truncated && a.other == "" && tokenCut(n) {
			s |= sigTokenCut
		}
	}
	a.sig = s
	return a
}

func otherCause(n string) (label string, transient bool) {
	for _, c := range otherCauses {
		for _, p := range c.phrases {
			if containsFree(n, p) {
				return c.label, c.transient
			}
		}
		for _, code := range c.status {
			if hasStatus(n, code) {
				return c.label, c.transient
			}
		}
	}
	return "", false
}

// statusCut reports whether the text ends inside containerd's
// "unexpected status code <manifest URL>: <code> <text>" with the code cut
// off, the shape of a truncated manifest GET failure.
func statusCut(n string) bool {
	i := strings.LastIndex(n, "unexpected status")
	if i < 0 {
		return false
	}
	tail := n[i:]
	if !strings.Contains(tail, "/manifests/") || strings.Contains(tail, "head request") || hasAnyStatus(tail) {
		return false
	}
	// A status cut to its first digits ("...: 4...", "...: 40...") still
	// tells 429 from the rest.
	rest := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(tail, "..."), "…"), " ")
	if j := strings.LastIndex(rest, ": "); j >= 0 {
		if last := rest[j+2:]; last != "" && len(last) < 3 && strings.Trim(last, "0123456789") == "" {
			return strings.HasPrefix("429", last)
		}
	}
	return true
}

// tokenCut reports whether the text was cut inside the registry's error
// code or its phrase: it ends in at least "toom" of "toomanyrequests" or
// "too many" of "too many requests", starting a word (not inside a path
// such as a repository named toomany-things). ECS cuts a reason
// wherever its byte cap falls, and Docker's message puts the code right
// after a long manifest URL, so a 255-byte cut can leave "toomanyre...".
func tokenCut(n string) bool {
	rest := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(strings.TrimRight(n, " "), "..."), "…"), " ")
	for _, w := range [...]struct {
		word string
		min  int
	}{{"toomanyrequests", len("toom")}, {"too many requests", len("too many")}} {
		for l := len(w.word) - 1; l >= w.min; l-- {
			if !strings.HasSuffix(rest, w.word[:l]) {
				continue
			}
			start := len(rest) - l
			if start == 0 || strings.IndexByte(" :\"'(", rest[start-1]) >= 0 {
				return true
			}
		}
	}
	return false
}

func (a analysis) verdict(ref imageref.Ref) verdict {
	v := verdict{cause: NoFailure, reason: a.text, truncated: a.truncated}
	s := a.sig
	if a.norm == "" {
		v.explanation = "no stop reason"
		return v
	}
	if s&sigPull == 0 && s&(sigPullRateLimit|sigHAP429) == 0 {
		v.explanation = "not an image pull failure"
		return v
	}
	kind := ref.Kind
	if ref.IsZero() {
		kind = kindFromText(s)
	}
	switch {
	case s&sigRateLimit != 0 && (kind == imageref.ECRPrivate || kind == imageref.ECRPublic):
		v.cause, v.decisive = OtherFailure, true
		v.explanation = "ECR throttling (" + throttleDetail(s) + "), not a public registry's pull limit"
		// ECR's own throttling passes; an upstream's pull limit relayed by
		// a pull-through cache (Docker Hub's wording) does not.
		v.transient = s&(sigPullRateLimit|sigHAP429) == 0
	case s&sigRateLimit != 0:
		v.cause, v.decisive = RateLimit, true
		v.explanation = rateLimitExplanation(s, kind, ref.Registry)
	case a.other != "":
		v.cause, v.decisive, v.transient = OtherFailure, true, a.transient
		v.explanation = "pull failed: " + a.other
	case s&sigTokenCut != 0 && kind != imageref.ECRPrivate && kind != imageref.ECRPublic:
		v.cause, v.inferred = RateLimit, true
		v.explanation = "truncation cut the reason inside the registry's toomanyrequests error: " + rateLimitExplanation(0, kind, ref.Registry)
	case s&sigStatusCut != 0 && kind == imageref.DockerHub:
		v.cause, v.inferred = RateLimit, true
		v.explanation = "Docker Hub manifest GET failed and truncation cut its status; after a successful resolve only the pull rate limit fails it"
	case a.truncated:
		v.cause = OtherFailure
		v.explanation = "pull failed; the reason is truncated before its cause"
	default:
		v.cause, v.decisive = OtherFailure, true
		v.explanation = "pull failed for a reason other than a rate limit"
	}
	return v
}

// kindFromText guesses the registry of an image that did not parse from the
// hosts and wording in the reason; a rate limit with no registry named
// counts as a public registry's.
func kindFromText(s signals) imageref.Kind {
	switch {
	case s&sigECRText != 0 || s&sigRateExceeded != 0 && s&sigDockerHubText == 0:
		return imageref.ECRPrivate
	case s&(sigDockerHubText|sigHAP429|sigPullRateLimit) != 0:
		return imageref.DockerHub
	}
	return imageref.Other
}

func rateLimitExplanation(s signals, kind imageref.Kind, registry string) string {
	label := "Docker Hub pull rate limit"
	switch {
	case kind != imageref.DockerHub && registry != "":
		label = registry + " rate limit"
	case kind != imageref.DockerHub:
		label = "registry rate limit"
	case s&sigHAP429 != 0:
		label = "Docker Hub abuse rate limit"
	case s&sigUnauth != 0:
		label = "Docker Hub unauthenticated pull rate limit"
	}
	detail := ""
	if s&(sig429|sigTooManyPhrase|sigTooManyToken) != 0 {
		detail = statusDetail(s)
	}
	if s&sigHAP429 != 0 {
		if detail != "" {
			detail += " "
		}
		detail += "HAP429"
	}
	if detail == "" {
		return label
	}
	return label + " (" + detail + ")"
}

// statusDetail names the rate-limit status signals seen, for explanations.
func statusDetail(s signals) string {
	switch {
	case s&(sig429|sigTooManyPhrase) != 0 && s&sigTooManyToken != 0:
		return "429 toomanyrequests"
	case s&(sig429|sigTooManyPhrase) != 0:
		return "429"
	case s&sigTooManyToken != 0:
		return "toomanyrequests"
	}
	return "rate limit"
}

func throttleDetail(s signals) string {
	d := statusDetail(s)
	if s&sigRateExceeded != 0 {
		d += ": Rate exceeded"
	}
	return d
}

// normalize lower-cases ASCII letters and folds every run of whitespace into
// one space, so that rules match whatever case and spacing a runtime used.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			pending = true
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if pending && b.Len() > 0 {
			b.WriteByte(' ')
		}
		pending = false
		b.WriteByte(c)
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// hasWord reports whether w occurs in n not glued to other letters or
// digits: toomanyrequests, but not TooManyRequestsException (an AWS API's
// throttling, not a registry's).
func hasWord(n, w string) bool {
	return occursWhere(n, w, func(start int) bool {
		end := start + len(w)
		return (start == 0 || !isWordByte(n[start-1])) && (end == len(n) || !isWordByte(n[end]))
	})
}

// containsFree reports whether phrase occurs in n outside a path: an
// occurrence preceded by '/' within its word is part of a URL or an image
// name (myorg/rate-limiter, https://tls.example.com/v2/), which says
// nothing about why the pull failed.
func containsFree(n, phrase string) bool {
	return occursWhere(n, phrase, func(start int) bool {
		word := strings.LastIndexAny(n[:start], " \"'(") + 1
		return strings.IndexByte(n[word:start], '/') < 0
	})
}

// hasStatus reports whether an HTTP status code occurs as a status: a
// standalone number, not part of a digest, a port (host:429/), a path
// segment, a tag (nginx:429) or a version.
func hasStatus(n, code string) bool {
	return occursWhere(n, code, func(start int) bool { return isStatusAt(n, start, len(code)) })
}

// occursWhere reports whether sub occurs in n at an offset that ok accepts,
// trying every occurrence, overlapping ones included.
func occursWhere(n, sub string, ok func(start int) bool) bool {
	for off := 0; ; {
		i := strings.Index(n[off:], sub)
		if i < 0 {
			return false
		}
		if ok(off + i) {
			return true
		}
		off += i + 1
	}
}

// hasAnyStatus reports whether any 1xx-5xx status code occurs in n.
func hasAnyStatus(n string) bool {
	for i := 0; i+3 <= len(n); i++ {
		if n[i] >= '1' && n[i] <= '5' && isDigit(n[i+1]) && isDigit(n[i+2]) && isStatusAt(n, i, 3) {
			return true
		}
	}
	return false
}

func isStatusAt(n string, i, l int) bool {
	if i > 0 {
		if c := n[i-1]; isWordByte(c) || strings.IndexByte(":/.@-", c) >= 0 {
			return false
		}
	}
	if j := i + l; j < len(n) {
		c := n[j]
		if isWordByte(c) || strings.IndexByte("/@-", c) >= 0 {
			return false
		}
		// "429." ends a sentence; "1.429" or "429.1" is a version.
		if c == '.' && j+1 < len(n) && n[j+1] != ' ' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
