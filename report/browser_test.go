package report

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "write the browser test's screenshot of report.html to this PNG file")

// chromium finds a Chromium (or Chrome) binary; "" when none is installed.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab that records what a page must not do: write an error
// to the console, throw, or request anything but the file itself.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromium()
	if exe == "" {
		t.Fatal("Chromium not found: the HTML report is checked in a real headless browser; install it with `apt-get install chromium` (Debian), or run with -short to skip this check")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1360, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(b.event))
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	b.ctx = ctx
	return b
}

func (b *browser) event(ev any) {
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

// open loads the file and returns the problems seen while loading it.
func (b *browser) open(t *testing.T, path string) []string {
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

// box is a plot's place on the page, in CSS pixels (the screenshot's at scale 1).
type box struct {
	ID           string
	X, Y, W, H   float64
	Paths, Drawn int
}

// TestHTMLInBrowser opens a rendered report in headless Chromium: the page loads with no
// console error, exception or network request, every plot has drawn paths, and in the
// screenshot each plot's area holds coloured pixels (its lines), not a blank box.
func TestHTMLInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser check runs without -short")
	}
	b := newBrowser(t)
	dir := t.TempDir()

	// The check itself works: a page that logs an error and throws is caught.
	canary := filepath.Join(dir, "canary.html")
	if err := os.WriteFile(canary, []byte(`<!DOCTYPE html><body><script>console.error("canary"); throw new Error("boom")</script></body>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := b.open(t, canary); len(got) < 2 {
		t.Fatalf("the canary page's error and exception were not seen: %q", got)
	}

	page, err := HTML("t", "space", "completed", 2, sampleRounds())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := b.open(t, path); len(got) > 0 {
		t.Fatalf("report.html: %d problems in the browser:\n%s", len(got), strings.Join(got, "\n"))
	}
	boxes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]box](`[...document.querySelectorAll("svg.chart")].map(s => {
		const r = s.getBoundingClientRect();
		const ps = [...s.querySelectorAll("path.series")];
		return {ID: s.id, X: r.left + scrollX, Y: r.top + scrollY, W: r.width, H: r.height,
			Paths: ps.length, Drawn: ps.filter(p => p.getTotalLength() > 10).length};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Best round: 2", "Quito", `<script>console.error("not escaped")</script>`} {
		if !strings.Contains(text, want) {
			t.Errorf("the page's text lacks %q", want)
		}
	}
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	want := []string{"plot-task_score", "plot-test_nll", "plot-rewards", "plot-disc_accuracy", "plot-train_loss",
		"plot-exact_match", "plot-base-loss", "plot-train-loss", "plot-train-rewards"}
	seen := map[string]bool{}
	for _, bx := range boxes {
		seen[bx.ID] = true
		if bx.W < 100 || bx.H < 100 || bx.Drawn == 0 || bx.Drawn != bx.Paths {
			t.Errorf("%s: %.0fx%.0f px, %d of %d lines drawn", bx.ID, bx.W, bx.H, bx.Drawn, bx.Paths)
			continue
		}
		if n := colored(img, bx); n < 150 {
			t.Errorf("%s: %d coloured pixels in its %.0fx%.0f area of the screenshot: the plot looks blank", bx.ID, n, bx.W, bx.H)
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("plot %s is not on the page", id)
		}
	}
	if t.Failed() && *screenshot == "" {
		t.Logf("rerun with -args -screenshot=FILE.png to look at the page")
	}
}

// colored counts the saturated pixels (the plot lines; axes, grid and text are grey) of
// the screenshot inside the box.
func colored(img image.Image, bx box) int {
	n := 0
	r := image.Rect(int(bx.X), int(bx.Y), int(bx.X+bx.W), int(bx.Y+bx.H)).Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			hi, lo := max(cr, cg, cb)>>8, min(cr, cg, cb)>>8
			if hi-lo > 80 {
				n++
			}
		}
	}
	return n
}
