package proctest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// LogSink collects the JSON log lines of an in-process logger
// (slog.NewJSONHandler(&sink, ...)) whose goroutines write concurrently,
// to be read as the lines of a Proc are.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String is everything written so far.
func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Lines returns the JSON lines written so far that match (all of them when
// match is nil); lines that are not JSON are skipped.
func (s *LogSink) Lines(match func(LogLine) bool) []LogLine {
	var out []LogLine
	for _, raw := range strings.Split(s.String(), "\n") {
		var l LogLine
		if json.Unmarshal([]byte(raw), &l) == nil && (match == nil || match(l)) {
			out = append(out, l)
		}
	}
	return out
}

// Msg matches the lines whose message is msg.
func Msg(msg string) func(LogLine) bool {
	return func(l LogLine) bool { return l.Msg() == msg }
}
