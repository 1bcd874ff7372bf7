package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// blobTask is one distinct blob of the copy and the platforms that use it.
type blobTask struct {
	desc      v1.Descriptor
	platforms []string
}

func collectBlobs(n *node, platform string, into map[v1.Hash]*blobTask, order *[]*blobTask) {
	if n.present {
		return
	}
	if n.platform != "" {
		platform = n.platform
	}
	for _, b := range n.blobs {
		t := into[b.Digest]
		if t == nil {
			t = &blobTask{desc: b}
			into[b.Digest] = t
			*order = append(*order, t)
		}
		if !slices.Contains(t.platforms, platform) {
			t.platforms = append(t.platforms, platform)
		}
	}
	for _, ch := range n.children {
		collectBlobs(ch, platform, into, order)
	}
}

// copyBlobs copies every blob of the plan in one bounded pool, largest
// first so that the long transfers overlap the short ones.
func (c *copier) copyBlobs(ctx context.Context, root *node) error {
	var tasks []*blobTask
	collectBlobs(root, "", map[v1.Hash]*blobTask{}, &tasks)
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].desc.Size > tasks[j].desc.Size })
	for _, t := range tasks {
		for _, p := range t.platforms {
			c.prog.add(p, t.desc)
		}
	}

	// Repositories to mount from need a pull scope in the token (registries
	// with bearer auth); reconnect once with them if there are any.
	var from []string
	self := c.dst.Context().RepositoryStr()
	for _, t := range tasks {
		if r, _ := c.mountSource(t.desc.Digest); r != "" && !slices.Contains(from, r) {
			from = append(from, r)
		}
		// A blob another copy is moving now will be mounted from there.
		if r := c.m.flights.repo(c.dst.Context().RegistryStr(), t.desc.Digest); r != "" && r != self && !slices.Contains(from, r) {
			from = append(from, r)
		}
	}
	if len(from) > 0 {
		if err := c.connectDst(ctx, from); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for _, t := range tasks {
		g.Go(func() error { return c.copyBlob(gctx, t.desc) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(tasks) > 0 {
		c.prog.done()
	}
	return nil
}

// mountSource picks a repository of the destination registry thought to
// hold h, other than the destination itself: first from what this Mirror
// saw (known is then true), then from hints and the blob cache, which may
// be stale. It returns "" once the registry refused a mount this Mirror
// knew would work.
func (c *copier) mountSource(h v1.Hash) (repo string, known bool) {
	registry := c.dst.Context().RegistryStr()
	if _, off := c.m.noMounts.Load(registry); off {
		return "", false
	}
	self := c.dst.Context().RepositoryStr()
	for _, r := range c.m.mounts.lookup(registry, h) {
		if r != self {
			return r, true
		}
	}
	candidates := slices.Clone(c.o.mountHints[h])
	if c.m.cache != nil {
		candidates = append(candidates, c.m.cache.lookup(registry, h)...)
	}
	for _, r := range candidates {
		if r != self {
			return r, false
		}
	}
	return "", false
}

// mountRefused handles a mount the registry did not do: a hint or cache
// entry is dropped (it was stale); a mount this Mirror knew would work
// means the registry does not mount, and none is tried there again.
func (c *copier) mountRefused(ctx context.Context, h v1.Hash, from string, known bool) {
	c.mountsRefused.Add(1)
	registry := c.dst.Context().RegistryStr()
	if !known {
		if c.m.cache != nil {
			c.m.cache.drop(registry, h, from)
		}
		return
	}
	if _, loaded := c.m.noMounts.LoadOrStore(registry, true); !loaded {
		c.log.LogAttrs(ctx, slog.LevelInfo, "registry refuses cross-repository mounts; uploading instead",
			slog.String("registry", registry), slog.String("from", from))
	}
}

// copyBlob copies one blob, starting it over on failures that may pass.
func (c *copier) copyBlob(ctx context.Context, d v1.Descriptor) error {
	// One copy of this Mirror moves a blob into a registry at a time; the
	// others wait for it and then mount it (or find it in place), so that
	// images sharing base layers copied in parallel upload them once.
	registry := c.dst.Context().RegistryStr()
	for {
		f, leader := c.m.flights.join(registry, d.Digest, c.dst.Context().RepositoryStr())
		if leader {
			defer c.m.flights.land(registry, d.Digest, f)
			break
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return fmt.Errorf("blob %s: %w", d.Digest, ctx.Err())
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.tryBlob(ctx, d)
		if errors.Is(err, errUploadAgain) {
			err = c.tryBlob(ctx, d)
		}
		if err == nil {
			c.m.mounts.add(c.dst.Context().RegistryStr(), d.Digest, c.dst.Context().RepositoryStr())
			if c.m.cache != nil {
				c.m.cache.add(c.dst.Context().RegistryStr(), d.Digest, c.dst.Context().RepositoryStr())
			}
			c.prog.finish(d.Digest)
			return nil
		}
		if attempt >= c.o.attempts || !retryableBlobError(err) || ctx.Err() != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		wait := backoffDelay(c.o.backoff, attempt)
		c.log.LogAttrs(ctx, slog.LevelWarn, "retrying blob",
			slog.String("digest", d.Digest.String()), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.String("cause", err.Error()))
		if err := c.o.sleep(ctx, wait); err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
}

// errUploadAgain asks for the blob to be uploaded again at once, the
// registry having refused the way it was sent.
var errUploadAgain = errors.New("upload again")

// refusesMonolithic reports an answer to a monolithic upload that means the
// registry does not take them (rather than that the content was wrong).
func refusesMonolithic(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
		http.StatusRequestedRangeNotSatisfiable, http.StatusNotImplemented:
		return true
	case http.StatusBadRequest:
		for _, e := range terr.Errors {
			if e.Code == transport.DigestInvalidErrorCode || e.Code == transport.SizeInvalidErrorCode {
				return false
			}
		}
		return true
	}
	return false
}

func retryableBlobError(err error) bool {
	if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrRateLimited) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return retryableStatus(terr.StatusCode)
	}
	return retryableNetError(err)
}

func (c *copier) tryBlob(ctx context.Context, d v1.Descriptor) error {
	exists, err := c.dstC.headBlob(ctx, d.Digest)
	if err != nil {
		return fmt.Errorf("look up in destination: %w", err)
	}
	if exists {
		c.blobsSkipped.Add(1)
		c.log.LogAttrs(ctx, slog.LevelDebug, "blob present", slog.String("digest", d.Digest.String()))
		return nil
	}
	from, known := c.mountSource(d.Digest)
	// The source stream gets its own context: when the upload fails, ending
	// it unblocks a read net/http may still have in flight.
	srcCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// With nothing to mount from, the blob will be fetched whatever the
	// upload session says: ask the source while the session opens, so
	// that the two round trips overlap.
	var early <-chan fetched
	if l := c.local[d.Digest]; from == "" && l == nil {
		early = c.fetchAhead(srcCtx, d)
	}
	loc, mounted, err := c.dstC.startUpload(ctx, d.Digest, from)
	if err != nil {
		discard(cancel, early)
		return fmt.Errorf("start upload: %w", err)
	}
	if from != "" && !mounted {
		c.mountRefused(ctx, d.Digest, from, known)
	}
	if mounted {
		c.blobsMounted.Add(1)
		c.log.LogAttrs(ctx, slog.LevelDebug, "blob mounted", slog.String("digest", d.Digest.String()), slog.String("from", from))
		return nil
	}

	var rc io.ReadCloser
	switch l := c.local[d.Digest]; {
	case l != nil:
		rc, err = l.Compressed()
	case early != nil:
		f := <-early
		rc, err = f.rc, f.err
	default:
		rc, err = c.srcC.getBlob(srcCtx, d)
	}
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	vr, err := newVerifier(rc, d, func(n int64) { c.prog.advance(d.Digest, n) })
	if err != nil {
		return err
	}
	if d.Size == 0 {
		// An empty body is not sent; check its digest here.
		if _, err := io.Copy(io.Discard, vr); err != nil {
			return err
		}
	}
	chunked := c.m.uploadsChunked(c.dst.Context().RegistryStr())
	if chunked {
		loc, err = c.dstC.patch(ctx, loc, vr, d.Size)
	} else {
		err = c.dstC.putBlob(ctx, loc, d.Digest, vr, d.Size)
	}
	// The verdict is taken before the source is cut off, so that an upload
	// failure is not mistaken for a source failure.
	moved, readErr, verified := vr.close()
	cancel()
	if !verified {
		c.prog.advance(d.Digest, -moved)
	}
	switch {
	case readErr != nil:
		// The upload failed because the source did; that is the cause.
		return readErr
	case err != nil && !chunked && refusesMonolithic(err):
		c.m.chunkedUploads.Store(c.dst.Context().RegistryStr(), true)
		c.log.LogAttrs(ctx, slog.LevelInfo, "registry refuses monolithic uploads; uploading in a session",
			slog.String("registry", c.dst.Context().RegistryStr()))
		return errUploadAgain
	case err != nil:
		return fmt.Errorf("upload: %w", err)
	case !verified:
		return fmt.Errorf("upload: registry accepted %d of %d bytes", moved, d.Size)
	}
	if chunked {
		if err := c.dstC.commit(ctx, loc, d.Digest); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	c.bytesCopied.Add(d.Size)
	c.blobsCopied.Add(1)
	c.log.LogAttrs(ctx, slog.LevelDebug, "blob copied", slog.String("digest", d.Digest.String()), slog.Int64("bytes", d.Size))
	return nil
}

// fetched is a source GET's outcome.
type fetched struct {
	rc  io.ReadCloser
	err error
}

// fetchAhead starts the source GET of d; the channel yields its outcome.
func (c *copier) fetchAhead(ctx context.Context, d v1.Descriptor) <-chan fetched {
	ch := make(chan fetched, 1)
	go func() {
		rc, err := c.srcC.getBlob(ctx, d)
		ch <- fetched{rc, err}
	}()
	return ch
}

// discard ends a fetch started ahead that will not be read.
func discard(cancel context.CancelFunc, early <-chan fetched) {
	if early == nil {
		return
	}
	cancel()
	if f := <-early; f.rc != nil {
		f.rc.Close()
	}
}

// flights tracks the blobs copies of one Mirror are moving into a
// registry, keyed by registry and digest.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	repo string // where the blob is going
	done chan struct{}
}

func flightKey(registry string, h v1.Hash) string { return registry + "@" + h.String() }

// join returns the flight moving h into registry and false, or a new one
// for repo and true when there is none (the caller then moves the blob and
// lands the flight).
func (x *flights) join(registry string, h v1.Hash, repo string) (*flight, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := flightKey(registry, h)
	if f := x.m[k]; f != nil {
		return f, false
	}
	if x.m == nil {
		x.m = map[string]*flight{}
	}
	f := &flight{repo: repo, done: make(chan struct{})}
	x.m[k] = f
	return f, true
}

func (x *flights) land(registry string, h v1.Hash, f *flight) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m[flightKey(registry, h)] == f {
		delete(x.m, flightKey(registry, h))
	}
	close(f.done)
}

// repo returns where h is being moved in registry now, or "".
func (x *flights) repo(registry string, h v1.Hash) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if f := x.m[flightKey(registry, h)]; f != nil {
		return f.repo
	}
	return ""
}
