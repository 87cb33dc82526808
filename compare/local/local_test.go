package local

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/workflows"
)

// TestQuickCompare runs `--quick` (the exact QuickCompare spec: 4 arms x 1 seed x 2 rounds
// on markov, a d32 model; about 20 s on 2 cores) against a real local stack and checks that
// the report is complete and well-formed: every arm completed every round, compare.md has
// every section, results.json parses, and every metric has a PNG that decodes.
func TestQuickCompare(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out := t.TempDir()
	spec := compare.Preset("markov", true, "", 0, 0, 0)
	var log bytes.Buffer
	if err := RunOn(ctx, st.TemporalAddress(), st.StorageConfig(), out, spec, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	dir := filepath.Join(out, "quick-markov")
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	var res compare.ReportInput
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	full := spec.Defaults()
	if len(res.Final) != len(full.Arms)*len(full.Seeds) {
		t.Fatalf("%d final runs, want %d", len(res.Final), len(full.Arms)*len(full.Seeds))
	}
	for _, r := range res.Final {
		if r.Status != workflows.StatusCompleted || len(r.Rounds) != full.Rounds+1 {
			t.Errorf("run %s: status %s, %d rounds: %s", r.Run, r.Status, len(r.Rounds), r.Error)
			continue
		}
		for _, rr := range r.Rounds {
			for _, m := range []string{eval.KL, eval.NLL, eval.SampleValid, eval.GreedyValid, eval.SampleChars, eval.DataChars} {
				if _, ok := rr.Metrics[m]; !ok {
					t.Errorf("run %s round %d lacks %s", r.Run, rr.Round, m)
				}
			}
			if r.Arm == "space" && rr.Round > 0 {
				if _, ok := rr.Metrics[eval.DiscAccuracy]; !ok {
					t.Errorf("space round %d lacks the rewards", rr.Round)
				}
			}
		}
	}
	for _, want := range []string{"## Arms and the search", "## Test results", "### kl", "### test_nll", "### sample_valid",
		"### reward_margin", "## Paired differences", "| sft-4n |", "| spin |", "| space |", "Wall time"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("compare.md lacks %q", want)
		}
	}
	if bytes.Contains(md, []byte("NaN")) || bytes.Contains(md, []byte("Failed runs")) {
		t.Errorf("compare.md has NaN or failed runs:\n%s", md)
	}
	_, figs := compare.RenderMarkdown(res)
	if len(figs) < 8 {
		t.Errorf("only %d figures: %v", len(figs), figs)
	}
	for _, f := range figs {
		name := "compare_" + f + ".png"
		if !bytes.Contains(md, []byte("("+name+")")) {
			t.Errorf("compare.md does not link %s", name)
		}
		fh, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil || img.Bounds().Dx() < 400 {
			t.Errorf("%s: not a sensible PNG (%v)", name, err)
		}
	}
	if !strings.Contains(log.String(), "comparison done in") {
		t.Errorf("no summary line in the log:\n%s", log.String())
	}
	t.Logf("quick comparison: %s", strings.SplitN(log.String()[strings.Index(log.String(), "comparison done"):], "\n", 2)[0])
}
