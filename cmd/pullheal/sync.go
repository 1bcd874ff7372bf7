package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/imagesync"
	"github.com/pullheal/pullheal/internal/mirror"
	"github.com/pullheal/pullheal/policy"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "mirror what a policy allowlists into ECR (or any OCI registry) ahead of time, customised where it says so",
		Description: "For every images rule with action mirror, copies its named images and selected tags into ECR\n" +
			"(tags.exact as listed; tags.glob and tags.semver matched against the upstream's tags, the --max-tags\n" +
			"newest). Deny rules, typosquat protection and scopes apply. Images already in ECR cost no pull.\n" +
			"--jobs images are copied at once; a layer they share is uploaded once and mounted into the others.\n" +
			"Exit 0 when every image was synced or skipped by the policy, 1 when any failed, 2 for bad input.",
		Flags: []cli.Flag{
			policyFlag(),
			registryFlag(),
			dockerHubSecretFlag(),
			registryEndpointsFlag(),
			reserveFlag(),
			&cli.IntFlag{Name: "jobs", Value: imagesync.DefaultJobs, Usage: "images copied at once (they share what each learns of where blobs are)"},
			&cli.IntFlag{Name: "max-tags", Value: imagesync.DefaultMaxTags, Usage: "newest `N` tags a glob or semver selector syncs per image"},
			clusterFlag(),
			serviceFlag(),
			familyFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "decide and list tags, copy nothing"},
			insecureFlag(),
			blobCacheFlag(),
			noReferrersFlag(),
			outputFlag(),
		},
		Action: syncAction,
	}
}

func syncAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		return inputErrorf("sync takes no arguments, got %q", c.Args().First())
	}
	if c.Int("reserve") < 0 {
		return inputErrorf("--reserve %d: must not be negative", c.Int("reserve"))
	}
	if c.Int("jobs") < 1 {
		return inputErrorf("--jobs %d: must be at least 1", c.Int("jobs"))
	}
	if c.Int("max-tags") < 1 {
		return inputErrorf("--max-tags %d: must be at least 1", c.Int("max-tags"))
	}
	path := c.String("policy")
	if path == "" {
		return inputErrorf("sync needs --policy FILE")
	}
	snap, _, err := readPolicy(c.Context, path, nil)
	if err != nil {
		return err
	}
	pol := snap.Policy
	endpoints, err := hostmap.Parse(c.String("registry-endpoints"))
	if err != nil {
		return inputErrorf("--registry-endpoints: %v", err)
	}
	var cache *mirror.BlobCache
	if !c.Bool("dry-run") {
		if cache, err = openBlobCache(c); err != nil {
			return err
		}
	}

	access := newRegistryAccess(c, endpoints)
	registry := c.String("registry")
	if registry == "" {
		registry = pol.Registry
	}
	if registry == "" {
		client, err := access.ecr()
		if err != nil {
			return err
		}
		if registry, err = mirror.NewECRKeychain(client, nil).Endpoint(c.Context); err != nil {
			return fmt.Errorf("discover the ECR registry (or pass --registry): %w", err)
		}
	}
	// Sources are many registries: the Docker Hub account when named, the
	// docker config for the others.
	source, err := access.sourceKeychain(c.String("dockerhub-secret"), "docker.io")
	if err != nil {
		return err
	}
	dest, err := access.keychain(registry)
	if err != nil {
		return err
	}
	cfg := imagesync.Config{
		Registry:            registry,
		Subject:             policy.Subject{Cluster: c.String("cluster"), Service: c.String("service"), Family: c.String("family")},
		SourceKeychain:      source,
		DestinationKeychain: dest,
		Endpoints:           endpoints,
		Insecure:            c.Bool("insecure"),
		Reserve:             c.Int("reserve"),
		MaxTags:             c.Int("max-tags"),
		Jobs:                c.Int("jobs"),
		NoReferrers:         c.Bool("no-referrers"),
		DryRun:              c.Bool("dry-run"),
		BlobCache:           cache, // nil for a dry run
	}
	if access.isECR(registry) {
		if cfg.Repositories, err = access.ecr(); err != nil {
			return err
		}
	}
	var live *syncProgress
	if format == "text" {
		// Each image's line as it finishes, and on a terminal a bar per
		// image being copied.
		live = newSyncProgress(c.App.Writer, c.App.ErrWriter)
		cfg.OnImage = live.done
		if live.block != nil {
			cfg.Progress = live.progress
		}
	}
	rep, err := imagesync.Sync(c.Context, cfg, pol)
	live.finish()
	saveBlobCache(c, cfg.BlobCache)
	switch {
	case errors.Is(err, imagesync.ErrInvalidConfig):
		return asInputError(err)
	case err != nil:
		return fmt.Errorf("sync: %w", err)
	}
	if format == "json" {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		writeSyncSummary(c.App.Writer, rep)
	}
	if n := rep.Summary.Failed; n > 0 {
		return fmt.Errorf("sync: %d of %d images failed", n, len(rep.Images))
	}
	return nil
}

