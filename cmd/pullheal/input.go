package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/regfile"
)

// maxInput bounds what a command reads from one file: an event, a task
// definition or a policy is kilobytes; anything near this is not one.
const maxInput = 8 << 20

// readInput reads a file named on the command line ("-" is stdin), with the
// checks that turn every unreadable input into one line that names it.
func readInput(path string, stdin io.Reader) ([]byte, string, error) {
	name := path
	var r io.Reader
	switch path {
	case "":
		return nil, "", inputErrorf("no input file given")
	case "-":
		name = "<stdin>"
		r = stdin
	default:
		f, err := regfile.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, name, inputErrorf("%s: no such file", path)
			}
			return nil, name, inputErrorf("%s: %v", path, unwrapPathError(err))
		}
		if st, err := f.Stat(); err == nil && st.Size() > maxInput {
			f.Close()
			return nil, name, inputErrorf("%s: file is %d bytes, larger than the %d-byte limit", path, st.Size(), maxInput)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, name, inputErrorf("%s: read: %v", name, err)
	}
	if len(data) > maxInput {
		return nil, name, inputErrorf("%s: input is larger than the %d-byte limit", name, maxInput)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, name, inputErrorf("%s: file is empty", name)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, name, inputErrorf("%s: binary data (NUL byte at offset %d), not text", name, bytes.IndexByte(data, 0))
	}
	return data, name, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// inputFileError reports an error about a named input: one line, exit code 2.
func inputFileError(name string, err error) error {
	return inputErrorf("%s: %v", name, err)
}

// outputFormat reads the --output flag: json or text.
func outputFormat(c *cli.Context) (string, error) {
	format := c.String("output")
	if format != "json" && format != "text" {
		return "", inputErrorf("--output %q: want json or text", format)
	}
	return format, nil
}

// writeJSON prints v indented, with <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
