package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/internal/imagesync"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/policy"
)

func mirrorCommand() *cli.Command {
	return &cli.Command{
		Name:      "mirror",
		Usage:     "copy an image (every platform by default) into ECR or any OCI registry, verified and rate-limit aware",
		ArgsUsage: "SRC DST",
		Description: "Copies SRC (e.g. nginx:1.27) to DST (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/library/nginx:1.27).\n" +
			"ECR destinations are reached with ECR credentials and their repository is created when missing; other\n" +
			"registries with the docker config's credentials (and credential helpers), else anonymously.\n" +
			"With --policy, refuses an image the policy does not allow to be mirrored, and applies its platforms\n" +
			"and repository settings.",
		Flags: []cli.Flag{
			policyFlag(),
			&cli.StringSliceFlag{Name: "platform", Usage: "copy only `OS/ARCH[/VARIANT]`; repeatable (default: all)"},
			&cli.IntFlag{Name: "jobs", Value: 6, Usage: "blobs copied at once"},
			reserveFlag(),
			dockerHubSecretFlag(),
			registryEndpointsFlag(),
			insecureFlag(),
			blobCacheFlag(),
			noReferrersFlag(),
			outputFlag(),
		},
		Action: mirrorAction,
	}
}

// MirrorSummary is `mirror --output json`.
type MirrorSummary struct {
	Source          string   `json:"source"`
	Target          string   `json:"target"`
	SourceDigest    string   `json:"sourceDigest"`
	TargetDigest    string   `json:"targetDigest"`
	Platforms       []string `json:"platforms"`
	AlreadyMirrored bool     `json:"alreadyMirrored"`
	BytesCopied     int64    `json:"bytesCopied"`
	BlobsCopied     int      `json:"blobsCopied"`
	BlobsSkipped    int      `json:"blobsSkipped"`
	BlobsMounted    int      `json:"blobsMounted"`
	MountsRefused   int      `json:"mountsRefused"`
	// Mounts says how cross-repository mounts went: worked, refused (the
	// blobs were uploaded instead), partly, or none (none tried).
	Mounts       string `json:"mounts"`
	ManifestGETs int    `json:"manifestGets"`
	// Referrers counts the signatures and attestations copied with the
	// image (or found in place).
	Referrers       int     `json:"referrers"`
	DurationSeconds float64 `json:"durationSeconds"`
}

func mirrorAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() != 2 {
		return inputErrorf("mirror takes SRC and DST, got %d arguments", c.NArg())
	}
	src, dst := c.Args().Get(0), c.Args().Get(1)
	srcRef, err := imageref.Parse(src)
	if err != nil {
		return inputErrorf("SRC: %v", err)
	}
	dstRef, err := imageref.Parse(dst)
	if err != nil {
		return inputErrorf("DST: %v", err)
	}
	endpoints, err := hostmap.Parse(c.String("registry-endpoints"))
	if err != nil {
		return inputErrorf("--registry-endpoints: %v", err)
	}
	if c.Int("jobs") < 1 {
		return inputErrorf("--jobs %d: must be at least 1", c.Int("jobs"))
	}
	if c.Int("reserve") < 0 {
		return inputErrorf("--reserve %d: must not be negative", c.Int("reserve"))
	}
	platforms := c.StringSlice("platform")
	if len(platforms) > 0 {
		if _, err := mirror.ParsePlatforms(platforms...); err != nil {
			return inputErrorf("--platform: %v", err)
		}
	}
	var settings policy.RepositorySettings
	verifyTag := false
	if location := c.String("policy"); location != "" {
		snap, _, err := readPolicy(c.Context, location, nil)
		if err != nil {
			return err
		}
		pol := snap.Policy
		d := pol.Decide(srcRef, policy.Subject{})
		if !d.MirrorAllowed {
			return inputErrorf("the policy does not allow mirroring %s (%s: %s)", srcRef, d.Rule, d.Reason)
		}
		if len(d.Customize) > 0 {
			return inputErrorf("the policy customises %s (%s), which mirror does not apply", srcRef, d.Rule)
		}
		if len(platforms) == 0 {
			platforms = d.Platforms
		}
		settings = d.Repository
		verifyTag = d.VerifyTag
	}
	cache, err := openBlobCache(c)
	if err != nil {
		return err
	}

	access := newRegistryAccess(c, endpoints)
	source, err := access.sourceKeychain(c.String("dockerhub-secret"), srcRef.Registry)
	if err != nil {
		return err
	}
	if verifyTag {
		if err := proveTag(c, srcRef, source, endpoints); err != nil {
			return err
		}
	}
	dest, err := access.keychain(dstRef.Registry)
	if err != nil {
		return err
	}
	opts := []mirror.Option{
		mirror.WithJobs(c.Int("jobs")),
		mirror.WithSourceKeychain(source),
		mirror.WithDestinationKeychain(dest),
	}
	for host, u := range endpoints {
		opts = append(opts, mirror.WithEndpoint(host, u.String()))
	}
	if c.Bool("insecure") {
		opts = append(opts, mirror.WithInsecure())
	}
	if c.Bool("no-referrers") {
		opts = append(opts, mirror.WithReferrers(false))
	}
	if n := c.Int("reserve"); n > 0 {
		opts = append(opts, mirror.WithRateLimitReserve(n))
	}
	if len(platforms) > 0 {
		opts = append(opts, mirror.WithPlatforms(platforms...))
	}
	if access.isECR(dstRef.Registry) {
		repos, err := access.ecr()
		if err != nil {
			return err
		}
		opts = append(opts, mirror.WithRepositoryCreation(repos, imagesync.SettingsFromPolicy(settings)))
	}
	if cache != nil {
		opts = append(opts, mirror.WithBlobCache(cache))
	}
	bar := newProgressBar(c.App.ErrWriter)
	if bar != nil {
		opts = append(opts, mirror.WithProgress(bar.update))
	}
	res, err := mirror.Copy(c.Context, srcRef.String(), dst, opts...)
	bar.finish()
	saveBlobCache(c, cache)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", src, err)
	}
	sum := MirrorSummary{Source: srcRef.String(), Target: res.Target, SourceDigest: res.SourceDigest, TargetDigest: res.TargetDigest,
		Platforms: res.Platforms, AlreadyMirrored: res.AlreadyMirrored, BytesCopied: res.BytesCopied, BlobsCopied: res.BlobsCopied,
		BlobsSkipped: res.BlobsSkipped, BlobsMounted: res.BlobsMounted, MountsRefused: res.MountsRefused,
		Mounts: mountOutcome(res.BlobsMounted, res.MountsRefused), ManifestGETs: res.ManifestGETs, Referrers: res.Referrers, DurationSeconds: res.Duration.Seconds()}
	if format == "json" {
		return writeJSON(c.App.Writer, sum)
	}
	state := "copied"
	if sum.AlreadyMirrored {
		state = "already mirrored"
	}
	plats := ""
	if len(sum.Platforms) > 0 {
		plats = strings.Join(sum.Platforms, ", ") + "; "
	}
	mounts := ""
	if sum.MountsRefused > 0 {
		mounts = fmt.Sprintf(", %d mounts refused (uploaded instead)", sum.MountsRefused)
	}
	if sum.Referrers > 0 {
		mounts += fmt.Sprintf("; %d signatures/attestations", sum.Referrers)
	}
	fmt.Fprintf(c.App.Writer, "%s %s -> %s (%s%d blobs copied, %d skipped, %d mounted%s; %s; %d manifest GETs upstream; %.2fs)\n",
		state, sum.Source, sum.Target, plats, sum.BlobsCopied, sum.BlobsSkipped, sum.BlobsMounted, mounts,
		humanBytes(sum.BytesCopied), sum.ManifestGETs, sum.DurationSeconds)
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// proveTag carries out policy.Decision.VerifyTag before a copy: the
// policy allowed name:TAG@DIGEST by its tag, and the digest, which is what
// gets copied, must first be shown to be that tag's upstream, with a HEAD
// (which Docker Hub does not count as a pull). A digest that is not, or
// cannot be shown to be, is refused, as the agent refuses it.
func proveTag(c *cli.Context, ref imageref.Ref, keychain authn.Keychain, endpoints hostmap.Map) error {
	var opts []name.Option
	if c.Bool("insecure") {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref.Registry+"/"+ref.Repository+":"+ref.Tag, opts...)
	if err != nil {
		return inputErrorf("SRC: %v", err)
	}
	desc, err := remote.Head(tag, remote.WithContext(c.Context), remote.WithAuthFromKeychain(keychain), remote.WithTransport(endpoints.Transport(nil)))
	if err != nil {
		return fmt.Errorf("%s: cannot prove that %s is tag %q upstream (%v); the policy's tag rules do not apply to an unproven digest", ref, ref.Digest, ref.Tag, err)
	}
	if got := desc.Digest.String(); got != ref.Digest {
		return inputErrorf("%s: tag %q resolves upstream to %s, not to the pinned %s; the policy's tag rules do not cover that digest", ref, ref.Tag, got, ref.Digest)
	}
	return nil
}

