package hubsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseCatalogErrors feeds broken catalogues from testdata/catalogs and
// expects each to be refused with the error in its name's .err file.
func TestParseCatalogErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "catalogs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogues in testdata/catalogs (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseCatalog(string(data))
			if err == nil || err.Error() != strings.TrimSpace(string(want)) {
				t.Errorf("parseCatalog: %v\nwant %s", err, want)
			}
		})
	}
}

func TestEmbeddedCatalogParses(t *testing.T) {
	if _, err := parseCatalog(seedJSON); err != nil {
		t.Fatal(err)
	}
}

func TestFillerIsStable(t *testing.T) {
	a, b := filler("debian-base/amd64", 100), filler("debian-base/amd64", 100)
	if string(a) != string(b) || len(a) != 100 {
		t.Fatal("filler is not a function of its seed")
	}
	if string(filler("debian-base/arm64", 100)) == string(a) {
		t.Fatal("filler ignores its seed")
	}
	if got := filler("x", 0); len(got) != 0 {
		t.Fatalf("filler(x, 0) has %d bytes", len(got))
	}
}
