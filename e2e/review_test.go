//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/review"
	"github.com/pullheal/pullheal/internal/testbed/fleetbed"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/proctest"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// cli runs one pullheal command against the test bed and returns its exit
// code and output.
func (b *bed) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(proctest.HermeticEnv(), b.agentEnv("")...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pullheal %s: %v", args[0], err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("pullheal %s did not finish within 60s", strings.Join(args, " "))
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// mustCLI runs a command that must succeed.
func (b *bed) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := b.cli(t, args...)
	if code != 0 {
		t.Fatalf("pullheal %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// refused runs a command a guard must refuse: exit 1, one line, naming why.
func (b *bed) refused(t *testing.T, want string, args ...string) {
	t.Helper()
	code, out, errOut := b.cli(t, args...)
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	if code != 1 || len(lines) != 1 || !strings.Contains(errOut, want) || out != "" {
		t.Errorf("pullheal %s: exit %d, stdout %q, stderr %q; want exit 1 and one line saying %q",
			strings.Join(args, " "), code, out, errOut, want)
	}
}

func (b *bed) listRevisions(t *testing.T, args ...string) []review.Revision {
	t.Helper()
	out := b.mustCLI(t, append([]string{"revisions", "--output", "json"}, args...)...)
	var got struct {
		Revisions []review.Revision `json:"revisions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("revisions --output json: %v\n%s", err, out)
	}
	return got.Revisions
}

// statusOf is the one generated revision's status for prod/web.
func (b *bed) statusOf(t *testing.T, arn string) string {
	t.Helper()
	for _, r := range b.listRevisions(t, "--cluster", b.sc.Cluster) {
		if r.TaskDefinitionArn != arn {
			continue
		}
		for _, s := range r.Services {
			if s.Cluster == b.sc.Cluster && s.Service == b.sc.Service {
				return s.Status
			}
		}
		return "(not listed for the service)"
	}
	return "(revision not listed)"
}

func fitsWidth(t *testing.T, what, text string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("%s: a line is %d columns, over 100: %q", what, n, l)
		}
	}
}

// TestRevertThenAgentProposes: after a heal, revisions lists the
// corrected revision as deployed; revert rolls the service back and tags
// it; an agent that meets the same failure again proposes the revision
// instead of rolling it out.
func TestRevertThenAgentProposes(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true})
	b.waitQueued(t, 1)
	a := b.startAgent(t, "agent", agentConfig{})
	healed := b.waitHealed(t)
	b.waitDrained(t)

	revs := b.listRevisions(t)
	if len(revs) != 1 {
		t.Fatalf("revisions lists %d, want the one heal: %+v", len(revs), revs)
	}
	r := revs[0]
	wantImage := review.Image{Container: "web", From: "nginx:1.27", To: b.registry + "/docker-hub/library/nginx:1.27", Route: "pull-through"}
	if r.TaskDefinitionArn != healed || r.SourceTaskDefinitionArn != b.sc.TaskDefinitionArn || r.Generation != 1 || r.RewriteID == "" ||
		len(r.Images) != 1 || r.Images[0] != wantImage || len(r.Services) != 1 || r.Services[0].Status != review.Deployed {
		t.Errorf("listed %+v, want %s deployed on prod/web with image %+v", r, healed, wantImage)
	}
	text := b.mustCLI(t, "revisions", "--diff")
	fitsWidth(t, "revisions --diff", text)
	if !strings.Contains(text, "deployed    prod/web") || !strings.Contains(text, `container "web" image: nginx:1.27 ->`) {
		t.Errorf("revisions --diff text lacks the status or the diff:\n%s", text)
	}

	// The agent is stopped so that the next failure meets a fresh one,
	// which (unlike the running one) has not seen it as a duplicate.
	a.Kill()
	out := b.mustCLI(t, "revert", "--cluster", b.sc.Cluster, "--service", b.sc.Service)
	if !strings.Contains(out, "reverted: prod/web") {
		t.Errorf("revert printed %q", out)
	}
	if got := b.service(t).TaskDefinition; got != b.sc.TaskDefinitionArn {
		t.Fatalf("after revert the service runs %s, want %s", got, b.sc.TaskDefinitionArn)
	}
	if tags := tagMap(b.describe(t, healed).Tags); tags[agent.TagReverted] != "prod/web" {
		t.Errorf("corrected revision's tags %v, want %s=prod/web", tags, agent.TagReverted)
	}
	if got := b.statusOf(t, healed); got != review.Reverted {
		t.Errorf("status after revert %q, want reverted", got)
	}
	b.refused(t, "which pullheal did not generate", "revert", "--cluster", b.sc.Cluster, "--service", b.sc.Service)
	if got := len(b.reviewsOf(t, review.DetailReverted)); got != 1 {
		t.Errorf("%d %q review events, want 1", got, review.DetailReverted)
	}

	// The source fails again on Docker Hub's limit; the new agent proposes.
	before := len(b.reviewsOf(t, agent.DetailCorrected))
	b.startAgent(t, "agent-2", agentConfig{})
	var proposal agent.Review
	eventually(t, healTimeout, "a proposal for the reverted revision", func() (bool, string) {
		all := b.reviewsOf(t, agent.DetailCorrected)
		for _, rv := range all[before:] {
			proposal = rv
			return true, ""
		}
		return false, fmt.Sprintf("%d correction reviews so far", len(all))
	})
	if proposal.ServiceUpdated || proposal.TaskDefinitionArn != healed || !strings.HasPrefix(proposal.ServiceAction, "proposed:") ||
		!strings.Contains(proposal.ServiceAction, "reverted") {
		t.Errorf("review after the revert %+v: want the reverted revision proposed, the service not updated", proposal)
	}
	time.Sleep(time.Second) // an update, had there been one, would show by now
	if got := b.service(t).TaskDefinition; got != b.sc.TaskDefinitionArn {
		t.Errorf("the agent moved the reverted service to %s", got)
	}
	if got := b.correctedRevisions(t); len(got) != 1 {
		t.Errorf("corrected revisions %v, want still only %s", got, healed)
	}
}

// TestProposedThenApproved: a propose-mode heal is listed as proposed;
// approve deploys it; the guards refuse once the service has moved on.
func TestProposedThenApproved(t *testing.T) {
	t.Parallel()
	b := newBed(t, bedConfig{exhaust: true})
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\nheal:\n  serviceUpdate: propose\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.waitQueued(t, 1)
	p := proctest.Start(t, "agent", binary, append(b.agentEnv(""), "PULLHEAL_POLICY="+pol), "agent", "--queue-url", b.sc.QueueURL,
		"--wait-time", waitTime, "--visibility", "5s", "--listen", "127.0.0.1:0")
	p.WaitLog(t, 20*time.Second, "its metrics address", func(l proctest.LogLine) bool { return l.Msg() == "serving metrics and health" })
	var proposed string
	eventually(t, healTimeout, "a proposed revision", func() (bool, string) {
		for _, rv := range b.reviewsOf(t, agent.DetailCorrected) {
			proposed = rv.TaskDefinitionArn
			return !rv.ServiceUpdated, fmt.Sprintf("%+v", rv)
		}
		return false, "no correction review yet"
	})
	if got := b.statusOf(t, proposed); got != review.Proposed {
		t.Errorf("status of %s: %q, want proposed", proposed, got)
	}

	out := b.mustCLI(t, "approve", "--cluster", b.sc.Cluster, "--service", b.sc.Service)
	if !strings.Contains(out, proposed) {
		t.Errorf("approve printed %q, want it to name %s", out, proposed)
	}
	if got := b.waitHealed(t); got != proposed {
		t.Fatalf("after approve the service is steady on %s, want %s", got, proposed)
	}
	if got := b.statusOf(t, proposed); got != review.Deployed {
		t.Errorf("status after approve %q, want deployed", got)
	}
	approved := b.reviewsOf(t, review.DetailApproved)
	if len(approved) != 1 || approved[0].TaskDefinitionArn != proposed || approved[0].SourceTaskDefinitionArn != b.sc.TaskDefinitionArn {
		t.Errorf("%q review events %+v, want one for %s", review.DetailApproved, approved, proposed)
	}
	b.refused(t, "already runs", "approve", "--cluster", b.sc.Cluster, "--service", b.sc.Service, proposed)

	// The service moves on (its owners deploy a new revision): both
	// commands refuse and change nothing.
	w := b.workload(b.sc.Service)
	w.Image = "nginx:1.26"
	td, err := b.c.ECS.RegisterTaskDefinition(ctxT(t), w.TaskDefinition())
	if err != nil {
		t.Fatal(err)
	}
	next := aws.ToString(td.TaskDefinition.TaskDefinitionArn)
	if _, err := b.c.ECS.UpdateService(ctxT(t), &ecs.UpdateServiceInput{Cluster: aws.String(b.sc.Cluster), Service: aws.String(b.sc.Service), TaskDefinition: aws.String(next)}); err != nil {
		t.Fatal(err)
	}
	b.refused(t, "moved on", "approve", "--cluster", b.sc.Cluster, "--service", b.sc.Service, proposed)
	b.refused(t, "which pullheal did not generate", "revert", "--cluster", b.sc.Cluster, "--service", b.sc.Service)
	if got := b.service(t).TaskDefinition; got != next {
		t.Errorf("a refused command moved the service to %s", got)
	}
	if got := b.statusOf(t, proposed); got != review.Drift {
		t.Errorf("status after a redeploy of a Docker Hub image %q, want drift", got)
	}

	// Bad input exits 2 with one line.
	for _, args := range [][]string{
		{"approve", "--cluster", "nope", "--service", b.sc.Service},
		{"approve", "--cluster", b.sc.Cluster, "--service", "nope"},
		{"approve", "--cluster", b.sc.Cluster, "--service", b.sc.Service, b.sc.TaskDefinitionArn},
		{"revert", "--cluster", b.sc.Cluster},
		{"revisions", "--cluster", "nope"},
	} {
		code, _, errOut := b.cli(t, args...)
		if code != 2 || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("pullheal %s: exit %d, stderr %q; want exit 2 and one line", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestScanFleet scans 200 services in 10 clusters with an image from every
// kind of registry, then registers the corrected revisions, once.
func TestScanFleet(t *testing.T) {
	t.Parallel()
	// The scheduler idles: a scan reads services and task definitions only.
	p := proctest.Start(t, "pullheal local", binary, nil, "local", "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0",
		"--hub-listen", "127.0.0.1:0", "--tick", "1h")
	env := waitEnv(t, p)
	b := &bed{t: t, local: p, env: env}
	eps, err := hostmap.Parse(env["PULLHEAL_REGISTRY_ENDPOINTS"])
	if err != nil {
		t.Fatal(err)
	}
	for host := range eps {
		if strings.Contains(host, ".dkr.ecr.") {
			b.registry = host
		}
	}
	b.c = scenario.NewClients(aws.Config{Region: env["AWS_REGION"], BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL"]),
		Credentials: staticCreds(env)})
	sc, err := scenario.Setup(ctxT(t), b.c, scenario.Options{NoService: true, HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	if err != nil {
		t.Fatal(err)
	}
	b.sc = sc
	ref, err := name.ParseReference("docker.io/library/nginx:1.27")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctxT(t)), remote.WithTransport(eps.Transport(http.DefaultTransport)))
	if err != nil {
		t.Fatalf("HEAD nginx:1.27 on the hub: %v", err)
	}
	fams, want := fleetbed.Mixed(b.registry, desc.Digest.String())
	fl, err := fleetbed.Build(ctxT(t), b.c.ECS, fleetbed.Spec{Prefix: "team", Clusters: 10, Services: 200, Families: fams,
		Desired: func(i int) int32 { return int32(1 + i%3) }})
	if err != nil {
		t.Fatal(err)
	}
	clusterArgs := []string{}
	for _, c := range fl.Clusters {
		clusterArgs = append(clusterArgs, "--cluster", c)
	}
	scan := func(extra ...string) fleet.Report {
		t.Helper()
		out := b.mustCLI(t, append(append([]string{"scan", "--output", "json"}, clusterArgs...), extra...)...)
		var rep fleet.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("scan --output json: %v\n%.500s", err, out)
		}
		return rep
	}
	rep := scan()
	if len(rep.Services) != 200 {
		t.Fatalf("scan reported %d services, want 200", len(rep.Services))
	}
	byName := map[string]fleetbed.Service{}
	for _, s := range fl.Services {
		byName[s.Cluster+"/"+s.Name] = s
	}
	pulls := 0
	for _, got := range rep.Services {
		s := byName[got.Cluster+"/"+got.Service]
		exp := want[s.Family.Name]
		if len(got.Containers) != len(exp) {
			t.Errorf("%s/%s (%s): %d containers, want %d", got.Cluster, got.Service, s.Family.Name, len(got.Containers), len(exp))
			continue
		}
		limited := 0
		for i, c := range got.Containers {
			e := exp[i]
			if c.Name != e.Container || c.RateLimited != e.RateLimited || c.Route != e.Route || c.Target != e.Target {
				t.Errorf("%s/%s (%s) container %s: %+v, want %+v", got.Cluster, got.Service, s.Family.Name, c.Name, c, e)
			}
			if c.RateLimited {
				limited++
			}
		}
		if got.Pulls != int(s.Desired)*limited || got.DesiredCount != s.Desired {
			t.Errorf("%s/%s: %d pulls at desired %d, want %d", got.Cluster, got.Service, got.Pulls, got.DesiredCount, int(s.Desired)*limited)
		}
		// The execution role may pull through the cache (IAM simulation on
		// the test bed); services with nothing to move are not asked.
		wantECR := fleet.ECRPullUnknown
		switch {
		case s.Family.NoExecutionRole:
			wantECR = fleet.ECRPullNo
		case slices.Contains(fleetbed.NeedingRevision, s.Family.Name):
			wantECR = fleet.ECRPullYes
		}
		if got.ECRPull != wantECR {
			t.Errorf("%s/%s: ecrPull %q (%s), want %q", got.Cluster, got.Service, got.ECRPull, got.ECRPullReason, wantECR)
		}
		pulls += got.Pulls
	}
	if rep.Total.Pulls != pulls || rep.Total.Services != 200 || rep.Total.AnonymousLimit != 100 || rep.Total.AuthenticatedLimit != 200 ||
		!rep.Total.OverAnonymous || !rep.Total.OverAuthenticated {
		t.Errorf("total %+v, want %d pulls, over both limits", rep.Total, pulls)
	}
	fitsWidth(t, "scan text", b.mustCLI(t, "scan"))

	// --inspect HEADs each image (free on the hub): the hub's images are
	// multi-platform indexes, two counted GETs per task.
	hubBefore := b.pulls(t).Total
	inspected := scan("--inspect")
	for _, s := range inspected.Services {
		limited := 0
		for _, c := range s.Containers {
			if c.RateLimited {
				limited++
				if !c.ManifestsKnown || c.Manifests != 2 {
					t.Errorf("%s/%s %s: manifests %d (known %v), want 2: the hub serves an index", s.Cluster, s.Service, c.Image, c.Manifests, c.ManifestsKnown)
				}
			}
		}
		if s.Pulls != 2*limited*int(s.DesiredCount) {
			t.Errorf("%s/%s: %d pulls with --inspect, want %d", s.Cluster, s.Service, s.Pulls, 2*limited*int(s.DesiredCount))
		}
	}
	if inspected.Total.Pulls != 2*pulls {
		t.Errorf("total with --inspect %d, want %d", inspected.Total.Pulls, 2*pulls)
	}
	if after := b.pulls(t).Total; after != hubBefore {
		t.Errorf("--inspect cost %d counted pulls on the hub, want none", after-hubBefore)
	}

	applied := scan("--apply", "propose")
	registered := map[string]string{}
	for _, a := range applied.Applied {
		switch {
		case a.Family == fleetbed.CannotPullFromECR && a.Action == "skipped":
		case a.Action == "registered" && a.Service == "":
			if registered[a.Family] != "" {
				t.Errorf("%s: a second revision %s", a.Family, a.TaskDefinitionArn)
			}
			registered[a.Family] = a.TaskDefinitionArn
		default:
			t.Errorf("apply propose: %+v", a)
		}
	}
	if len(registered) != len(fleetbed.NeedingRevision) {
		t.Errorf("registered %v, want one revision for each of %v", registered, fleetbed.NeedingRevision)
	}
	for _, a := range scan("--apply", "propose").Applied {
		if a.Family != fleetbed.CannotPullFromECR && (a.Action != "exists" || a.TaskDefinitionArn != registered[a.Family]) {
			t.Errorf("second apply: %+v, want the revision of the first run", a)
		}
	}
	for _, fam := range fams {
		out, err := b.c.ECS.ListTaskDefinitions(ctxT(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fam.Name)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, arn := range out.TaskDefinitionArns {
			if strings.Contains(arn, "/"+fam.Name+":") {
				n++
			}
		}
		wantN := 1
		if registered[fam.Name] != "" {
			wantN = 2
		}
		if n != wantN {
			t.Errorf("family %s has %d revisions, want %d", fam.Name, n, wantN)
		}
	}
	// Proposals are not deployed, and revisions lists them as proposed.
	for _, s := range rep.Services {
		if s.TaskDefinitionArn != byName[s.Cluster+"/"+s.Service].TaskDefinitionArn {
			t.Errorf("%s/%s runs %s before apply", s.Cluster, s.Service, s.TaskDefinitionArn)
		}
	}
	revs := b.listRevisions(t, "--family", "hub-user")
	if len(revs) != 1 || revs[0].TaskDefinitionArn != registered["hub-user"] || len(revs[0].Services) != 20 {
		t.Fatalf("revisions --family hub-user: %+v", revs)
	}
	for _, s := range revs[0].Services {
		if s.Status != review.Proposed {
			t.Errorf("%s/%s: %s, want proposed", s.Cluster, s.Service, s.Status)
		}
	}

	// --apply update rolls the services onto the revisions registered
	// above, a batch at a time, and registers nothing new.
	updated := 0
	for _, a := range scan("--apply", "update", "--batch", "25").Applied {
		switch {
		case a.Service == "" && a.Family != fleetbed.CannotPullFromECR && a.Action != "exists":
			t.Errorf("apply update: %+v, want the revision of the first run", a)
		case a.Service != "" && (a.Action != "updated" || a.TaskDefinitionArn != registered[a.Family]):
			t.Errorf("apply update: %+v, want %s/%s updated to %s", a, a.Cluster, a.Service, registered[a.Family])
		case a.Service != "":
			updated++
		}
	}
	after := scan()
	for _, s := range after.Services {
		fam := byName[s.Cluster+"/"+s.Service].Family.Name
		want := fl.Revisions[fam]
		if registered[fam] != "" {
			want = registered[fam]
		}
		if s.TaskDefinitionArn != want {
			t.Errorf("%s/%s (%s) runs %s after apply update, want %s", s.Cluster, s.Service, fam, s.TaskDefinitionArn, want)
		}
	}
	if want := 20 * len(fleetbed.NeedingRevision); updated != want {
		t.Errorf("%d services updated, want %d", updated, want)
	}
	// Only the family without an execution role still pulls from Docker Hub.
	if after.Total.ExposedServices != 20 {
		t.Errorf("after apply update %d services exposed, want the 20 of %s", after.Total.ExposedServices, fleetbed.CannotPullFromECR)
	}
}

func staticCreds(env map[string]string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")
}

// TestDemoStateServesReview: the state demo --state leaves behind is
// served by pullheal local, and the review commands work on it.
func TestDemoStateServesReview(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	demo := proctest.Start(t, "pullheal demo", binary, nil, "demo", "--state", dir)
	if _, err := demo.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("pullheal demo --state: %v", err)
	}
	b := startBed(t, dir, ephemeral)
	revs := b.listRevisions(t)
	if len(revs) != 1 || len(revs[0].Services) != 1 || revs[0].Services[0] != (review.ServiceStatus{Cluster: "prod", Service: "web", Status: review.Deployed}) {
		t.Fatalf("revisions on the demo's state: %+v, want the demo's heal deployed on prod/web", revs)
	}
	b.mustCLI(t, "revert", "--cluster", "prod", "--service", "web")
	revs = b.listRevisions(t)
	if len(revs) != 1 || revs[0].Services[0].Status != review.Reverted {
		t.Errorf("after revert: %+v, want reverted", revs)
	}
	b.mustCLI(t, "approve", "--cluster", "prod", "--service", "web")
	if out := b.mustCLI(t, "scan"); !strings.Contains(out, "0 of 1 services pull 0 images") {
		t.Errorf("scan after approve:\n%s", out)
	}
}
