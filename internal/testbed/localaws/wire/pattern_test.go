package wire

import (
	"strings"
	"testing"
)

func TestPatternMatchesAsCompiled(t *testing.T) {
	p := NewPattern(`^[a-zA-Z0-9_-]{1,255}$`)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"web", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{"a b", false},
	} {
		if got := p.MatchString(tc.in); got != tc.want {
			t.Errorf("MatchString(%.20q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if p.String() != `^[a-zA-Z0-9_-]{1,255}$` {
		t.Errorf("String() = %q", p.String())
	}
}

func TestPatternPanicsOnFirstUseWhenInvalid(t *testing.T) {
	p := NewPattern(`[`)
	defer func() {
		if recover() == nil {
			t.Error("an invalid expression matched without panicking")
		}
	}()
	p.MatchString("x")
}
