//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
)

// The three policies a platform team publishes in turn: nginx held back,
// then released, then a broken edit.
const (
	policyDenyNginx = "version: 1\ndeny:\n  - match: docker.io/library/nginx\n    reason: held back by the platform team\n"
	policyAllowAll  = "# nginx released: everything goes through the pull-through cache.\nversion: 1\n"
	// policyBroken misspells "reason" (line 4, column 5) and so lacks it
	// (line 3, column 5).
	policyBroken = "version: 1\ndeny:\n  - match: docker.io/library/nginx\n    reasn: typo\n"
)

// reloadInterval is --policy-reload in these tests only: the default (1m)
// would make each test wait minutes for a change to be read. The reads are
// the same conditional reads; only their spacing differs.
const reloadInterval = time.Second

// policyStore is where a test publishes the agent's policy.
type policyStore struct {
	location string
	put      func(t *testing.T, body string) (version string)
}

func (b *bed) awsConfig() aws.Config {
	return aws.Config{
		Region:       b.env["AWS_REGION"],
		BaseEndpoint: aws.String(b.env["AWS_ENDPOINT_URL"]),
		Credentials:  credentials.NewStaticCredentialsProvider(b.env["AWS_ACCESS_KEY_ID"], b.env["AWS_SECRET_ACCESS_KEY"], ""),
	}
}

func s3Store(t *testing.T, b *bed) policyStore {
	c := policysource.NewS3Client(b.awsConfig())
	if _, err := c.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String("platform-policies")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return policyStore{location: "s3://platform-policies/pullheal/policy.yaml", put: func(t *testing.T, body string) string {
		out, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("platform-policies"), Key: aws.String("pullheal/policy.yaml"),
			Body: strings.NewReader(body), ContentType: aws.String("application/yaml")})
		if err != nil {
			t.Fatalf("put the policy: %v", err)
		}
		return strings.Trim(aws.ToString(out.ETag), `"`)
	}}
}

func ssmStore(t *testing.T, b *bed) policyStore {
	c := ssm.NewFromConfig(b.awsConfig())
	return policyStore{location: "ssm:/platform/pullheal/policy", put: func(t *testing.T, body string) string {
		out, err := c.PutParameter(ctxT(t), &ssm.PutParameterInput{Name: aws.String("/platform/pullheal/policy"), Value: aws.String(body),
			Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)})
		if err != nil {
			t.Fatalf("put the policy: %v", err)
		}
		return strconv.FormatInt(out.Version, 10)
	}}
}

