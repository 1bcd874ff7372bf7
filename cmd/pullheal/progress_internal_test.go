package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pullheal/pullheal/internal/fleet"
	"github.com/pullheal/pullheal/internal/imagesync"
	"github.com/pullheal/pullheal/internal/mirror"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9]*[A-Za-z]|\r`)

// TestProgressFitsTheTerminal: at every width, down to 80 columns and
// below, no drawn line reaches the last column (a line that wraps breaks
// the redraw in place), and a redraw moves back up over what it drew.
func TestProgressFitsTheTerminal(t *testing.T) {
	for _, width := range []int{200, 80, 60, 40, 20} {
		var out bytes.Buffer
		b := &progressBar{block: liveBlock{w: &out, width: width}, per: map[string]mirror.Progress{}}
		for _, p := range []mirror.Progress{
			{Platform: "linux/arm64/v8", BytesDone: 3 << 20, BytesTotal: 200 << 20, BlobsDone: 1, BlobsTotal: 12},
			{Platform: "windows/amd64:10.0.17763.1234", BytesDone: 200 << 30, BytesTotal: 200 << 30, BlobsDone: 120, BlobsTotal: 120},
		} {
			b.update(p)
		}
		b.finish()
		screen := emulate(out.String())
		if len(screen) != 2 || !strings.HasPrefix(screen[0], "linux/a") || !strings.HasPrefix(screen[1], "windows") {
			t.Errorf("width %d: the screen holds %q, want the two bars once each", width, screen)
		}
		for _, line := range strings.Split(ansi.ReplaceAllString(out.String(), ""), "\n") {
			if n := utf8.RuneCountInString(line); n >= width {
				t.Errorf("width %d: %d columns: %q", width, n, line)
			}
		}
	}
	long := progressLine(strings.Repeat("docker.io/library/averyveryverylongname", 3)+":1.27", 5<<20, 10<<20, "", 80)
	if n := utf8.RuneCountInString(long); n >= 80 || !strings.Contains(long, "[") {
		t.Errorf("a long image name: %d columns, %q", n, long)
	}
}

// TestSyncProgressOnATerminal: a bar per image being copied below the
// lines of those done; the bars go when the sync ends.
func TestSyncProgressOnATerminal(t *testing.T) {
	var out bytes.Buffer
	p := &syncProgress{out: &out, block: &liveBlock{w: &out, width: 80}, active: map[string]mirror.Progress{}}
	p.progress("docker.io/library/nginx:1.27", mirror.Progress{AllBytesDone: 1 << 20, AllBytesTotal: 4 << 20})
	p.block.last = time.Time{}
	p.progress("docker.io/library/redis:7.2", mirror.Progress{AllBytesDone: 2 << 20, AllBytesTotal: 4 << 20})
	screen := emulate(out.String())
	if len(screen) != 2 || !strings.HasPrefix(screen[0], "docker.io/library/nginx") || !strings.HasPrefix(screen[1], "docker.io/library/redis") {
		t.Fatalf("two bars: %q", screen)
	}
	p.done(imageDone("docker.io/library/nginx:1.27"))
	screen = emulate(out.String())
	if len(screen) != 2 || !strings.HasPrefix(screen[0], "copied docker.io/library/nginx:1.27") || !strings.HasPrefix(screen[1], "docker.io/library/redis") {
		t.Fatalf("after nginx: %q", screen)
	}
	p.done(imageDone("docker.io/library/redis:7.2"))
	p.finish()
	screen = emulate(out.String())
	if len(screen) != 2 || !strings.HasPrefix(screen[1], "copied docker.io/library/redis:7.2") {
		t.Errorf("at the end: %q", screen)
	}
	for _, line := range screen {
		if utf8.RuneCountInString(line) >= 80 && strings.Contains(line, "[") {
			t.Errorf("a bar wider than the terminal: %q", line)
		}
	}
}

// TestSyncProgressLines: off a terminal each image gets one line as it
// finishes, and nothing else.
func TestSyncProgressLines(t *testing.T) {
	var out, errOut bytes.Buffer
	p := newSyncProgress(&out, &errOut)
	if p.block != nil {
		t.Fatal("a buffer is not a terminal")
	}
	p.done(imageDone("docker.io/library/nginx:1.27"))
	p.done(imageDone("docker.io/library/redis:7.2"))
	p.finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "copied docker.io/library/nginx:1.27 -> ") || strings.Contains(out.String(), "\x1b") {
		t.Errorf("output %q", out.String())
	}
}

func imageDone(src string) imagesync.Image {
	return imagesync.Image{Source: src, Target: "registry.example/mirror/x", Digest: "sha256:" + strings.Repeat("a", 64), Action: imagesync.Copied}
}

// emulate plays terminal output (the escapes liveBlock writes: cursor up,
// clear line, carriage return) onto a screen and returns its rows.
func emulate(out string) []string {
	var rows []string
	row := 0
	set := func(s string) {
		for len(rows) <= row {
			rows = append(rows, "")
		}
		rows[row] = s
	}
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b["):
			j := i + 2
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			n := 1
			if j > i+2 {
				n = 0
				for _, c := range out[i+2 : j] {
					n = n*10 + int(c-'0')
				}
			}
			switch out[j] {
			case 'A':
				row = max(row-n, 0)
			case 'K':
				set("")
			}
			i = j + 1
		case out[i] == '\r':
			i++
		case out[i] == '\n':
			row++
			i++
		default:
			j := i
			for j < len(out) && out[j] != '\n' && out[j] != '\x1b' && out[j] != '\r' {
				j++
			}
			for len(rows) <= row {
				rows = append(rows, "")
			}
			rows[row] += out[i:j]
			i = j
		}
	}
	for len(rows) > 0 && rows[len(rows)-1] == "" {
		rows = rows[:len(rows)-1]
	}
	return rows
}

// TestScanProgressOnATerminal: one line, redrawn in place as the stages
// advance, never reaching the last column, and gone when the scan ends.
func TestScanProgressOnATerminal(t *testing.T) {
	for _, width := range []int{120, 80, 30} {
		var out bytes.Buffer
		s := &scanProgress{block: liveBlock{w: &out, width: width}}
		s.update(fleet.Progress{Stage: fleet.StageClusters, Done: 0, Total: 50})
		s.update(fleet.Progress{Stage: fleet.StageClusters, Done: 50, Total: 50, Services: 1000})
		screen := emulate(out.String())
		if len(screen) != 1 || !strings.HasPrefix(screen[0], "scan: clusters") || (width >= 80 && !strings.Contains(screen[0], "50/50, 1000 services read")) {
			t.Errorf("width %d: the screen holds %q, want one line at 50/50 clusters", width, screen)
		}
		s.update(fleet.Progress{Stage: fleet.StageTaskDefinitions, Done: 120, Total: 120, Services: 1000})
		if screen = emulate(out.String()); len(screen) != 1 || !strings.HasPrefix(screen[0], "scan: task definitions") {
			t.Errorf("width %d: after the next stage the screen holds %q", width, screen)
		}
		for _, line := range strings.Split(ansi.ReplaceAllString(out.String(), ""), "\n") {
			if n := utf8.RuneCountInString(line); n >= width {
				t.Errorf("width %d: %d columns: %q", width, n, line)
			}
		}
		s.finish()
		if screen = emulate(out.String()); strings.Join(screen, "") != "" {
			t.Errorf("width %d: after finish the screen holds %q, want nothing", width, screen)
		}
	}
	var none *scanProgress
	none.finish() // stderr is not a terminal: nothing to clear
}
