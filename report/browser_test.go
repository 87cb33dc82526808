package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/browsertest"
)

var screenshot = flag.String("screenshot", "", "write the browser test's screenshot of report.html to this PNG file")

// TestHTMLInBrowser opens a rendered report in headless Chromium: the page loads with no
// console error, exception or network request, every plot has drawn paths, and in the
// screenshot each plot's area holds coloured pixels (its lines), not a blank box. Without
// Chromium it fails, saying to install it; -short skips it.
func TestHTMLInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	dir := t.TempDir()

	// The check itself works: a page that logs an error and throws is caught.
	canary := filepath.Join(dir, "canary.html")
	if err := os.WriteFile(canary, []byte(`<!DOCTYPE html><body><script>console.error("canary"); throw new Error("boom")</script></body>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := b.Open(t, canary); len(got) < 2 {
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
	if got := b.Open(t, path); len(got) > 0 {
		t.Fatalf("report.html: %d problems in the browser:\n%s", len(got), strings.Join(got, "\n"))
	}
	text := b.Text(t)
	for _, want := range []string{"Best round: 2", "Quito", `<script>console.error("not escaped")</script>`} {
		if !strings.Contains(text, want) {
			t.Errorf("the page's text lacks %q", want)
		}
	}
	shot := b.CheckPlots(t, []string{"plot-task_score", "plot-test_nll", "plot-rewards", "plot-disc_accuracy", "plot-train_loss",
		"plot-exact_match", "plot-base-loss", "plot-train-loss", "plot-train-rewards"})
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if t.Failed() {
		t.Logf("rerun with -args -screenshot=FILE.png to look at the page")
	}
}