func sha(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

func TestPolicyFromS3(t *testing.T) {
	t.Parallel()
	testPolicySource(t, s3Store)
}

func TestPolicyFromSSM(t *testing.T) {
	t.Parallel()
	testPolicySource(t, ssmStore)
}

// testPolicySource runs an agent on a policy kept in S3 or SSM: the policy
// decides (nginx denied), a released policy is picked up within the reload
// interval and heals the service, and a broken edit is refused with its
// position while the released policy stays in force.
func testPolicySource(t *testing.T, store func(*testing.T, *bed) policyStore) {
	b := newBed(t, bedConfig{exhaust: true})
	st := store(t, b)
	v1 := st.put(t, policyDenyNginx)
	b.waitQueued(t, 1)

	a := b.startPolicyAgent(t, st.location)
	started := a.WaitLog(t, 20*time.Second, "its start", func(l proctest.LogLine) bool { return l.Msg() == "agent started" })
	if started.Str("policy_source") != st.location || started.Str("policy_version") != v1 || started.Str("policy_sha256") != sha(policyDenyNginx) {
		t.Fatalf("startup log names policy %q version %q sha256 %q; want %s, %s, %s", started.Str("policy_source"),
			started.Str("policy_version"), started.Str("policy_sha256"), st.location, v1, sha(policyDenyNginx))
	}

	// The policy in force denies nginx: the failure is reported, not healed.
	eventually(t, healTimeout, "a skipped heal under the first policy", func() (bool, string) {
		for _, rv := range b.reviewsOf(t, agent.DetailSkipped) {
			if rv.Policy != nil && rv.Policy.SHA256 == sha(policyDenyNginx) && len(rv.Images) == 1 && rv.Images[0].Route == "deny" {
				if rv.Policy.Source != st.location || rv.Policy.Version != v1 {
					t.Fatalf("review names policy %+v, want %s version %s", rv.Policy, st.location, v1)
				}
				return true, ""
			}
		}
		return false, fmt.Sprintf("reviews so far: %+v", b.reviews)
	})
	if got := b.service(t).TaskDefinition; got != b.sc.TaskDefinitionArn {
		t.Fatalf("the service moved to %s while the policy denied nginx", got)
	}

	// Released: read within the reload interval (plus slack for a loaded
	// machine), then the next failures are healed under it.
	published := time.Now()
	v2 := st.put(t, policyAllowAll)
	reloaded := a.WaitLog(t, 20*time.Second, "the released policy", func(l proctest.LogLine) bool {
		return l.Msg() == "policy reloaded" && l.Str("sha256") == sha(policyAllowAll)
	})
	if took := time.Since(published); took > reloadInterval+5*time.Second {
		t.Errorf("the released policy was read %s after it was published, with --policy-reload %s", took, reloadInterval)
	}
	if reloaded.Str("version") != v2 || reloaded.Str("previous_sha256") != sha(policyDenyNginx) {
		t.Errorf("reload log %v: want version %s after %s", reloaded, v2, sha(policyDenyNginx))
	}
	healed := b.waitHealed(t)
	var rv *agent.Review
	for _, r := range b.reviewsOf(t, agent.DetailCorrected) {
		if r.TaskDefinitionArn == healed {
			rv = &r
		}
	}
	if rv == nil || rv.Policy == nil || *rv.Policy != (policysource.Info{Source: st.location, Version: v2, SHA256: sha(policyAllowAll)}) {
		t.Fatalf("corrected review %+v: want it to name %s version %s", rv, st.location, v2)
	}

	// Broken: refused with its position, counted; the released policy stays.
	st.put(t, policyBroken)
	warn := a.WaitLog(t, 20*time.Second, "the refusal of the broken policy", func(l proctest.LogLine) bool {
		return l["level"] == "WARN" && l.Msg() == "new policy refused; the policy in force stays"
	})
	if e := warn.Str("error"); !strings.Contains(e, st.location+":3:5: ") || !strings.Contains(e, st.location+":4:5: ") ||
		warn.Str("in_force_sha256") != sha(policyAllowAll) {
		t.Errorf("refusal %v: want both problems as %s:LINE:COLUMN and the released policy in force", warn, st.location)
	}
	if n := a.metric(t, "pullheal_policy_reload_failures_total", "reason", "invalid"); n < 1 {
		t.Errorf("pullheal_policy_reload_failures_total{reason=invalid} = %v", n)
	}
	if n := a.metric(t, "pullheal_policy_last_reload_successful"); n != 0 {
		t.Errorf("pullheal_policy_last_reload_successful = %v while the broken policy is published", n)
	}
	if n := a.metric(t, "pullheal_policy_info", "sha256", sha(policyAllowAll)); n != 1 {
		t.Errorf("pullheal_policy_info for the released policy = %v, want 1", n)
	}
	if n := a.metric(t, "pullheal_policy_info", "sha256", sha(policyBroken)); n != 0 {
		t.Errorf("pullheal_policy_info names the broken policy")
	}

	// A new failure is decided by the released policy, not the broken one.
	w, _ := b.addService(t, "api", "redis:7.2", 1)
	b.waitSteadyOn(t, w, "a corrected revision", func(arn string) bool { return strings.Contains(arn, "/api:") && !strings.HasSuffix(arn, ":1") })
	for _, r := range b.reviewsOf(t, agent.DetailCorrected) {
		if r.Service == "api" && (r.Policy == nil || r.Policy.SHA256 != sha(policyAllowAll)) {
			t.Errorf("heal of api decided under %+v, want the released policy", r.Policy)
		}
	}
	if code, body := a.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz %d %q with a broken policy published", code, body)
	}
}

// startPolicyAgent runs an agent reading its policy from location, with
// the short reload interval of these tests.
func (b *bed) startPolicyAgent(t *testing.T, location string) *agentProc {
	t.Helper()
	p := proctest.Start(t, "agent", binary, b.agentEnv(""), "agent", "--queue-url", b.sc.QueueURL, "--wait-time", waitTime,
		"--visibility", "5s", "--listen", "127.0.0.1:0", "--policy", location, "--policy-reload", reloadInterval.String())
	l := p.WaitLog(t, 20*time.Second, "its metrics address", func(l proctest.LogLine) bool { return l.Msg() == "serving metrics and health" })
	return &agentProc{Proc: p, metricsURL: "http://" + l.Str("address")}
}
