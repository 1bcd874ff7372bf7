package ecsevent

import (
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
)

// Failure is the classification of one container of a stopped task.
type Failure struct {
	Container string
	Image     string       // as written in the task
	Ref       imageref.Ref // zero if Image did not parse
	Cause     Cause
	// Reason is the text that decided: the container's reason or the task's
	// stoppedReason.
	Reason string
	// Explanation says in one line why, e.g. "Docker Hub pull rate limit
	// (429 toomanyrequests)".
	Explanation string
	Truncated   bool // Reason looks cut by the ECS agent
	Inferred    bool // a rate limit read from the shape of a truncated reason, not seen
	// Transient: an OtherFailure whose visible cause says nothing against
	// the image or the revision: registry API throttling ("Rate
	// exceeded"), a network error, a registry 5xx, a full disk. The same
	// revision may pull on the next try.
	Transient bool
}

// Classify returns one Failure per container of t, in container order. A
// task that is not STOPPED has every container at NoFailure.
//
// Each container is judged on its own reason and on the task's
// stoppedReason when that reason belongs to it: Fargate reports a pull error
// in both, EC2 only in the container with a generic task reason. The task's
// reason belongs to the containers whose image it names (the reference, the
// repository in a registry URL, or the familiar Docker Hub name), preferring
// those whose tag or digest it also names; if it names none and exactly one
// container has an image that parses, to that container; otherwise to none.
// When both texts speak, the stronger verdict wins (see ClassifyReason for
// the order).
func Classify(t *Task) []Failure {
	if t == nil || len(t.Containers) == 0 {
		return nil
	}
	out := make([]Failure, len(t.Containers))
	pullable := 0
	for i, c := range t.Containers {
		out[i] = Failure{Container: c.Name, Image: c.Image, Cause: NoFailure}
		if r, err := imageref.Parse(c.Image); err == nil {
			out[i].Ref = r
			pullable++
		}
	}
	if !t.Stopped() {
		status := t.LastStatus
		if status == "" {
			status = "without a status"
		}
		for i := range out {
			out[i].Explanation = "task is " + status + ", not " + StatusStopped
		}
		return out
	}

	var task analysis
	var owners []bool
	var ownersBuf [16]bool // ECS allows 10 containers; larger tasks allocate
	if strings.TrimSpace(t.StoppedReason) != "" {
		task = analyze(t.StoppedReason)
		if task.sig&(sigPull|sigPullRateLimit|sigHAP429) != 0 && !allSame(t.Containers, t.StoppedReason) {
			owners = ownersBuf[:0]
			if len(t.Containers) > len(ownersBuf) {
				owners = make([]bool, 0, len(t.Containers))
			}
			owners = attribute(task.norm, t.Containers, out, pullable, owners)
		}
	}

	for i, c := range t.Containers {
		best := verdict{cause: NoFailure, explanation: "no pull failure reported"}
		switch {
		case c.Reason == "":
		case c.Reason == t.StoppedReason:
			best = task.verdict(out[i].Ref)
		default:
			best = analyze(c.Reason).verdict(out[i].Ref)
		}
		if owners != nil && owners[i] && c.Reason != t.StoppedReason {
			if v := task.verdict(out[i].Ref); v.rank() > best.rank() {
				best = v
			}
		}
		f := &out[i]
		f.Cause, f.Explanation, f.Truncated, f.Inferred, f.Transient = best.cause, best.explanation, best.truncated, best.inferred, best.transient
		if best.cause != NoFailure {
			f.Reason = best.reason
		}
	}
	return out
}

// TaskRateLimit reports whether the task's own stoppedReason says that a
// pull was rate-limited, judging the registry by the hosts and wording of
// the text (it belongs to no particular image): a text that names ECR or
// says only "Rate exceeded" is ECR throttling, not a rate limit. It
// returns the explanation. Decide uses it when Classify gave the reason
// to no container: it names none of their images and several (or none)
// could have pulled.
func TaskRateLimit(t *Task) (explanation string, ok bool) {
	if !t.Stopped() || strings.TrimSpace(t.StoppedReason) == "" {
		return "", false
	}
	v := analyze(t.StoppedReason).verdict(imageref.Ref{})
	return v.explanation, v.cause == RateLimit
}

