// Package browsertest opens pages in a real headless Chromium for tests (through chromedp):
// it records what a page must not do (write an error to the console, throw, request anything
// but local files) and checks from a screenshot that its SVG plots are drawn.
//
// With -short it skips the test. Otherwise a missing Chromium fails the test with a message
// saying to run `apt-get install chromium`: the browser check never skips silently.
package browsertest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium finds a Chromium (or Chrome) binary; "" when none is installed.
func Chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless Chromium tab, closed when the test ends.
type Browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// Start starts Chromium for t (see the package doc), with a 1360x900 window.
func Start(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser check: runs without -short")
	}
	exe := Chromium()
	if exe == "" {
		t.Fatal("Chromium not found: the HTML report is checked in a real headless browser; install it with `apt-get install chromium` (Debian), or run with -short to skip this check")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1360, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(b.event))
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	b.ctx = ctx
	return b
}

// event records a console error or assertion, an uncaught exception, an error of the
// browser's log (e.g. a resource that failed to load) and any request of a non-local URL.
func (b *Browser) event(ev any) {
	var p string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p = "console." + string(e.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		p = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			p += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			p = "log error (" + string(e.Entry.Source) + "): " + e.Entry.Text + " " + e.Entry.URL
		}
	case *network.EventRequestWillBeSent:
		if u := e.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") && u != "about:blank" {
			p = "network request: " + u
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// Open loads a local file and returns the problems seen while loading it.
func (b *Browser) Open(t testing.TB, path string) []string {
	t.Helper()
	b.mu.Lock()
	b.problems = nil
	b.mu.Unlock()
	if err := chromedp.Do(b.ctx, chromedp.Navigate("file://"+path), chromedp.WaitReady("body"), chromedp.Sleep(100*time.Millisecond)); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Text is the page's visible text (document.body.innerText).
func (b *Browser) Text(t testing.TB) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// plot is an svg element's place on the page, in CSS pixels (the screenshot's at scale 1),
// and its series: paths, those drawn as lines (longer than 10 pixels), and dots.
type plot struct {
	ID                 string
	X, Y, W, H         float64
	Paths, Drawn, Dots int
}

// legendH is the height of the legend strip at the top of a chart (report/svg.go's padTop
// less a margin): its coloured swatches are not the plot's lines.
const legendH = 24

// CheckPlots takes a screenshot of the whole page and checks each `svg.chart` in it: at
// least 100x100 pixels, every `path.series` drawn as a line (longer than 10 pixels) unless
// the chart marks its values with dots (a series of one value is a dot), and its area of the
// screenshot, below the legend, holding coloured pixels (lines and dots; axes, grid and text
// are grey), not a blank box. Every id in want must be one of them. It returns the
// screenshot (PNG).
func (b *Browser) CheckPlots(t testing.TB, want []string) []byte {
	t.Helper()
	plots, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]plot](`[...document.querySelectorAll("svg.chart")].map(s => {
		const r = s.getBoundingClientRect();
		const ps = [...s.querySelectorAll("path.series")];
		return {ID: s.id, X: r.left + scrollX, Y: r.top + scrollY, W: r.width, H: r.height,
			Paths: ps.length, Drawn: ps.filter(p => p.getTotalLength() > 10).length, Dots: s.querySelectorAll("circle").length};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range plots {
		seen[p.ID] = true
		if p.W < 100 || p.H < 100 || p.Paths == 0 || (p.Drawn != p.Paths && p.Dots < p.Paths) {
			t.Errorf("%s: %.0fx%.0f px, %d of %d lines drawn, %d dots", p.ID, p.W, p.H, p.Drawn, p.Paths, p.Dots)
			continue
		}
		if n := colored(img, p); n < 30 {
			t.Errorf("%s: %d coloured pixels in its %.0fx%.0f area of the screenshot: the plot looks blank", p.ID, n, p.W, p.H)
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("plot %s is not on the page", id)
		}
	}
	return shot
}

// colored counts the saturated pixels of the screenshot inside the plot's box, below its
// legend.
func colored(img image.Image, p plot) int {
	n := 0
	r := image.Rect(int(p.X), int(p.Y)+legendH, int(p.X+p.W), int(p.Y+p.H)).Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if hi, lo := max(cr, cg, cb)>>8, min(cr, cg, cb)>>8; hi-lo > 80 {
				n++
			}
		}
	}
	return n
}