// syncLine is the line of one image.
func syncLine(im imagesync.Image) string {
	pinned := im.Target
	if im.Digest != "" {
		pinned += "@" + im.Digest
	}
	var notes []string
	if len(im.Customize) > 0 {
		notes = append(notes, strings.Join(im.Customize, "; "))
	}
	if len(im.Platforms) > 0 {
		notes = append(notes, strings.Join(im.Platforms, ", "))
	}
	switch im.Action {
	case imagesync.Copied, imagesync.Customized:
		notes = append(notes, fmt.Sprintf("%s; %d manifest GETs upstream", humanBytes(im.BytesCopied), im.ManifestGETs))
	case imagesync.Planned:
		notes = append(notes, "dry run")
	}
	detail := ""
	if len(notes) > 0 {
		detail = " (" + strings.Join(notes, "; ") + ")"
	}
	switch im.Action {
	case imagesync.Copied, imagesync.Customized:
		return fmt.Sprintf("%s %s -> %s%s", im.Action, im.Source, pinned, detail)
	case imagesync.AlreadyMirrored:
		return fmt.Sprintf("already mirrored %s -> %s%s", im.Source, pinned, detail)
	case imagesync.Planned:
		return fmt.Sprintf("would sync %s -> %s%s", im.Source, pinned, detail)
	case imagesync.Skipped:
		return fmt.Sprintf("skipped %s: %s: %s", im.Source, im.Rule, im.Reason)
	}
	if pinned != "" {
		pinned = " -> " + pinned
	}
	return fmt.Sprintf("failed %s%s: %s", im.Source, pinned, oneLine(im.Error))
}

// syncProgress prints each image's line as it finishes (to out) and, when
// errOut is a terminal, keeps a bar per image being copied below them.
type syncProgress struct {
	mu     sync.Mutex
	out    io.Writer
	block  *liveBlock
	active map[string]mirror.Progress
	order  []string
}

func newSyncProgress(out, errOut io.Writer) *syncProgress {
	p := &syncProgress{out: out, active: map[string]mirror.Progress{}}
	outW, outTerm := terminalWidth(out)
	if _, errTerm := terminalWidth(errOut); outTerm && errTerm {
		// Lines and bars share the screen only when both go to it.
		p.block = &liveBlock{w: out, width: outW}
	}
	return p
}

func (p *syncProgress) progress(source string, pr mirror.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.active[source]; !ok {
		p.order = append(p.order, source)
	}
	p.active[source] = pr
	p.block.draw(p.lines(), false)
}

func (p *syncProgress) lines() []string {
	out := make([]string, 0, len(p.order))
	for _, src := range p.order {
		pr := p.active[src]
		out = append(out, progressLine(src, pr.AllBytesDone, pr.AllBytesTotal, "", p.block.width))
	}
	return out
}

func (p *syncProgress) done(im imagesync.Image) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.block == nil {
		fmt.Fprintln(p.out, syncLine(im))
		return
	}
	if _, ok := p.active[im.Source]; ok {
		delete(p.active, im.Source)
		p.order = slices.DeleteFunc(p.order, func(s string) bool { return s == im.Source })
	}
	p.block.above(syncLine(im), p.lines())
}

func (p *syncProgress) finish() {
	if p == nil || p.block == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.block.draw(nil, true)
}

// writeSyncSummary prints the summary line.
func writeSyncSummary(w io.Writer, rep imagesync.Report) {
	s := rep.Summary
	if rep.DryRun {
		fmt.Fprintf(w, "dry run: %d to sync, %d skipped, %d failed\n", s.Planned, s.Skipped, s.Failed)
		return
	}
	mounts := ""
	if m := rep.Mounts; m.Mounted+m.Refused > 0 {
		mounts = fmt.Sprintf(" (mounts %s: %d blobs mounted, %d refused and uploaded instead)", mountOutcome(m.Mounted, m.Refused), m.Mounted, m.Refused)
	}
	if rep.Referrers > 0 {
		mounts += fmt.Sprintf("; %d signatures/attestations", rep.Referrers)
	}
	if rep.ManifestGETs > 0 {
		mounts += fmt.Sprintf("; %d manifest GETs upstream", rep.ManifestGETs)
	}
	fmt.Fprintf(w, "synced into %s: %d copied, %d customized, %d already mirrored, %d skipped, %d failed%s\n",
		rep.Registry, s.Copied, s.Customized, s.AlreadyMirrored, s.Skipped, s.Failed, mounts)
}
