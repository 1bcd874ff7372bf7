package main

// Progress on a terminal for mirror, sync and scan: bars cut to the width
// and redrawn in place.

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/mirror"
	"golang.org/x/term"
)

// terminalWidth returns the columns of w when it is a terminal.
func terminalWidth(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		cols = 80
	}
	return cols, true
}

// liveBlock keeps a block of lines at the bottom of a terminal and redraws
// it in place: the cursor goes back up over the lines drawn last, each line
// is cleared and rewritten. Lines are cut to the terminal's width, so that
// none wraps and throws the count off.
type liveBlock struct {
	w     io.Writer
	width int
	drawn int
	last  time.Time
}

// redrawEvery bounds how often the block is redrawn.
const redrawEvery = 100 * time.Millisecond

func (l *liveBlock) draw(lines []string, force bool) {
	now := time.Now()
	if !force && now.Sub(l.last) < redrawEvery {
		return
	}
	l.last = now
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", l.drawn)
	}
	for _, line := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(clip(line, l.width-1))
		b.WriteByte('\n')
	}
	// Lines left over from a taller block are cleared.
	for i := len(lines); i < l.drawn; i++ {
		b.WriteString("\r\x1b[2K\n")
	}
	if extra := l.drawn - len(lines); extra > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	l.drawn = len(lines)
	io.WriteString(l.w, b.String())
}

// above prints a permanent line above the block.
func (l *liveBlock) above(line string, block []string) {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\x1b[%dA", l.drawn)
	}
	fmt.Fprintf(l.w, "\r\x1b[2K%s\n", line)
	for i := 1; i < l.drawn; i++ {
		io.WriteString(l.w, "\r\x1b[2K\n")
	}
	if l.drawn > 1 {
		fmt.Fprintf(l.w, "\x1b[%dA", l.drawn-1)
	}
	l.drawn = 0
	l.draw(block, true)
}

// progressLine renders one bar line in width columns: a label, a bar that
// takes what the numbers leave, bytes and blobs.
func progressLine(label string, done, total int64, note string, width int) string {
	stats := fmt.Sprintf(" %s/%s%s", humanBytes(done), humanBytes(total), note)
	labelW := min(len([]rune(label)), max(width/3, 8))
	label = clip(label, labelW)
	barW := width - 1 - labelW - 1 - len(stats) - 2
	if barW < 5 {
		return clip(label+stats, width-1)
	}
	return fmt.Sprintf("%-*s %s%s", labelW, label, bar(done, total, barW), stats)
}

// progressBar draws one line per platform on a terminal; it is nil (and
// its methods do nothing) when stderr is not one.
type progressBar struct {
	mu    sync.Mutex
	block liveBlock
	per   map[string]mirror.Progress
}

func newProgressBar(w io.Writer) *progressBar {
	width, ok := terminalWidth(w)
	if !ok {
		return nil
	}
	return &progressBar{block: liveBlock{w: w, width: width}, per: map[string]mirror.Progress{}}
}

func (b *progressBar) update(p mirror.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.per[p.Platform] = p
	b.block.draw(b.lines(), false)
}

func (b *progressBar) lines() []string {
	keys := make([]string, 0, len(b.per))
	for k := range b.per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		p := b.per[k]
		out = append(out, progressLine(orAll(k), p.BytesDone, p.BytesTotal, fmt.Sprintf(" %d/%d", p.BlobsDone, p.BlobsTotal), b.block.width))
	}
	return out
}

func (b *progressBar) finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.block.draw(b.lines(), true)
}

func orAll(platform string) string {
	if platform == "" {
		return "all"
	}
	return platform
}

func bar(done, total int64, width int) string {
	n := width
	if total > 0 {
		n = int(int64(width) * min(done, total) / total)
	}
	n = max(n, 0)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

// clip cuts s to n columns (runes) keeping its start, ending in "~" when it
// cut: a progress line starts with what it is about, and its numbers are
// redrawn anyway. Tables keep both ends instead (fit).
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "~"
}

// scanProgress keeps one line at the bottom of a terminal while scan reads
// a large fleet (and applies to it): the stage, a bar, and the services
// read so far. It is nil, and does nothing, when stderr is not a terminal.
type scanProgress struct {
	block liveBlock
}

func newScanProgress(w io.Writer) *scanProgress {
	width, ok := terminalWidth(w)
	if !ok {
		return nil
	}
	return &scanProgress{block: liveBlock{w: w, width: width}}
}

// update draws p; fleet calls it one call at a time. The end of a stage is
// always drawn, so the last count shown is the true one.
func (s *scanProgress) update(p fleet.Progress) {
	s.block.draw([]string{scanProgressLine(p, s.block.width)}, p.Done == p.Total)
}

// finish clears the line: the report follows on stdout.
func (s *scanProgress) finish() {
	if s == nil {
		return
	}
	s.block.draw(nil, true)
}

func scanProgressLine(p fleet.Progress, width int) string {
	label := "scan: " + p.Stage
	stats := fmt.Sprintf(" %d/%d, %d services read", p.Done, p.Total, p.Services)
	barW := width - 1 - len(label) - 1 - len(stats) - 2
	if barW < 5 {
		return clip(label+stats, width-1)
	}
	return label + " " + bar(int64(p.Done), int64(p.Total), barW) + stats
}