// registryAccess picks credentials per registry: ECR's (from the AWS
// configuration, loaded only when an ECR registry or a Secrets Manager
// secret is involved) for ECR hosts and hosts the endpoint map sends to
// ECR, the docker config and its credential helpers for the others,
// anonymous where neither has anything.
type registryAccess struct {
	c         *cli.Context
	endpoints hostmap.Map

	loaded    bool
	cfg       aws.Config
	err       error
	ecrClient *ecr.Client
}

func newRegistryAccess(c *cli.Context, endpoints hostmap.Map) *registryAccess {
	return &registryAccess{c: c, endpoints: endpoints}
}

func (a *registryAccess) aws() (aws.Config, error) {
	if !a.loaded {
		a.loaded = true
		a.cfg, a.err = loadAWSConfig(a.c.Context)
	}
	return a.cfg, a.err
}

func (a *registryAccess) ecr() (*ecr.Client, error) {
	if a.ecrClient == nil {
		cfg, err := a.aws()
		if err != nil {
			return nil, err
		}
		a.ecrClient = ecr.NewFromConfig(cfg)
	}
	return a.ecrClient, nil
}

// isECR reports an ECR registry host, or a host the endpoint map sends to one.
func (a *registryAccess) isECR(host string) bool {
	if _, _, ok := imageref.ECRHost(host); ok {
		return true
	}
	if u := a.endpoints.Lookup(host); u != nil {
		_, _, ok := imageref.ECRHost(u.Hostname())
		return ok
	}
	return false
}

// keychain is the keychain for registry host.
func (a *registryAccess) keychain(host string) (authn.Keychain, error) {
	if !a.isECR(host) {
		return authn.DefaultKeychain, nil
	}
	client, err := a.ecr()
	if err != nil {
		return nil, err
	}
	return authn.NewMultiKeychain(mirror.NewECRKeychain(client, nil, host), authn.DefaultKeychain), nil
}

// sourceKeychain is keychain(host), with Docker Hub read as the account in
// the Secrets Manager secret when one is named.
func (a *registryAccess) sourceKeychain(secret, host string) (authn.Keychain, error) {
	kc, err := a.keychain(host)
	if err != nil || secret == "" {
		return kc, err
	}
	cfg, err := a.aws()
	if err != nil {
		return nil, err
	}
	hub := mirror.SourceKeychain(secretsmanager.NewFromConfig(cfg), secret, nil)
	return authn.NewMultiKeychain(hub, kc), nil
}

// blobCacheFlag is --blob-cache: where blob locations are remembered
// between runs, under the user's cache directory by default.
func blobCacheFlag() cli.Flag {
	def := ""
	if dir, err := os.UserCacheDir(); err == nil {
		def = filepath.Join(dir, "pullheal", "blobs.json")
	}
	return &cli.StringFlag{Name: "blob-cache", Value: def,
		Usage: "`FILE` remembering which destination repositories hold which blobs, to mount them in later runs (\"\" turns it off)"}
}

// openBlobCache opens --blob-cache; nil when it is off. A path that holds
// something other than a cache (a directory, a FIFO, a file given by
// mistake, which saving would replace) or cannot hold one is bad input,
// refused before any copy. A cache that cannot be read otherwise is
// reported and left off: it must not stop a copy.
func openBlobCache(c *cli.Context) (*mirror.BlobCache, error) {
	path := c.String("blob-cache")
	if path == "" {
		return nil, nil
	}
	cache, err := mirror.OpenBlobCache(path)
	switch {
	case errors.Is(err, mirror.ErrNotBlobCache) || errors.Is(err, syscall.ENOTDIR):
		return nil, inputErrorf("--blob-cache: %v; give another file, or \"\" to turn the cache off", err)
	case err != nil:
		fmt.Fprintf(c.App.ErrWriter, "warning: %v; continuing without it\n", err)
		return nil, nil
	}
	return cache, nil
}

func saveBlobCache(c *cli.Context, cache *mirror.BlobCache) {
	if cache == nil {
		return
	}
	if err := cache.Save(); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
	}
}

// mountOutcome names how mounts went.
func mountOutcome(mounted, refused int) string {
	switch {
	case mounted > 0 && refused > 0:
		return "partly"
	case mounted > 0:
		return "worked"
	case refused > 0:
		return "refused"
	}
	return "none"
}

func noReferrersFlag() cli.Flag {
	return &cli.BoolFlag{Name: "no-referrers", Usage: "leave signatures and attestations (OCI referrers, cosign .sig/.att tags) behind"}
}