// allSame reports whether every container already carries the task's
// reason as its own, as Fargate reports a single container's pull failure:
// then there is nothing to attribute.
func allSame(cs []Container, reason string) bool {
	for _, c := range cs {
		if c.Reason != reason {
			return false
		}
	}
	return true
}

// attribute decides which containers a task-level reason speaks of; it
// appends one flag per container to owners.
func attribute(text string, cs []Container, fs []Failure, pullable int, owners []bool) []bool {
	var buf [16]int
	scores := buf[:0]
	top := 0
	for i := range cs {
		s := mentionScore(text, fs[i].Ref, cs[i].ImageDigest)
		scores = append(scores, s)
		top = max(top, s)
	}
	for i := range cs {
		switch {
		case top > 0:
			owners = append(owners, scores[i] == top)
		case pullable == 1:
			owners = append(owners, !fs[i].Ref.IsZero())
		default:
			owners = append(owners, false)
		}
	}
	return owners
}

// mentionScore says how precisely text names the image r: 0 not at all, 1
// its repository, 2 its repository with its tag or digest (or the digest the
// runtime resolved).
func mentionScore(text string, r imageref.Ref, resolved string) int {
	if r.IsZero() {
		return 0
	}
	best := scanMentions(text, r.Repository, r, resolved, true)
	if r.Kind == imageref.DockerHub {
		if short, ok := strings.CutPrefix(r.Repository, "library/"); ok {
			best = max(best, scanMentions(text, short, r, resolved, false))
		}
	}
	return best
}

func scanMentions(text, repo string, r imageref.Ref, resolved string, full bool) int {
	best := 0
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], repo)
		if i < 0 {
			break
		}
		start, end := off+i, off+i+len(repo)
		off = start + 1
		if !mentionStart(text[:start], r, full) || !mentionEnd(text[end:]) {
			continue
		}
		s := 1
		if namesVersion(text[end:], r, resolved) {
			s = 2
		}
		best = max(best, s)
	}
	return best
}

// mentionStart reports whether what precedes a repository name makes it a
// whole name of r: nothing, a separator, or (for the full repository path)
// r's registry host as in "docker.io/library/nginx" or
// "https://registry-1.docker.io/v2/library/nginx".
func mentionStart(before string, r imageref.Ref, full bool) bool {
	if before == "" {
		return true
	}
	c := before[len(before)-1]
	if !isNameByte(c) && c != '/' && c != ':' && c != '@' {
		return true
	}
	if c != '/' || !full {
		return false
	}
	before = strings.TrimSuffix(before[:len(before)-1], "/v2")
	i := len(before)
	for i > 0 && isHostByte(before[i-1]) {
		i--
	}
	host := before[i:]
	return host != "" && imageref.CanonicalHost(host) == r.Registry
}

// mentionEnd reports whether what follows a repository name ends it: a tag,
// a digest, a registry API path, a separator or the end of the text.
func mentionEnd(after string) bool {
	if after == "" {
		return true
	}
	switch c := after[0]; {
	case c == '/':
		return strings.HasPrefix(after, "/manifests/") || strings.HasPrefix(after, "/blobs/") || strings.HasPrefix(after, "/tags/")
	case c == '.':
		return len(after) == 1 || after[1] == ' '
	default:
		return !isNameByte(c)
	}
}

func namesVersion(after string, r imageref.Ref, resolved string) bool {
	ids := [3]string{lowerASCII(r.Tag), r.Digest, resolved}
	for _, sep := range [...]string{":", "@", "/manifests/"} {
		rest, ok := strings.CutPrefix(after, sep)
		if !ok {
			continue
		}
		for _, id := range ids {
			if id != "" && strings.HasPrefix(rest, id) && (len(rest) == len(id) || !isNameByte(rest[len(id)])) {
				return true
			}
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func isHostByte(c byte) bool {
	return isNameByte(c) || c == ':' || c == '[' || c == ']'
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
