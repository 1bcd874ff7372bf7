// Package hostmap sends registry requests for named hosts to other base
// URLs. The local test bed has no DNS for registry-1.docker.io or
// ACCOUNT.dkr.ecr.REGION.amazonaws.com: its registries listen on loopback
// ports, and every registry client of pullheal (the agent's preflight, the
// mirror engine, the simulated ECS scheduler) reaches them through a Map.
// Task definitions and events keep the real host names.
package hostmap

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/pullheal/pullheal/internal/imageref"
)

// Map maps a registry host (as imageref.CanonicalHost names it, so
// docker.io covers index.docker.io and registry-1.docker.io) to the base
// URL that serves it.
type Map map[string]*url.URL

// Parse reads "HOST=URL[,HOST=URL...]", the form of the
// PULLHEAL_REGISTRY_ENDPOINTS setting. An empty string is an empty Map.
func Parse(spec string) (Map, error) {
	m := Map{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		host, raw, ok := strings.Cut(part, "=")
		if !ok || host == "" {
			return nil, fmt.Errorf("registry endpoint %q: want HOST=URL", part)
		}
		if err := m.Add(host, raw); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Add maps host to the base URL raw.
func (m Map) Add(host, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("registry endpoint %s=%s: not an http(s) base URL", host, raw)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("registry endpoint %s=%s: %q is not a host", host, raw, host)
	}
	m[imageref.CanonicalHost(host)] = u
	return nil
}

// String renders the map in Parse's form, sorted.
func (m Map) String() string {
	parts := make([]string, 0, len(m))
	for h, u := range m {
		parts = append(parts, h+"="+u.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Lookup returns the base URL serving host, or nil.
func (m Map) Lookup(host string) *url.URL {
	if u, ok := m[imageref.CanonicalHost(host)]; ok {
		return u
	}
	return nil
}

// Transport returns a RoundTripper that sends requests for mapped hosts to
// their base URLs through base (http.DefaultTransport when nil). Requests
// for other hosts go through base unchanged. Responses keep the original
// request, so errors name the real registry URL.
func (m Map) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if len(m) == 0 {
		return base
	}
	return &transport{m: m, base: base}
}

type transport struct {
	m    Map
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	target := t.m.Lookup(req.URL.Host)
	if target == nil {
		target = t.m.Lookup(req.URL.Hostname())
	}
	if target == nil {
		return t.base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = target.Scheme
	out.URL.Host = target.Host
	out.Host = target.Host
	if p := strings.TrimSuffix(target.Path, "/"); p != "" {
		out.URL.Path = p + req.URL.Path
		out.URL.RawPath = ""
	}
	resp, err := t.base.RoundTrip(out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// IsLoopback reports whether a URL's host is a loopback address.
func IsLoopback(u *url.URL) bool {
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
