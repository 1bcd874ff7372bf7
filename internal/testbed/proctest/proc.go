// Package proctest runs the built pullheal binary as child processes for the
// end-to-end suites (e2e against `pullheal local`, e2e/moto against moto and
// docker-registry): each process in its own process group, its output kept
// line by line so that a test can wait for a log line, printed when the test
// fails, and its Prometheus metrics read back. LogSink reads the JSON log
// lines of an in-process logger the same way.
package proctest

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

// Proc is one running process.
type Proc struct {
	Name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	stdout  []string
	stderr  []string
	changed chan struct{} // closed and replaced whenever a line arrives
	done    chan struct{} // closed when the process has exited
	exitErr error
	exited  time.Time
}

// LogLine is one JSON log line of a pullheal process.
type LogLine map[string]any

// Msg is the line's message.
func (l LogLine) Msg() string { s, _ := l["msg"].(string); return s }

// Str is the line's string attribute key, or "".
func (l LogLine) Str(key string) string { s, _ := l[key].(string); return s }

// Start runs binary with args. The environment is the test's minus anything
// that points the SDK or pullheal somewhere (HermeticEnv), plus env. The
// process is killed when the test ends, and its output printed if the test
// failed.
func Start(t *testing.T, name, binary string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(HermeticEnv(), env...)
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
		p.Kill()
		if t.Failed() {
			p.Dump(t)
		}
	})
	return p
}

// HermeticEnv is the test's environment without AWS_* and PULLHEAL_*
// variables, so that nothing of the caller's shell reaches a process.
func HermeticEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PULLHEAL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Kill ends the process group with SIGKILL and waits for the process.
func (p *Proc) Kill() {
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

// Signal sends sig to the process.
func (p *Proc) Signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
}

// Wait waits for the process to exit and returns when it exited and its
// exit error.
func (p *Proc) Wait(t *testing.T, timeout time.Duration) (time.Time, error) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.Name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.exitErr
}

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// WaitLog waits for a stderr log line that match accepts and returns it.
func (p *Proc) WaitLog(t *testing.T, timeout time.Duration, what string, match func(LogLine) bool) LogLine {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.stderr[seen:], p.changed
		seen = len(p.stderr)
		p.mu.Unlock()
		for _, raw := range lines {
			var l LogLine
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
				t.Fatalf("%s exited (%v) before logging %s", p.Name, p.exitErr, what)
			}
		case <-deadline:
			t.Fatalf("%s did not log %s within %s", p.Name, what, timeout)
		}
	}
}

// Logs returns the stderr log lines that match.
func (p *Proc) Logs(match func(LogLine) bool) []LogLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []LogLine
	for _, raw := range p.stderr {
		var l LogLine
		if json.Unmarshal([]byte(raw), &l) == nil && match(l) {
			out = append(out, l)
		}
	}
	return out
}

// StdoutLines returns what the process printed on stdout so far.
func (p *Proc) StdoutLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...)
}

// WaitChange returns when a line arrives, the process exits, or timeout
// passes, whichever comes first.
func (p *Proc) WaitChange(timeout time.Duration) {
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

// Dump logs the process's output and exit status.
func (p *Proc) Dump(t *testing.T) {
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
		t.Logf("---- %s %s%s ----\n%s", p.Name, s.name, cut, strings.Join(lines, "\n"))
	}
	t.Logf("---- %s exit: %v ----", p.Name, p.exitErr)
}

// lineSink splits a process's output into lines.
type lineSink struct {
	p       *Proc
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
