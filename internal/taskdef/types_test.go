package taskdef_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullheal/pullheal/internal/taskdef"
)

// TestCheckTypes: a member the ECS API models, with a JSON type or range
// RegisterTaskDefinition (and the AWS CLI) refuses, is reported with its
// line, column and path; members the SDK does not model and null members
// are left alone, as the CLI path keeps them. Every other fixture of the
// package passes.
func TestCheckTypes(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"types-task-cpu-number.json", "invalid task definition: line 5, column 10: cpu: want a string, found number 512"},
		{"types-essential-string.json", `invalid task definition: line 8, column 64: containerDefinitions[1].essential: want true or false, found string "yes"`},
		{"types-memory-string.json", `invalid task definition: line 7, column 17: containerDefinitions[0].memory: want an integer, found string "512"`},
		{"types-ulimit-overflow.json", "invalid task definition: line 10, column 59: containerDefinitions[0].ulimits[1].hardLimit: want an integer from -2147483648 to 2147483647, found 9223372036854775807"},
		{"types-port-mappings-object.json", "invalid task definition: line 8, column 23: containerDefinitions[0].portMappings: want an array, found an object"},
		{"types-docker-label-number.json", "invalid task definition: line 8, column 81: containerDefinitions[0].dockerLabels.com.example.tier: want a string, found number 2"},
		{"types-newer-fields-and-nulls.json", ""},
	}
	checked := map[string]bool{}
	for _, tt := range tests {
		checked[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			in := readFile(t, tt.file)
			doc, err := taskdef.Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			before, _ := doc.Encode()
			err = doc.CheckTypes()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckTypes: %v, want nil", err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("CheckTypes: nil, want %s", tt.want)
			case err.Error() != tt.want:
				t.Errorf("CheckTypes:\n got %v\nwant %s", err, tt.want)
			case !errors.Is(err, taskdef.ErrInvalid):
				t.Errorf("CheckTypes: %v does not wrap ErrInvalid", err)
			case strings.Contains(err.Error(), "\n"):
				t.Errorf("error spans lines: %q", err)
			}
			if after, _ := doc.Encode(); !bytes.Equal(before, after) {
				t.Errorf("CheckTypes changed the document")
			}
		})
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if checked[name] || strings.HasPrefix(name, "tags-51-") { // Decode refuses those
			continue
		}
		t.Run(name, func(t *testing.T) {
			doc, err := taskdef.Decode(readFile(t, name))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := doc.CheckTypes(); err != nil {
				t.Errorf("CheckTypes: %v, want nil for a task definition ECS described or accepts", err)
			}
		})
	}
}
