package taskdef_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// FuzzDecode: no input panics, every error is a one-line ErrInvalid, and a
// decoded document encodes to a fixed point with nothing lost.
func FuzzDecode(f *testing.F) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range inputs {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"family":"f","containerDefinitions":[{"name":"a","image":"b"}]}`,
		`{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"b","cpu":1e400}]},"tags":[{"key":"aws:x"}]}`,
		`{"family":"\ud800","containerDefinitions":[{"name":"\u00e9","image":"b","x":{"y":[1,-0.5e-3,"\""]}}]}`,
		`{"family":"f","containerDefinitions":[{"name":"a","image":"b"}],"tags":[{"key":"k","value":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := taskdef.Decode(data)
		if err != nil {
			if !errors.Is(err, taskdef.ErrInvalid) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error: %q", err)
			}
			return
		}
		out, err := doc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := taskdef.Decode(out)
		if err != nil {
			t.Fatalf("re-decoding our own output: %v\n%s", err, out)
		}
		out2, err := again.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not a fixed point:\n%s\n---\n%s", out, out2)
		}
		if d := taskdef.Diff(doc, again); d != "" {
			t.Fatalf("Diff after a round trip: %s", d)
		}
		images := map[string]string{}
		for _, c := range doc.Containers() {
			images[c.Name] = c.Image + "@sha256:0"
		}
		rewritten, err := doc.WithImages(images)
		if err != nil {
			t.Fatalf("WithImages with the document's own names: %v", err)
		}
		rewritten = rewritten.WithTags(taskdef.Provenance{Reason: string(data), SourceArn: doc.SourceArn()}.Tags()...)
		_ = taskdef.Diff(doc, rewritten)
		_, _ = rewritten.RegisterInput()
		_ = taskdef.GenerationOf(rewritten.Tags())
	})
}
