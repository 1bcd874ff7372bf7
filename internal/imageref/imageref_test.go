package imageref_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pullheal/pullheal/internal/imageref"
)

type refCase struct {
	In   string `json:"in"`
	Want *struct {
		Registry   string `json:"registry"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		Digest     string `json:"digest"`
		Kind       string `json:"kind"`
	} `json:"want"`
	Err string `json:"err"`
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRefs(t testing.TB) []refCase {
	var cases []refCase
	loadJSON(t, "testdata/refs.json", &cases)
	if len(cases) < 60 {
		t.Fatalf("testdata/refs.json has %d cases, want at least 60", len(cases))
	}
	return cases
}

func TestParse(t *testing.T) {
	for _, tc := range loadRefs(t) {
		t.Run(tc.In, func(t *testing.T) {
			got, err := imageref.Parse(tc.In)
			if tc.Want == nil {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error containing %q", tc.In, got, tc.Err)
				}
				if !errors.Is(err, imageref.ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tc.Err) {
					t.Errorf("error %q does not contain %q", err, tc.Err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q spans several lines", err)
				}
				if got != (imageref.Ref{}) {
					t.Errorf("Parse returned %+v with its error, want the zero Ref", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.In, err)
			}
			want := imageref.Ref{
				Registry:   tc.Want.Registry,
				Repository: tc.Want.Repository,
				Tag:        tc.Want.Tag,
				Digest:     tc.Want.Digest,
				Kind:       imageref.Kind(tc.Want.Kind),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.In, diff)
			}
			again, err := imageref.Parse(got.String())
			if err != nil {
				t.Fatalf("re-parse of %q: %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("re-parse of %q differs (-first +second):\n%s", got.String(), diff)
			}
		})
	}
}

func TestRefFormatting(t *testing.T) {
	const d = "sha256:9d0c4ddc3fa6b9f3c5b1a2e7d8f6041e2b7c9a0d1e3f5a6b7c8d9e0f1a2b3c4d"
	tests := []struct {
		in                  string
		str, name, familiar string
		nameRef             string
	}{
		{"nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx", "nginx:latest", "index.docker.io/library/nginx:latest"},
		{"index.docker.io/nginx:1.27@" + d, "docker.io/library/nginx:1.27@" + d, "docker.io/library/nginx", "nginx:1.27@" + d, "index.docker.io/library/nginx@" + d},
		{"bitnami/redis:7.2", "docker.io/bitnami/redis:7.2", "docker.io/bitnami/redis", "bitnami/redis:7.2", "index.docker.io/bitnami/redis:7.2"},
		{"library/a/b", "docker.io/library/a/b:latest", "docker.io/library/a/b", "library/a/b:latest", "index.docker.io/library/a/b:latest"},
		{"quay.io/org/app@" + d, "quay.io/org/app@" + d, "quay.io/org/app", "quay.io/org/app@" + d, "quay.io/org/app@" + d},
		{"localhost:5000/app:dev", "localhost:5000/app:dev", "localhost:5000/app", "localhost:5000/app:dev", "localhost:5000/app:dev"},
	}
	for _, tc := range tests {
		r, err := imageref.Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		nr, err := r.NameReference()
		if err != nil {
			t.Fatalf("%q: NameReference: %v", tc.in, err)
		}
		got := []string{r.String(), r.Name(), r.Familiar(), nr.Name()}
		want := []string{tc.str, tc.name, tc.familiar, tc.nameRef}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: String, Name, Familiar, NameReference mismatch (-want +got):\n%s", tc.in, diff)
		}
	}

	var zero imageref.Ref
	if !zero.IsZero() || zero.String() != "" || zero.Name() != "" || zero.Familiar() != "" {
		t.Errorf("zero Ref: IsZero %v, String %q, Name %q, Familiar %q", zero.IsZero(), zero.String(), zero.Name(), zero.Familiar())
	}
	if _, err := zero.NameReference(); !errors.Is(err, imageref.ErrInvalid) {
		t.Errorf("zero Ref NameReference error = %v, want ErrInvalid", err)
	}
}

func TestHosts(t *testing.T) {
	var cases []struct {
		Host      string `json:"host"`
		Canonical string `json:"canonical"`
		Kind      string `json:"kind"`
		Account   string `json:"account"`
		Region    string `json:"region"`
	}
	loadJSON(t, "testdata/hosts.json", &cases)
	type result struct {
		Canonical, Kind, Account, Region string
		ECR                              bool
	}
	for _, tc := range cases {
		account, region, ok := imageref.ECRHost(tc.Host)
		got := result{imageref.CanonicalHost(tc.Host), string(imageref.KindOf(tc.Host)), account, region, ok}
		want := result{tc.Canonical, tc.Kind, tc.Account, tc.Region, tc.Kind == string(imageref.ECRPrivate)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("host %q mismatch (-want +got):\n%s", tc.Host, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range loadRefs(f) {
		f.Add(tc.In)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := imageref.Parse(s)
		if err != nil {
			if !errors.Is(err, imageref.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			if r != (imageref.Ref{}) {
				t.Fatalf("Parse(%q) returned %+v with an error", s, r)
			}
			return
		}
		if r.Registry == "" || r.Repository == "" || r.Kind == "" || r.Tag == "" && r.Digest == "" {
			t.Fatalf("Parse(%q) = %+v: missing a field", s, r)
		}
		again, err := imageref.Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String %q does not parse: %v", s, r, r.String(), err)
		}
		if again != r {
			t.Fatalf("Parse(%q) = %+v, re-parse of %q = %+v", s, r, r.String(), again)
		}
		if _, err := r.NameReference(); err != nil {
			t.Fatalf("Parse(%q) = %+v, NameReference: %v", s, r, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	inputs := []string{
		"nginx:1.27",
		"registry-1.docker.io/bitnami/redis:7.2@sha256:9d0c4ddc3fa6b9f3c5b1a2e7d8f6041e2b7c9a0d1e3f5a6b7c8d9e0f1a2b3c4d",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27",
	}
	for _, in := range inputs {
		b.Run(in[:min(len(in), 30)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := imageref.Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
