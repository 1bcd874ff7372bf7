package wire

import (
	"regexp"
	"sync"
)

// Pattern is a regular expression compiled on first use. AWS's name
// patterns bound their lengths ({1,255}), which compile to programs with a
// state per repetition; compiled at package init, the stand-ins' patterns
// cost every start of the pullheal binary, whatever the command, about
// 2 MB of allocations and a garbage collection.
type Pattern struct {
	expr string
	re   func() *regexp.Regexp
}

// NewPattern returns expr, to be compiled (and checked: an invalid
// expression panics, as regexp.MustCompile does) when first matched.
func NewPattern(expr string) *Pattern {
	return &Pattern{expr: expr, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString reports whether s matches the pattern.
func (p *Pattern) MatchString(s string) bool { return p.re().MatchString(s) }

// String returns the expression.
func (p *Pattern) String() string { return p.expr }
