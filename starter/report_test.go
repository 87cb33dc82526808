package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/browsertest"
)

// testReport (part of TestCLI, on its completed run "cli") downloads the run's report: the
// HTML page with the per-step training plots and, for the SPACE round, the train prompts
// with the synthetic responses the opponent wrote; report.md beside it. The page is opened in
// headless Chromium.
func testReport(t *testing.T, res runOutput) {
	dir := filepath.Join(t.TempDir(), "rep")
	var rep reported
	if err := json.Unmarshal(capture(t, cmdReport, "cli", "--out", dir, "--json"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Run != "cli" || rep.HTML != filepath.Join(dir, "report.html") {
		t.Errorf("report --json: %+v", rep)
	}
	for _, name := range []string{"report.html", "report.md", "test_nll.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(rep.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"Best round: " + string(rune('0'+res.BestRound)), `id="plot-base-loss"`, `id="plot-train-loss"`, `id="plot-train-rewards"`,
		`id="plot-test_nll"`, "synthetic responses (opponent)", `<ol class="synth"><li>`, "Held-out prompts",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// The real run's page in headless Chromium: no console error, every plot drawn.
	br := browsertest.Start(t)
	if got := br.Open(t, rep.HTML); len(got) > 0 {
		t.Errorf("report.html of run cli in the browser:\n%s", strings.Join(got, "\n"))
	}
	br.CheckPlots(t, []string{"plot-test_nll", "plot-rewards", "plot-base-loss", "plot-train-loss", "plot-train-rewards"})

	if out := string(capture(t, cmdReport, "cli", "--out", dir)); !strings.Contains(out, "open file://"+filepath.ToSlash(rep.HTML)) {
		t.Errorf("report printed:\n%s", out)
	}
	err = cmdReport(context.Background(), []string{"no-such-run", "--out", dir})
	if err == nil || !strings.Contains(err.Error(), "has no report.html") || !strings.Contains(err.Error(), "Temporal does not know the run") {
		t.Errorf("report of an unknown run: %v", err)
	}
}
