package conformance_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/peers"
)

// Both sides run in one account and region, so ARNs compare as they are.
const (
	account = "123456789012"
	region  = "us-east-1"
)

var verbose = flag.Bool("conformance.v", false, "print every response of both sides")

// moto is started once for the package: it takes seconds to import its
// models, and Reset clears it between cases.
var moto *peers.Process

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "conformance-moto-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	moto, err = peers.StartMoto(context.Background(), dir)
	if err != nil {
		// No skip: the comparison is the point of this package.
		fmt.Fprintln(os.Stderr, "conformance: start moto:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	moto.Close()
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "conformance: moto's log is in", dir)
	}
	os.Exit(code)
}

// startTestBed starts the test bed in-process, as `pullheal local` does.
func startTestBed(t *testing.T) *localaws.Server {
	t.Helper()
	s, err := localaws.Start(context.Background(), localaws.Config{Account: account, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A conformance case: steps sent in order to both sides. Values a side
// returns (an ARN, a queue URL, a receipt handle) are saved under a name
// and spliced into later inputs as ${name}, each side its own.
type testCase struct {
	Doc   string `json:"doc"`
	Steps []step `json:"steps"`
}

type step struct {
	Call  string          `json:"call"` // service.Operation, e.g. ecs.RegisterTaskDefinition
	Input json.RawMessage `json:"input"`
	// Save maps a variable to a path in the output (tasks[0].taskArn).
	Save map[string]string `json:"save,omitempty"`
	// WantError is the error code AWS documents for this call; the test
	// bed must answer with it (moto's answer is compared as usual).
	WantError string `json:"wantError,omitempty"`
	// Until repeats the call (bounded) until the path has the value, for
	// documented asynchronous transitions (CREATING -> ACTIVE).
	Until *until `json:"until,omitempty"`
	// Unordered names lists (paths in the output) whose order AWS does
	// not define.
	Unordered []string `json:"unordered,omitempty"`
	// Compare false keeps a step out of the comparison (setup whose
	// response another case compares).
	Compare *bool `json:"compare,omitempty"`
}

type until struct {
	Path   string `json:"path"`
	Equals any    `json:"equals"`
}

// An allowlist entry: differences kept on purpose, who is right, and the
// AWS documentation that says so. One entry may name several members that
// share the reason.
type allowed struct {
	Case  string   `json:"case"`  // glob over case names
	Call  string   `json:"call"`  // glob over service.Operation
	Paths []string `json:"paths"` // * is any text within one member (a name, an index, tasks[0]), ** any run of members
	// When narrows the entry: "moto omits" (the test bed has a value, moto
	// none), "test bed omits", "differs" (both have a value) or "any".
	When  string `json:"when"`
	Right string `json:"right"`
	Doc   string `json:"doc"`
	Why   string `json:"why"`
	res   []*regexp.Regexp
	used  bool
}

var docURL = regexp.MustCompile(`^https://docs\.aws\.amazon\.com/\S+$`)

func loadAllowlist(t *testing.T) []*allowed {
	t.Helper()
	var list []*allowed
	readJSON(t, "testdata/allowlist.json", &list)
	for i, a := range list {
		if a.Case == "" || a.Call == "" || len(a.Paths) == 0 || a.Why == "" {
			t.Fatalf("allowlist entry %d needs case, call, paths and why", i)
		}
		if a.Right != "test bed" && a.Right != "moto" {
			t.Fatalf("allowlist entry %d: right is %q, want \"test bed\" or \"moto\"", i, a.Right)
		}
		if a.When != "moto omits" && a.When != "test bed omits" && a.When != "differs" && a.When != "any" {
			t.Fatalf("allowlist entry %d: when is %q, want \"moto omits\", \"test bed omits\", \"differs\" or \"any\"", i, a.When)
		}
		if !docURL.MatchString(a.Doc) {
			t.Fatalf("allowlist entry %d: doc %q is not an AWS documentation URL", i, a.Doc)
		}
		for _, p := range a.Paths {
			pat := regexp.QuoteMeta(p)
			pat = strings.ReplaceAll(pat, `\*\*`, `.*`)
			pat = strings.ReplaceAll(pat, `\*`, `[^.]*`)
			a.res = append(a.res, regexp.MustCompile("^"+pat+"$"))
		}
	}
	return list
}

// covers reports whether the entry names the difference.
func (a *allowed) covers(caseName, call string, d difference) bool {
	okCase, _ := path.Match(a.Case, caseName)
	okCall, _ := path.Match(a.Call, call)
	if !okCase || !okCall {
		return false
	}
	switch {
	case a.When == "moto omits" && !(empty(d.Moto) && !empty(d.TestBed)),
		a.When == "test bed omits" && !(empty(d.TestBed) && !empty(d.Moto)),
		a.When == "differs" && (empty(d.TestBed) || empty(d.Moto)):
		return false
	}
	for _, re := range a.res {
		if re.MatchString(d.Path) {
			return true
		}
	}
	return false
}

// TestConformance runs every case in testdata/cases against the test bed
// and moto and fails on a difference the allowlist does not name, and on an
// allowlist entry that no longer matches anything (it must then go).
func TestConformance(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata/cases (%v)", err)
	}
	allow := loadAllowlist(t)
	ran := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			ran[name] = true
			var c testCase
			readJSON(t, file, &c)
			runCase(t, name, c, allow)
		})
	}
	for _, a := range allow {
		matched := false
		for name := range ran {
			ok, _ := path.Match(a.Case, name)
			matched = matched || ok
		}
		// An entry is stale only if its cases ran (go test -run may
		// have picked a few).
		if matched && !a.used {
			t.Errorf("allowlist: %s %s %v matches no difference any more; remove it", a.Case, a.Call, a.Paths)
		}
	}
}

