package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// Customization instructions.
const (
	CustomizeVolume = "VOLUME"
	CustomizeEnv    = "ENV"
	CustomizeDir    = "DIR"
)

// DefaultDirMode is the mode of a DIR line that gives none.
const DefaultDirMode fs.FileMode = 0o755

// Customization is one parsed customisation line.
type Customization struct {
	// Instruction is VOLUME, ENV or DIR.
	Instruction string
	// Paths are the volume paths (VOLUME) or the one directory (DIR):
	// absolute and clean.
	Paths []string
	// Key and Value are the variable (ENV).
	Key, Value string
	// Mode is the directory's mode (DIR), permission and
	// setuid/setgid/sticky bits.
	Mode fs.FileMode
}

// ParseCustomization parses a customisation line, a Dockerfile-like subset:
//
//	VOLUME /data [/more ...]   declare volumes
//	ENV KEY=value              set one variable; quote a value with spaces: ENV A="x y"
//	DIR /path [MODE]           create a directory, MODE octal (0750), default 0755
//
// Instructions are case-insensitive, as in a Dockerfile. Words split on
// spaces; '...' and "..." quote, and a backslash escapes the next character
// outside single quotes. A line says one thing: ENV sets one variable.
func ParseCustomization(line string) (Customization, error) {
	words, err := splitWords(line)
	if err != nil {
		return Customization{}, err
	}
	if len(words) == 0 {
		return Customization{}, errors.New("empty customisation line")
	}
	c := Customization{Instruction: strings.ToUpper(words[0])}
	args := words[1:]
	switch c.Instruction {
	case CustomizeVolume:
		if len(args) == 0 {
			return c, errors.New("VOLUME needs at least one absolute path")
		}
		if strings.HasPrefix(args[0], "[") {
			return c, errors.New("VOLUME takes paths separated by spaces, not a JSON list")
		}
		for _, p := range args {
			if err := checkAbsPath(p); err != nil {
				return c, fmt.Errorf("VOLUME %w", err)
			}
		}
		c.Paths = args
	case CustomizeEnv:
		if len(args) != 1 {
			return c, fmt.Errorf("ENV takes one KEY=value (got %d words); quote a value with spaces and write one line per variable", len(args))
		}
		k, v, ok := strings.Cut(args[0], "=")
		if !ok {
			return c, fmt.Errorf("ENV %q: want KEY=value", args[0])
		}
		if !isEnvKey(k) {
			return c, fmt.Errorf("ENV: %q is not a variable name (letters, digits and _, not starting with a digit)", k)
		}
		c.Key, c.Value = k, v
	case CustomizeDir:
		if len(args) < 1 || len(args) > 2 {
			return c, errors.New("DIR takes an absolute path and an optional octal mode: DIR /data 0750")
		}
		if err := checkAbsPath(args[0]); err != nil {
			return c, fmt.Errorf("DIR %w", err)
		}
		c.Paths, c.Mode = args[:1], DefaultDirMode
		if len(args) == 2 {
			m, err := parseMode(args[1])
			if err != nil {
				return c, fmt.Errorf("DIR %s: %w", args[0], err)
			}
			c.Mode = m
		}
	default:
		return c, fmt.Errorf("unknown instruction %q (want VOLUME, ENV or DIR)", words[0])
	}
	return c, nil
}

func checkAbsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must be absolute", p)
	case p == "/":
		return errors.New("path must not be / itself")
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, path.Clean(p))
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return fmt.Errorf("path %q has a control character", p)
		}
	}
	return nil
}

func isEnvKey(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func parseMode(s string) (fs.FileMode, error) {
	if len(s) < 3 || len(s) > 4 || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("mode %q: want 3 or 4 octal digits (0750)", s)
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("mode %q: %w", s, err)
	}
	// An image mirrored for a whole fleet must not gain privilege bits
	// from a policy line: setuid/setgid directories and sticky ones are
	// refused rather than silently dropped.
	if n&0o7000 != 0 {
		return 0, fmt.Errorf("mode %q sets setuid, setgid or sticky bits; give permission bits only (0750)", s)
	}
	return fs.FileMode(n), nil
}

// splitWords splits a line into words the way a shell would for the simple
// cases a customisation line has: spaces separate, quotes group, a backslash
// escapes.
func splitWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune // the open quote, or 0
	)
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case r == unicode.ReplacementChar:
			return nil, errors.New("line is not valid UTF-8")
		case unicode.IsControl(r) && r != '\t':
			return nil, fmt.Errorf("control character %q in line", r)
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			if i+1 == len(runes) {
				return nil, errors.New("line ends with a lone backslash")
			}
			i++
			// An escape does not let through what the line may not hold.
			if e := runes[i]; e == unicode.ReplacementChar || unicode.IsControl(e) && e != '\t' {
				return nil, fmt.Errorf("escaped character %q is not allowed", e)
			}
			cur.WriteRune(runes[i])
			in = true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
