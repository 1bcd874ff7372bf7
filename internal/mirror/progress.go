package mirror

import (
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// progressStep is how many bytes a blob moves between two reports.
const progressStep = 1 << 20

// tracker turns blob events into Progress reports, serialised.
type tracker struct {
	mu        sync.Mutex
	fn        func(Progress)
	platforms []string // in first-seen order
	per       map[string]*Progress
	blobs     map[v1.Hash]*blobProgress
	allDone   int64
	allTotal  int64
}

type blobProgress struct {
	size      int64
	done      int64
	reported  int64
	platforms []string
	finished  bool
}

func newTracker(fn func(Progress)) *tracker {
	return &tracker{fn: fn, per: map[string]*Progress{}, blobs: map[v1.Hash]*blobProgress{}}
}

// add registers a blob of platform; a blob added twice is counted once
// overall and once per platform.
func (t *tracker) add(platform string, d v1.Descriptor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.per[platform]
	if p == nil {
		p = &Progress{Platform: platform}
		t.per[platform] = p
		t.platforms = append(t.platforms, platform)
	}
	b := t.blobs[d.Digest]
	if b == nil {
		b = &blobProgress{size: d.Size}
		t.blobs[d.Digest] = b
		t.allTotal += d.Size
	}
	for _, q := range b.platforms {
		if q == platform {
			return
		}
	}
	b.platforms = append(b.platforms, platform)
	p.BytesTotal += d.Size
	p.BlobsTotal++
}

// advance records n more bytes of blob h (negative when a failed attempt
// is rolled back before a retry).
func (t *tracker) advance(h v1.Hash, n int64) {
	if t.fn == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.blobs[h]
	if b == nil || b.finished {
		return
	}
	b.done += n
	t.allDone += n
	for _, q := range b.platforms {
		t.per[q].BytesDone += n
	}
	if b.done-b.reported >= progressStep || b.done < b.reported {
		b.reported = b.done
		t.report(b.platforms)
	}
}

// finish marks blob h complete, whichever way it got there.
func (t *tracker) finish(h v1.Hash) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.blobs[h]
	if b == nil || b.finished {
		return
	}
	rest := b.size - b.done
	b.done, b.finished = b.size, true
	t.allDone += rest
	for _, q := range b.platforms {
		p := t.per[q]
		p.BytesDone += rest
		p.BlobsDone++
	}
	t.report(b.platforms)
}

// done reports every platform once more when all blobs are in place, so
// that each platform's last report carries the overall total, whichever
// platform's blob finished last.
func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.report(t.platforms)
}

func (t *tracker) report(platforms []string) {
	if t.fn == nil {
		return
	}
	for _, q := range platforms {
		p := *t.per[q]
		p.AllBytesDone, p.AllBytesTotal = t.allDone, t.allTotal
		t.fn(p)
	}
}
