//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one pullheal process: its own process group, its output kept
// line by line so that tests can wait for a log line, and printed when
// the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	stdout  []string
	stderr  []string
	changed chan struct{} // closed and replaced whenever a line arrives
	done    chan struct{} // closed when the process has exited
	exitErr error
	exited  time.Time
}

// logLine is one JSON log line of a pullheal process.
type logLine map[string]any

func (l logLine) msg() string { s, _ := l["msg"].(string); return s }

func (l logLine) str(key string) string { s, _ := l[key].(string); return s }

// startProc runs the binary with args. The environment is the test's minus
// anything that points the SDK or pullheal somewhere, plus env.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(hermeticEnv(), env...)
	p.cmd.Stdout = &lineSink{p: p, stdout: true}
	p.cmd.Stderr = &lineSink{p: p}
	// Its own group, so that a kill reaches it and nothing else.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.exitErr, p.exited = err, time.Now()
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dump(t)
		}
	})
	return p
}

func hermeticEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PULLHEAL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// kill ends the process group with SIGKILL and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

// wait waits for the process to exit and returns when it exited and its
// exit error.
func (p *proc) wait(t *testing.T, timeout time.Duration) (time.Time, error) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.exitErr
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitLog waits for a stderr log line that match accepts and returns it.
func (p *proc) waitLog(t *testing.T, timeout time.Duration, what string, match func(logLine) bool) logLine {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.stderr[seen:], p.changed
		seen = len(p.stderr)
		p.mu.Unlock()
		for _, raw := range lines {
			var l logLine
			if json.Unmarshal([]byte(raw), &l) == nil && match(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-p.done:
			// Lines written just before the exit are in by now.
			p.mu.Lock()
			more := len(p.stderr) > seen
			p.mu.Unlock()
			if !more {
				t.Fatalf("%s exited (%v) before logging %s", p.name, p.exitErr, what)
			}
		case <-deadline:
			t.Fatalf("%s did not log %s within %s", p.name, what, timeout)
		}
	}
}

// logs returns the stderr log lines that match.
func (p *proc) logs(match func(logLine) bool) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, raw := range p.stderr {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) == nil && match(l) {
			out = append(out, l)
		}
	}
	return out
}

// stdoutLines returns what the process printed on stdout so far.
func (p *proc) stdoutLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...)
}

func (p *proc) waitChange(timeout time.Duration) {
	p.mu.Lock()
	ch := p.changed
	p.mu.Unlock()
	select {
	case <-ch:
	case <-p.done:
	case <-time.After(timeout):
	}
}

// maxDump bounds what a failing test prints per stream.
const maxDump = 400

func (p *proc) dump(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range []struct {
		name  string
		lines []string
	}{{"stdout", p.stdout}, {"stderr", p.stderr}} {
		lines := s.lines
		cut := ""
		if len(lines) > maxDump {
			cut = fmt.Sprintf(" (last %d of %d lines)", maxDump, len(lines))
			lines = lines[len(lines)-maxDump:]
		}
		t.Logf("---- %s %s%s ----\n%s", p.name, s.name, cut, strings.Join(lines, "\n"))
	}
	t.Logf("---- %s exit: %v ----", p.name, p.exitErr)
}

// lineSink splits a process's output into lines.
type lineSink struct {
	p       *proc
	stdout  bool
	partial []byte
}

func (s *lineSink) Write(b []byte) (int, error) {
	s.partial = append(s.partial, b...)
	var lines []string
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(lines) == 0 {
		return len(b), nil
	}
	p := s.p
	p.mu.Lock()
	if s.stdout {
		p.stdout = append(p.stdout, lines...)
	} else {
		p.stderr = append(p.stderr, lines...)
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return len(b), nil
}