func runCase(t *testing.T, name string, c testCase, allow []*allowed) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	bed := startTestBed(t)
	sides := []*target{newTarget("test bed", bed.APIURL(), region), newTarget("moto", moto.URL, region)}
	// Idle keep-alive connections would hold the test bed's Close for a
	// second; cleanups run last-in first-out, so this runs before it.
	t.Cleanup(func() {
		for _, s := range sides {
			s.last.client.CloseIdleConnections()
		}
	})
	// awsvpc inputs name a subnet and a security group: moto checks them
	// against its EC2 (whose default VPC it builds on first use, which
	// takes a while), the test bed takes any well-formed id.
	vars := []map[string]string{{}, {}}
	if usesNetwork(c) {
		subnet, group, err := motoNetwork(ctx, moto.URL)
		if err != nil {
			t.Fatal(err)
		}
		vars[0]["subnet"], vars[0]["securityGroup"] = "subnet-0a1b2c3d4e5f60718", "sg-0a1b2c3d4e5f60718"
		vars[1]["subnet"], vars[1]["securityGroup"] = subnet, group
	}
	for i, st := range c.Steps {
		service, op, ok := strings.Cut(st.Call, ".")
		if !ok {
			t.Fatalf("step %d: call %q is not service.Operation", i, st.Call)
		}
		var res [2]result
		for s, side := range sides {
			input, err := expand(st.Input, vars[s])
			if err != nil {
				t.Fatalf("step %d %s (%s): %v", i, st.Call, side.name, err)
			}
			res[s], err = callUntil(ctx, side, service, op, input, st.Until)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if s == 0 && res[s].Error == "" {
				bad, err := checkShape(service, op, res[s].Output)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range bad {
					t.Errorf("step %d %s: the test bed's response does not fit botocore's model: %s", i, st.Call, b)
				}
			}
			if s == 0 && st.WantError != "" && res[s].Error != st.WantError {
				t.Errorf("step %d %s: %s answered %s, AWS documents %s", i, st.Call, side.name, brief(res[s]), st.WantError)
			}
			for v, path := range st.Save {
				got, ok := lookup(res[s].Output, path)
				str, isStr := got.(string)
				if !ok || !isStr {
					t.Fatalf("step %d %s: %s's output has no string at %s: %s", i, st.Call, side.name, path, brief(res[s]))
				}
				vars[s][v] = str
			}
			if res[s].Undecodable {
				t.Logf("step %d %s: the SDK could not decode %s's response: %v", i, st.Call, side.name, res[s].sdkErr)
			}
			if *verbose {
				t.Logf("step %d %s %s: %s", i, st.Call, side.name, brief(res[s]))
			}
		}
		if st.Compare != nil && !*st.Compare {
			continue
		}
		var diffs []difference
		a := normalize(toPlain(res[0]), sides[0].endpoint)
		b := normalize(toPlain(res[1]), sides[1].endpoint)
		for _, v := range []any{a, b} {
			var paths []string
			for _, p := range st.Unordered {
				paths = append(paths, "output."+p)
			}
			sortUnordered(v, paths)
		}
		compare("", a, b, &diffs)
		for _, d := range diffs {
			covered := false
			for _, al := range allow {
				if al.covers(name, st.Call, d) {
					al.used, covered = true, true
				}
			}
			if !covered {
				t.Errorf("step %d %s: %s", i, st.Call, d)
			}
		}
	}
}

func usesNetwork(c testCase) bool {
	for _, st := range c.Steps {
		if strings.Contains(string(st.Input), "${subnet}") || strings.Contains(string(st.Input), "${securityGroup}") {
			return true
		}
	}
	return false
}

func toPlain(r result) any {
	if r.Error != "" {
		return map[string]any{"error": r.Error}
	}
	out := map[string]any{"output": r.Output}
	if r.Undecodable {
		out["undecodable"] = true
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

func expand(input json.RawMessage, vars map[string]string) (json.RawMessage, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(string(input), func(ref string) string {
		v, ok := vars[ref[2:len(ref)-1]]
		if !ok {
			missing = append(missing, ref)
			return ref
		}
		b, _ := json.Marshal(v)
		return string(b[1 : len(b)-1])
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("undefined %s", strings.Join(missing, ", "))
	}
	return json.RawMessage(out), nil
}

func callUntil(ctx context.Context, side *target, service, op string, input json.RawMessage, u *until) (result, error) {
	const tries = 50
	for i := 0; ; i++ {
		res, err := side.call(ctx, service, op, input)
		if err != nil || u == nil {
			return res, err
		}
		if got, ok := lookup(res.Output, u.Path); ok && fmt.Sprint(got) == fmt.Sprint(u.Equals) {
			return res, nil
		}
		if i == tries {
			return res, fmt.Errorf("%s %s.%s: %s never became %v in %d tries: %s", side.name, service, op, u.Path, u.Equals, tries, brief(res))
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// motoNetwork reads the ids of a subnet and of the security group of
// moto's default VPC through EC2's query API (the SDK's EC2 client is not
// worth a dependency for two look-ups).
func motoNetwork(ctx context.Context, endpoint string) (subnet, group string, err error) {
	read := func(action, tag string) (string, error) {
		form := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// moto reads the region from the credential scope.
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIACONFORMANCE00000/20250101/"+region+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("moto ec2 %s: %w", action, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		m := regexp.MustCompile("<" + tag + ">([^<]+)</" + tag + ">").FindSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("moto ec2 %s: no %s in %.200s", action, tag, body)
		}
		return string(m[1]), nil
	}
	if subnet, err = read("DescribeSubnets", "subnetId"); err != nil {
		return "", "", err
	}
	group, err = read("DescribeSecurityGroups", "groupId")
	return subnet, group, err
}
