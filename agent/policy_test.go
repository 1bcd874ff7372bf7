package agent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/policysource"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
	"github.com/pullheal/pullheal/policy"
)

// The review event names the policy the heal decided with: an S3 policy's
// location, its ETag and the SHA-256 of its bytes.
func TestReviewNamesThePolicyInForce(t *testing.T) {
	b := newBed(t, scenario.Options{Desired: 1})
	ctx := context.Background()
	s3c := policysource.NewS3Client(b.srv.AWSConfig())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("policies")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("policies"), Key: aws.String("pullheal.yaml"),
		Body: strings.NewReader("version: 1\nheal:\n  serviceUpdate: propose\n")}); err != nil {
		t.Fatal(err)
	}
	loc, err := policysource.ParseLocation("s3://policies/pullheal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := policysource.ReaderFromConfig(b.srv.AWSConfig(), loc, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := b.options("r1")
	w, err := policysource.NewWatcher(r, snap, policysource.WatcherConfig{Accept: agent.ReloadCheck(o)})
	if err != nil {
		t.Fatal(err)
	}
	o.Policies = w
	stop := b.runAgents(t, o)
	defer stop()
	rv := b.waitReview(t, agent.DetailCorrected)
	if rv.Policy == nil || *rv.Policy != snap.Info || snap.Info.Version == "" || len(snap.Info.SHA256) != 64 {
		t.Fatalf("review policy = %+v, want %+v", rv.Policy, snap.Info)
	}
	if !strings.HasPrefix(rv.ServiceAction, "proposed") {
		t.Fatalf("the S3 policy's propose mode was not applied: %q", rv.ServiceAction)
	}
}

// flipping answers a different policy on every call, as a watcher could
// if reloads raced a heal.
type flipping struct {
	n    atomic.Int64
	snap [2]*policysource.Snapshot
}

func (f *flipping) Current() *policysource.Snapshot { return f.snap[f.n.Add(1)%2] }

// A heal decides with one snapshot: the review's policy and what the heal
// did (propose or update) always belong together.
func TestHealUsesOneSnapshot(t *testing.T) {
	for i := range 2 {
		b := newBed(t, scenario.Options{Desired: 1})
		propose, err := policy.Parse("propose.yaml", []byte("version: 1\nheal:\n  serviceUpdate: propose\n"))
		if err != nil {
			t.Fatal(err)
		}
		update, err := policy.Parse("update.yaml", []byte("version: 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		f := &flipping{snap: [2]*policysource.Snapshot{
			{Policy: propose, Info: policysource.Info{Source: "propose.yaml", Version: "1", SHA256: "a"}},
			{Policy: update, Info: policysource.Info{Source: "update.yaml", Version: "1", SHA256: "b"}},
		}}
		f.n.Store(int64(i))
		o := b.options("r1")
		o.Policies = f
		stop := b.runAgents(t, o)
		rv := b.waitReview(t, agent.DetailCorrected)
		stop()
		if rv.Policy == nil {
			t.Fatal("review has no policy")
		}
		proposed := strings.HasPrefix(rv.ServiceAction, "proposed")
		if proposed != (rv.Policy.Source == "propose.yaml") {
			t.Fatalf("review names %s but the service action is %q", rv.Policy.Source, rv.ServiceAction)
		}
	}
}

// ReloadCheck refuses what the agent reads only at startup.
func TestReloadCheck(t *testing.T) {
	parse := func(text string) *policy.Policy {
		p, err := policy.Parse("p.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := parse("version: 1\nregistry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n")
	otherRegistry := parse("version: 1\nregistry: 210987654321.dkr.ecr.us-east-1.amazonaws.com\n")
	declared := parse("version: 1\nregistry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\npullThrough:\n  source: declared\n  rules: []\n")
	denyMore := parse("version: 1\nregistry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\ndeny:\n  - match: docker.io/library/nginx\n    reason: no\n")
	check := agent.ReloadCheck(agent.Options{DiscoverRules: true})
	if err := check(base, denyMore); err != nil {
		t.Errorf("a deny rule added: %v", err)
	}
	if err := check(base, otherRegistry); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("registry changed: %v", err)
	}
	if err := check(base, declared); err == nil || !strings.Contains(err.Error(), "pullThrough.source") {
		t.Errorf("rule source changed: %v", err)
	}
	flag := agent.ReloadCheck(agent.Options{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com"})
	if err := flag(base, otherRegistry); err != nil {
		t.Errorf("--registry given, the policy's registry does not matter: %v", err)
	}
	if err := flag(base, declared); err != nil {
		t.Errorf("discovery off, the rule source does not change what the agent does at startup: %v", err)
	}
}
