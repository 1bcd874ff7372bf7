package imagesync_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullheal/pullheal/internal/customize"
	"github.com/pullheal/pullheal/internal/imagesync"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// bed is the local test bed with what a sync needs to reach it.
type bed struct {
	srv *localaws.Server
	ecr *ecr.Client
	kc  authn.Keychain // ECR
}

func startBed(t testing.TB) *bed {
	t.Helper()
	srv, err := localaws.Start(context.Background(), localaws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := ecr.NewFromConfig(srv.AWSConfig())
	return &bed{srv: srv, ecr: client, kc: mirror.NewECRKeychain(client, nil)}
}

// anonymous answers anonymous everywhere: the machine's docker config
// must not leak into tests.
var anonymous = authn.NewMultiKeychain()

func (b *bed) config() imagesync.Config {
	return imagesync.Config{
		Registry:            b.srv.RegistryHost(),
		SourceKeychain:      anonymous,
		DestinationKeychain: b.kc,
		Endpoints:           b.srv.Endpoints(),
		Repositories:        b.ecr,
	}
}

// hubDigest is the digest the hub seeded for repository:tag.
func (b *bed) hubDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	for _, im := range b.srv.Hub.Images() {
		if im.Repository == repo && im.Tag == tag {
			return im.Digest
		}
	}
	t.Fatalf("the hub has no %s:%s", repo, tag)
	return ""
}

// ecrOpts reads the test bed's ECR registry.
func (b *bed) ecrOpts() []remote.Option {
	return []remote.Option{remote.WithAuthFromKeychain(b.kc), remote.WithTransport(b.srv.Endpoints().Transport(nil))}
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loadPolicy(t testing.TB, path string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// row is what the golden report keeps of an image: everything but the
// Go error, with the registry host and digests made stable.
type row struct {
	Source, Target, Action, Rule, Reason, Error string
	Digest                                      string `json:",omitempty"`
	Customize, Platforms                        []string
	BytesCopied                                 int64
	ManifestGETs                                int
}

func rows(b *bed, rep imagesync.Report) []row {
	var out []row
	for _, im := range rep.Images {
		out = append(out, row{
			Source: im.Source, Target: strings.ReplaceAll(im.Target, b.srv.RegistryHost(), "REGISTRY"),
			Action: string(im.Action), Rule: im.Rule, Reason: im.Reason, Error: im.Error,
			Digest: digestKind(im), Customize: im.Customize, Platforms: im.Platforms,
			BytesCopied: im.BytesCopied, ManifestGETs: im.ManifestGETs,
		})
	}
	return out
}

// digestKind says how the ECR digest relates to upstream's, which is what
// the golden file should pin, not the digests themselves.
func digestKind(im imagesync.Image) string {
	switch {
	case im.Digest == "":
		return ""
	case im.Digest == im.SourceDigest:
		return "source"
	default:
		return "new"
	}
}

func golden(t *testing.T, path string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(data)); d != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, d)
	}
}

