package ecssim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxReasonBytes is where the ECS agent cuts task and container reasons;
// a cut reason ends in "...", as the agent's older 255-byte cut did.
const maxReasonBytes = 1024

func capReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// pullFailureReasons returns the container reason and the task's
// stoppedReason ECS reports for a failed pull. Fargate (containerd) puts
// the pull error in both; EC2 (the ECS agent driving Docker) puts Docker's
// error on the container and a generic text on the task.
func pullFailureReasons(err error, launchType string) (containerReason, taskReason string) {
	var pe *PullError
	if !errors.As(err, &pe) {
		r := capReason("CannotPullContainerError: " + err.Error())
		if launchType == "FARGATE" {
			return r, r
		}
		return r, "Task failed to start"
	}
	if launchType == "FARGATE" {
		r := capReason(fargateReason(pe))
		return r, r
	}
	return capReason(dockerReason(pe)), "Task failed to start"
}

func statusLine(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// serverMessage renders a registry error body the way the Docker
// distribution error codes print: the code lower-cased with underscores
// as spaces, then the message.
func serverMessage(errs []RegistryError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		code := strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))
		if e.Message == "" {
			parts = append(parts, code)
			continue
		}
		parts = append(parts, code+": "+e.Message)
	}
	return strings.Join(parts, "; ")
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// fargateReason words a pull failure as Fargate platform 1.4 does: the
// resolve step ("pull image manifest has been retried"), the content fetch
// ("ref pull has been retried ... httpReadSeeker") with the registry's
// status and server message, or the credential retrieval before either.
func fargateReason(pe *PullError) string {
	const (
		cannotPull = "CannotPullContainerError: "
		fetch      = cannotPull + "ref pull has been retried 1 time(s): "
		readSeeker = fetch + "failed to copy: httpReadSeeker: failed open: "
		denied     = "pull access denied, repository does not exist or may require authorization: "
	)
	resolve := cannotPull + "pull image manifest has been retried 1 time(s): failed to resolve ref " + pe.Ref + ": "
	switch pe.Stage {
	case StageAuth:
		what := "unable to retrieve ecr registry auth"
		if pe.CredentialSource == "secretsmanager" {
			what = "unable to retrieve secret from asm"
		}
		return "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: " +
			what + ": service call has been retried 1 time(s): " + errText(pe.Err)
	case StagePlatform:
		return cannotPull + "pull image manifest has been retried 1 time(s): image Manifest does not contain descriptor matching platform '" + pe.Platform + "'"
	case StageResolve:
		switch {
		case errors.Is(pe.Err, ErrInvalidReference):
			return resolve + ErrInvalidReference.Error()
		case pe.StatusCode == 0:
			return resolve + "failed to do request: " + methodName(pe.Method) + ` "` + pe.URL + `": ` + errText(pe.Err)
		case pe.StatusCode == http.StatusNotFound:
			return resolve + pe.Ref + ": not found"
		case pe.StatusCode == http.StatusUnauthorized && pe.Anonymous && pe.Challenge == "basic":
			return resolve + denied + "authorization failed: no basic auth credentials"
		case pe.StatusCode == http.StatusUnauthorized:
			return resolve + denied + "server message: insufficient_scope: authorization failed"
		}
		return resolve + "unexpected status from " + pe.Method + " request to " + pe.URL + ": " + statusLine(pe.StatusCode)
	}
	// StageFetch.
	var dm *DigestMismatchError
	switch {
	case errors.As(pe.Err, &dm):
		return fetch + `failed commit on ref "manifest-` + strings.Replace(dm.Expected, ":", "-", 1) + `": ` + dm.Error() + ": failed precondition"
	case pe.StatusCode == 0:
		return readSeeker + "failed to do request: " + methodName(pe.Method) + ` "` + pe.URL + `": ` + errText(pe.Err)
	}
	s := readSeeker + "unexpected status code " + pe.URL + ": " + statusLine(pe.StatusCode)
	if m := serverMessage(pe.Errors); m != "" {
		s += " - Server message: " + m
	}
	return s
}

// methodName is the method as Go's url.Error prints it ("Head", "Get").
func methodName(m string) string {
	if m == "" {
		return "Get"
	}
	return m[:1] + strings.ToLower(m[1:])
}

// familiar shortens a containerd-style name the way Docker prints it:
// docker.io/library/nginx -> nginx, docker.io/bitnami/redis -> bitnami/redis.
func familiar(s string) string {
	if rest, ok := strings.CutPrefix(s, "docker.io/"); ok {
		return strings.TrimPrefix(rest, "library/")
	}
	return s
}

// dockerReason words a pull failure as the ECS agent on EC2 reports
// Docker's answer.
func dockerReason(pe *PullError) string {
	const daemon = "CannotPullContainerError: Error response from daemon: "
	switch pe.Stage {
	case StageAuth:
		return "CannotPullECRContainerError: " + errText(pe.Err)
	case StagePlatform:
		return daemon + "no matching manifest for " + pe.Platform + " in the manifest list entries"
	}
	var dm *DigestMismatchError
	switch {
	case errors.Is(pe.Err, ErrInvalidReference):
		return daemon + ErrInvalidReference.Error()
	case errors.As(pe.Err, &dm):
		return daemon + "manifest verification failed for digest " + dm.Expected
	case pe.StatusCode == 0:
		host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(pe.URL, "https://"), "http://"), "/")
		return daemon + `Get "https://` + host + `/v2/": ` + errText(pe.Err)
	case pe.StatusCode == http.StatusUnauthorized && pe.Anonymous && pe.Challenge == "basic":
		return daemon + `Head "` + pe.URL + `": no basic auth credentials`
	case pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden:
		return daemon + "pull access denied for " + familiar(pe.Repository) +
			", repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
	case pe.StatusCode == http.StatusNotFound:
		return daemon + "manifest for " + familiar(pe.Ref) + " not found: manifest unknown: manifest unknown"
	}
	if m := serverMessage(pe.Errors); m != "" {
		return daemon + m
	}
	if pe.StatusCode == http.StatusTooManyRequests {
		return daemon + "toomanyrequests: " + http.StatusText(pe.StatusCode)
	}
	return daemon + "received unexpected HTTP status: " + statusLine(pe.StatusCode)
}
