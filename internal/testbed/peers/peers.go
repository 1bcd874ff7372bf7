// Package peers starts the independent stand-ins this project checks itself
// against: moto (an AWS emulator maintained by others) and Debian's stock
// docker-registry (distribution 2.8). They are programs, not libraries, so
// tests run them as child processes on loopback ports.
//
// A missing program is an error that names it and the package that installs
// it: a suite that needs a peer fails loudly rather than skipping.
package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Process is a running peer.
type Process struct {
	// URL is the peer's base URL (http://127.0.0.1:PORT).
	URL string
	// Addr is its host:port.
	Addr string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startTimeout bounds how long a peer may take to answer its first request;
// moto imports all of botocore's models first, which takes seconds on a busy
// two-core machine.
const startTimeout = 60 * time.Second

// StartMoto runs `moto_server` on a free loopback port. Its output goes to
// dir/moto.log.
func StartMoto(ctx context.Context, dir string) (*Process, error) {
	bin, err := lookPath("moto_server", "pip install 'moto[server]==5.*'")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return start(ctx, dir, "moto", port, "/moto-api/data.json", bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
}

// StartRegistry runs Debian's `docker-registry` (distribution 2.8) with
// filesystem storage under dir, deletes enabled, on a free loopback port.
func StartRegistry(ctx context.Context, dir string) (*Process, error) {
	bin, err := lookPath("docker-registry", "apt-get install docker-registry")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	store := filepath.Join(dir, "registry-"+strconv.Itoa(port))
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
`, store, port)
	cfgPath := filepath.Join(store, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	return start(ctx, dir, "registry-"+strconv.Itoa(port), port, "/v2/", bin, "serve", cfgPath)
}

func lookPath(name, install string) (string, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (%s); .ci/run installs it", name, install)
	}
	return bin, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, dir, name string, port int, readyPath, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so Close also ends what it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := &Process{URL: "http://" + addr, Addr: addr, cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { p.done <- cmd.Wait() }()
	if err := p.waitReady(ctx, readyPath); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			out, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited before answering (%v): %s", p.cmd.Path, err, tail(out, 400))
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s within %s", p.cmd.Path, p.URL+path, startTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the peer and waits for it.
func (p *Process) Close() error {
	if p.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}

// Reset clears all of moto's state (POST /moto-api/reset).
func (p *Process) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("reset moto: " + resp.Status)
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