func TestSync(t *testing.T) {
	b := startBed(t)
	pol := loadPolicy(t, "testdata/sync.yaml")
	ctx := context.Background()

	// One image at a time: which copy uploads a layer that images share
	// (and so the bytes each one reports) depends on timing otherwise.
	cfg := b.config()
	cfg.Jobs = 1
	first, err := imagesync.Sync(ctx, cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/first.golden.json", rows(b, first))

	// Plain copies carry upstream's digests; each is in ECR under its tag.
	for _, im := range first.Images {
		if im.Action != imagesync.Copied {
			continue
		}
		repo, tag, _ := strings.Cut(strings.TrimPrefix(im.Source, "docker.io/"), ":")
		if want := b.hubDigest(t, repo, tag); im.Digest != want || im.SourceDigest != want {
			t.Errorf("%s: digest %s (source %s), want the hub's %s", im.Source, im.Digest, im.SourceDigest, want)
		}
		desc, err := remote.Head(ref(t, im.Target), b.ecrOpts()...)
		if err != nil || desc.Digest.String() != im.Digest {
			t.Errorf("%s in ECR: %v, %v; want digest %s", im.Target, desc, err, im.Digest)
		}
	}
	checkCustomizedRedis(t, b, first)

	pullsBefore := b.srv.Hub.Pulls()
	second, err := imagesync.Sync(ctx, b.config(), pol)
	if err != nil {
		t.Fatal(err)
	}
	for i, im := range second.Images {
		before := first.Images[i]
		want := before.Action
		if want == imagesync.Copied || want == imagesync.Customized {
			want = imagesync.AlreadyMirrored
		}
		if im.Source != before.Source || im.Action != want || im.Digest != before.Digest {
			t.Errorf("second sync of %s: %s %s, want %s %s", im.Source, im.Action, im.Digest, want, before.Digest)
		}
		if im.BytesCopied != 0 || im.ManifestGETs != 0 {
			t.Errorf("second sync of %s moved %d bytes with %d manifest GETs, want none", im.Source, im.BytesCopied, im.ManifestGETs)
		}
	}
	if d := cmp.Diff(pullsBefore, b.srv.Hub.Pulls()); d != "" {
		t.Errorf("the second sync pulled from the hub (-before +after):\n%s", d)
	}
	if second.Summary.AlreadyMirrored != first.Summary.Copied+first.Summary.Customized || second.Summary.Failed != 0 {
		t.Errorf("second summary %+v after first %+v", second.Summary, first.Summary)
	}
}

// TestSyncParallel: the default (several images at once) gives the report
// the one-at-a-time sync gives, in the same order, and uploads no more: a
// layer images share is uploaded once.
func TestSyncParallel(t *testing.T) {
	pol := loadPolicy(t, "testdata/sync.yaml")
	ctx := context.Background()
	run := func(jobs int) (imagesync.Report, int64) {
		b := startBed(t)
		cfg := b.config()
		cfg.Jobs = jobs
		var seen []string
		cfg.OnImage = func(im imagesync.Image) { seen = append(seen, im.Source) }
		rep, err := imagesync.Sync(ctx, cfg, pol)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(rep.Images) {
			t.Errorf("OnImage saw %d images, the report has %d", len(seen), len(rep.Images))
		}
		var total int64
		for _, im := range rep.Images {
			total += im.BytesCopied
		}
		return rep, total
	}
	one, oneBytes := run(1)
	many, manyBytes := run(imagesync.DefaultJobs)
	if manyBytes != oneBytes {
		t.Errorf("parallel sync uploaded %d bytes, one at a time %d", manyBytes, oneBytes)
	}
	type outcome struct{ Source, Action, Digest string }
	var a, b []outcome
	for _, im := range one.Images {
		a = append(a, outcome{im.Source, string(im.Action), digestKind(im)})
	}
	for _, im := range many.Images {
		b = append(b, outcome{im.Source, string(im.Action), digestKind(im)})
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("parallel report differs (-one +many):\n%s", d)
	}
}

// TestResyncIsFreeUpstream: images mirrored with a platform filter (a new
// index) or customised record their source digest in the destination, so
// a second sync costs a HEAD per tag upstream, no manifest GET (counted by
// the hub itself) and no blob byte.
func TestResyncIsFreeUpstream(t *testing.T) {
	b := startBed(t)
	pol, err := policy.Parse("resync.yaml", []byte(`version: 1
images:
  - match: [nginx]
    tags: {exact: ["1.27", "1.26"]}
    action: mirror
    platforms: [linux/arm64]
  - match: [redis]
    tags: {exact: ["7.2"]}
    action: mirror
    platforms: [linux/amd64]
    customize: [ENV FOO=bar, DIR /data 0750]
  - match: [hashicorp/vault]
    tags: {exact: ["1.17"]}
    action: mirror
    customize: [VOLUME /vault/file]
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := imagesync.Sync(ctx, b.config(), pol)
	if err != nil {
		t.Fatal(err)
	}
	if s := first.Summary; s.Copied != 2 || s.Customized != 2 || first.ManifestGETs == 0 {
		t.Fatalf("first sync: %+v, %d manifest GETs", s, first.ManifestGETs)
	}
	pulls := b.srv.Hub.Pulls()
	second, err := imagesync.Sync(ctx, b.config(), pol)
	if err != nil {
		t.Fatal(err)
	}
	if s := second.Summary; s.AlreadyMirrored != 4 || second.ManifestGETs != 0 {
		t.Errorf("second sync: %+v, %d manifest GETs", s, second.ManifestGETs)
	}
	for i, im := range second.Images {
		if im.BytesCopied != 0 || im.ManifestGETs != 0 || im.Digest != first.Images[i].Digest {
			t.Errorf("second sync of %s: %d bytes, %d manifest GETs, digest %s (first %s)", im.Source, im.BytesCopied, im.ManifestGETs, im.Digest, first.Images[i].Digest)
		}
	}
	if d := cmp.Diff(pulls, b.srv.Hub.Pulls()); d != "" {
		t.Errorf("the second sync pulled from the hub (-before +after):\n%s", d)
	}
}

// checkCustomizedRedis reads the customised redis back from ECR: every
// platform has the env, the volume, the provenance labels and the /data
// directory with its mode.
func checkCustomizedRedis(t *testing.T, b *bed, rep imagesync.Report) {
	t.Helper()
	i := slices.IndexFunc(rep.Images, func(im imagesync.Image) bool { return im.Source == "docker.io/library/redis:7.2" })
	if i < 0 {
		t.Fatal("no report for redis:7.2")
	}
	im := rep.Images[i]
	if im.Action != imagesync.Customized || im.SourceDigest != b.hubDigest(t, "library/redis", "7.2") || im.Digest == im.SourceDigest {
		t.Fatalf("redis:7.2: %+v", im)
	}
	idx, err := remote.Index(ref(t, im.Target), b.ecrOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != im.Digest {
		t.Errorf("the tag in ECR is %s, the report says %s", d, im.Digest)
	}
	lines, _ := customize.Parse(im.Customize)
	hash, _ := customize.Hash(lines)
	manifest, _ := idx.IndexManifest()
	if len(manifest.Manifests) != 2 {
		t.Errorf("%d platforms, want the source's 2", len(manifest.Manifests))
	}
	for _, d := range manifest.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		got := struct {
			Env     bool
			Volumes []string
			Labels  map[string]string
		}{slices.Contains(cf.Config.Env, "FOO=bar"), slices.Sorted(maps.Keys(cf.Config.Volumes)), map[string]string{
			customize.LabelBaseDigest: cf.Config.Labels[customize.LabelBaseDigest],
			customize.LabelCustomized: cf.Config.Labels[customize.LabelCustomized],
		}}
		want := got
		want.Env, want.Volumes = true, []string{"/data"}
		want.Labels = map[string]string{customize.LabelBaseDigest: im.SourceDigest, customize.LabelCustomized: hash}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", d.Platform, diff)
		}
		if mode := dirMode(t, img, "data"); mode != 0o750 {
			t.Errorf("%s: /data has mode %o, want 750", d.Platform, mode)
		}
	}
}

// dirMode flattens img and returns the mode of directory p (relative).
func dirMode(t *testing.T, img v1.Image, p string) int64 {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return -1
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Trim(strings.TrimPrefix(h.Name, "./"), "/") == p && h.Typeflag == tar.TypeDir {
			return h.Mode
		}
	}
}

func TestSyncDryRunCopiesNothing(t *testing.T) {
	b := startBed(t)
	cfg := b.config()
	cfg.DryRun = true
	rep, err := imagesync.Sync(context.Background(), cfg, loadPolicy(t, "testdata/sync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/dryrun.golden.json", rows(b, rep))
	if got := b.srv.Hub.Pulls().Total; got != 0 {
		t.Errorf("dry run made %d pulls", got)
	}
	out, err := b.ecr.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Repositories) != 0 {
		t.Errorf("dry run created %d repositories", len(out.Repositories))
	}
}

// TestSyncReserve: with the hub's budget near the reserve, both paths
// refuse before spending it, and say so.
func TestSyncReserve(t *testing.T) {
	b := startBed(t)
	pol, err := policy.Parse("reserve.yaml", []byte(`version: 1
images:
  - match: [nginx]
    tags: {exact: ["1.27"]}
    action: mirror
  - match: [redis]
    tags: {exact: ["7.2"]}
    action: mirror
    customize: [ENV FOO=bar]
`))
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Hub.SetRemaining("127.0.0.1", 5)
	cfg := b.config()
	cfg.Reserve = 4
	rep, err := imagesync.Sync(context.Background(), cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 || rep.Summary.Failed != 2 {
		t.Fatalf("report %+v, want two failures", rep)
	}
	for _, im := range rep.Images {
		if !errors.Is(im.Err, mirror.ErrRateLimitReserve) {
			t.Errorf("%s: %v, want the reserve refusal", im.Source, im.Err)
		}
	}
	if got := b.srv.Hub.Pulls().Total; got > 1 {
		t.Errorf("%d pulls made with 5 left and 4 in reserve", got)
	}
}

// TestSyncRebuildsWhenLinesChange: a customised image is up to date only
// for the lines it was built with.
func TestSyncRebuildsWhenLinesChange(t *testing.T) {
	b := startBed(t)
	doc := func(value string) *policy.Policy {
		p, err := policy.Parse("custom.yaml", []byte(`version: 1
images:
  - match: [redis]
    tags: {exact: ["7.2"]}
    action: mirror
    platforms: [linux/arm64]
    customize: [ENV FOO=`+value+`]
`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	var digests []string
	for _, step := range []struct {
		value string
		want  imagesync.Action
	}{{"bar", imagesync.Customized}, {"bar", imagesync.AlreadyMirrored}, {"baz", imagesync.Customized}} {
		rep, err := imagesync.Sync(ctx, b.config(), doc(step.value))
		if err != nil {
			t.Fatal(err)
		}
		im := rep.Images[0]
		if im.Action != step.want {
			t.Fatalf("FOO=%s: %s (%s), want %s", step.value, im.Action, im.Error, step.want)
		}
		digests = append(digests, im.Digest)
	}
	if digests[0] != digests[1] || digests[1] == digests[2] {
		t.Errorf("digests %v: want the first two equal and the third new", digests)
	}
	idx, err := remote.Index(ref(t, b.srv.RegistryHost()+"/mirror/library/redis:7.2"), b.ecrOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Platform.Architecture != "arm64" {
		t.Errorf("platforms in ECR: %+v, want linux/arm64 only", m.Manifests)
	}
}

// TestCopyCustomized: the mirror engine with a customize transform, as the
// agent's mirror route and sync use it.
func TestCopyCustomized(t *testing.T) {
	b := startBed(t)
	ctx := context.Background()
	lines, _ := customize.Parse([]string{"VOLUME /cache", "DIR /cache 0700"})
	tr, err := customize.NewTransform(lines)
	if err != nil {
		t.Fatal(err)
	}
	dst := b.srv.RegistryHost() + "/custom/vault"
	opts := []mirror.Option{
		mirror.WithSourceKeychain(anonymous), mirror.WithDestinationKeychain(b.kc),
		mirror.WithRepositoryCreation(b.ecr, mirror.RepositorySettings{TagMutability: "IMMUTABLE"}),
		mirror.WithTransform(tr),
	}
	for host, u := range b.srv.Endpoints() {
		opts = append(opts, mirror.WithEndpoint(host, u.String()))
	}
	res, err := mirror.Copy(ctx, "hashicorp/vault:1.17", dst, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if res.AlreadyMirrored || res.ManifestGETs != 3 || res.BytesCopied == 0 || res.SourceDigest != b.hubDigest(t, "hashicorp/vault", "1.17") ||
		res.Target != dst+"@"+res.TargetDigest {
		t.Errorf("first copy: %+v", res)
	}
	again, err := mirror.Copy(ctx, "hashicorp/vault:1.17", dst, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyMirrored || again.TargetDigest != res.TargetDigest || again.ManifestGETs != 0 || again.BytesCopied != 0 {
		t.Errorf("second copy: %+v", again)
	}
	repos, err := b.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"custom/vault"}})
	if err != nil || repos.Repositories[0].ImageTagMutability != "IMMUTABLE" {
		t.Errorf("repository: %+v, %v", repos, err)
	}

	for _, tc := range []struct {
		name, src, dst string
		opts           []mirror.Option
		err            string
	}{
		{"digest destination", "hashicorp/vault:1.17", dst + "@sha256:" + strings.Repeat("a", 64), nil, "names a digest"},
		{"no tag to take", "hashicorp/vault@" + res.SourceDigest, dst, nil, "has no tag"},
		{"unknown source", "library/nosuchimage:1", dst + ":x", nil, "look up source"},
		{"platform kept by nothing", "hashicorp/vault:1.17", dst + ":s390x", []mirror.Option{mirror.WithPlatforms("linux/s390x")}, "no matching platform"},
		{"bad platform", "hashicorp/vault:1.17", dst + ":x", []mirror.Option{mirror.WithPlatforms("linux")}, `platform "linux"`},
	} {
		_, err := mirror.Copy(ctx, tc.src, tc.dst, append(slices.Clip(opts), tc.opts...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.err)
		}
	}
	if _, err := customize.NewTransform(nil); !errors.Is(err, customize.ErrNoLines) {
		t.Errorf("no lines: %v", err)
	}
}

func TestSyncRefusesBadConfig(t *testing.T) {
	pol := loadPolicy(t, "testdata/sync.yaml")
	for _, tc := range []struct {
		name string
		cfg  imagesync.Config
		pol  *policy.Policy
	}{
		{"no registry", imagesync.Config{}, pol},
		{"bad registry", imagesync.Config{Registry: "not a host"}, pol},
		{"negative reserve", imagesync.Config{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Reserve: -1}, pol},
		{"no policy", imagesync.Config{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com"}, nil},
	} {
		if _, err := imagesync.Sync(context.Background(), tc.cfg, tc.pol); !errors.Is(err, imagesync.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", tc.name, err)
		}
	}
}

// TestSyncScope: a scoped policy syncs only for the workload it is told
// about; without one, sync says why nothing moved.
func TestSyncScope(t *testing.T) {
	b := startBed(t)
	pol, err := policy.Parse("scoped.yaml", []byte(`version: 1
scope:
  clusters: {include: [prod-*]}
images:
  - match: [nginx]
    tags: {exact: ["1.27"]}
    action: mirror
  - match: [redis]
    tags: {exact: ["7.2"]}
    action: mirror
    scope:
      services: {include: [cache]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		subject policy.Subject
		want    []string
	}{
		{policy.Subject{}, []string{
			`skipped: out of scope: cluster "" matches no glob of scope.clusters.include`,
			`skipped: out of scope: cluster "" matches no glob of scope.clusters.include`,
		}},
		{policy.Subject{Cluster: "prod-eu"}, []string{
			"planned: ",
			"skipped: no images rule applies to it; a rule with a scope applies only to the workloads the scope lets through",
		}},
		{policy.Subject{Cluster: "prod-eu", Service: "cache"}, []string{"planned: ", "planned: "}},
	} {
		cfg := b.config()
		cfg.DryRun, cfg.Subject = true, tc.subject
		rep, err := imagesync.Sync(context.Background(), cfg, pol)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, im := range rep.Images {
			got = append(got, string(im.Action)+": "+im.Reason)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("subject %+v (-want +got):\n%s", tc.subject, d)
		}
	}
}

// TestSyncDenyRuleWithTags: a deny rule restricted to some tags keeps
// those tags out, and only those; the rest of what the images rule
// selects is synced.
func TestSyncDenyRuleWithTags(t *testing.T) {
	b := startBed(t)
	cfg := b.config()
	cfg.DryRun = true
	rep, err := imagesync.Sync(context.Background(), cfg, loadPolicy(t, "testdata/deny-tags.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/deny-tags.golden.json", rows(b, rep))
}
