package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/pullheal/pullheal/internal/regfile"
)

// MaxFileSize is the largest policy (and lifecycle policy) file read. Real
// policies are a few kilobytes; the bound keeps a wrong path (a log, an
// image) from being read whole.
const MaxFileSize = 1 << 20

// Problem is one thing wrong with a policy file. Line and Column are 1-based;
// 0 means unknown (a problem with the file as a whole, or a YAML syntax error
// whose column the parser does not report).
type Problem struct {
	File    string
	Line    int
	Column  int
	Message string
}

// String formats p as "file:line:col: message", dropping the parts that are
// unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in a policy file, sorted by position.
type Error struct {
	Problems []Problem
	cause    error
}

// Error returns the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the I/O error behind a file problem (fs.ErrNotExist, ...),
// or nil.
func (e *Error) Unwrap() error { return e.cause }

func fileError(file, msg string, cause error) *Error {
	return &Error{Problems: []Problem{{File: file, Message: oneLine(msg)}}, cause: cause}
}

// oneLine escapes control characters, so that a message quoting the file
// (a path, a library's error text) stays on its line.
func oneLine(msg string) string {
	if strings.IndexFunc(msg, unicode.IsControl) < 0 {
		return msg
	}
	var b strings.Builder
	for _, r := range msg {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Load reads and parses the policy file at path. A file that cannot be used
// at all (missing, a directory, empty, larger than MaxFileSize, binary) gives
// an *Error with one problem naming the file; an invalid policy gives an
// *Error listing every problem.
func Load(path string) (*Policy, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fileError(path, FileProblem(err), err)
	}
	defer f.Close()
	data, err := readLimited(f)
	if err != nil {
		return nil, fileError(path, "read: "+err.Error(), err)
	}
	return Parse(path, data)
}

// FileProblem words an error opening a policy file for a one-line problem:
// "no such file", "permission denied", "is a named pipe (FIFO), not a
// regular file", ...
func FileProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, regfile.ErrNotRegular) {
		return pe.Err.Error() // "is a named pipe (FIFO), not a regular file"
	}
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// readLimited reads at most MaxFileSize+1 bytes, enough to tell that a file
// is too large without reading all of it.
func readLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, MaxFileSize+1))
}

// checkContent rejects data that cannot be a policy before YAML sees it.
func checkContent(data []byte) string {
	switch {
	case len(data) > MaxFileSize:
		return fmt.Sprintf("file is too large (over %d bytes); a policy is a small YAML file", MaxFileSize)
	case len(bytes.TrimSpace(data)) == 0:
		return "file is empty; a policy needs at least \"version: 1\""
	case bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data):
		return "file is binary, not YAML text"
	}
	return ""
}

// Parse parses and validates a policy. file names the policy in problems and
// anchors relative paths (lifecyclePolicyFile) at its directory.
func Parse(file string, data []byte) (*Policy, error) {
	if msg := checkContent(data); msg != "" {
		return nil, fileError(file, msg, nil)
	}
	d := &decoder{file: file, dir: filepath.Dir(file), keys: sections()}
	root, ok := d.document(data)
	if !ok {
		return nil, d.err()
	}
	p := d.policy(root)
	if err := d.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// decoder walks the YAML node tree, filling a Policy and collecting
// problems; it never stops at the first one.
type decoder struct {
	file     string
	dir      string
	keys     map[string][]string // sections()
	problems []Problem
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	p := Problem{File: d.file, Message: oneLine(fmt.Sprintf(format, args...))}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	sort.SliceStable(d.problems, func(i, j int) bool {
		a, b := d.problems[i], d.problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &Error{Problems: d.problems}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data as exactly one YAML document and returns its root.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case err == io.EOF:
		d.errorf(nil, "file holds no YAML document")
		return nil, false
	case err != nil:
		d.syntaxError(err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		d.syntaxError(err)
		return nil, false
	default:
		d.errorf(&next, "a policy file holds one YAML document; remove everything after the first \"---\" separator")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errorf(nil, "file holds no YAML document")
		return nil, false
	}
	return doc.Content[0], true
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.problems = append(d.problems, Problem{File: d.file, Line: line, Message: oneLine("invalid YAML: " + m[2])})
		return
	}
	d.problems = append(d.problems, Problem{File: d.file, Message: oneLine("invalid YAML: " + strings.TrimPrefix(msg, "yaml: "))})
}
