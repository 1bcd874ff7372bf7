package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/imageref"
)

// defaultListen is the agent's --listen default; the health check's
// default URL follows it.
const defaultListen = ":9090"

func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 when the agent's /healthz answers 2xx in time, 1 otherwise (for a container health check)",
		Description: "The image has no shell and no curl; an ECS container health check runs\n" +
			"  [\"CMD\", \"/pullheal\", \"healthcheck\"]\n" +
			"It runs with the agent's environment, so PULLHEAL_LISTEN, which moves the agent's listener, moves\n" +
			"the default URL too. Prints one line on failure, nothing on success.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Usage: "`URL` to check (default: /healthz of --listen on loopback)"},
			&cli.StringFlag{Name: "listen", Value: defaultListen, Usage: "the agent's listen `ADDRESS`, from which the default URL is made"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "how long the answer may take (keep under the health check's timeout)"},
		},
		Action: healthcheckAction,
	}
}

func healthcheckAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return inputErrorf("healthcheck takes no arguments, got %q", c.Args().First())
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return inputErrorf("--timeout must be positive, got %s", timeout)
	}
	target := c.String("url")
	if target == "" {
		var err error
		if target, err = healthzURL(c.String("listen")); err != nil {
			return inputErrorf("--listen %q: %v", c.String("listen"), err)
		}
	} else if err := checkHealthURL(target); err != nil {
		return inputErrorf("--url %q: %v", target, err)
	}
	return probe(c.Context, target, timeout)
}

// healthzURL is the agent's /healthz as reached from inside its container:
// a wildcard listen address is reached on loopback.
func healthzURL(listen string) (string, error) {
	if listen == "" {
		return "", errors.New("empty: the agent serves no /healthz then; give --url")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port == "" || port == "0" {
		return "", errors.New("no fixed port to reach")
	}
	if !imageref.ValidPort(port) {
		return "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	// Go listens on [::] dual-stack, so IPv4 loopback reaches every
	// wildcard, also where the container has no IPv6.
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

func checkHealthURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want an http or https URL")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if p := u.Port(); p != "" && !imageref.ValidPort(p) {
		return fmt.Errorf("port %q: want a number from 1 to 65535", p)
	}
	return nil
}

// probe asks target once. Redirects are not followed and no proxy is used:
// the check is of the agent's own listener.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return inputErrorf("--url %q: %v", target, err)
	}
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck %s: no answer within %s", target, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("healthcheck %s: %v", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	msg := strings.Join(strings.Fields(string(body)), " ")
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Errorf("healthcheck %s: %s%s", target, resp.Status, msg)
}
