package local

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/workflows"
)

// TestPaperRegimeCompare runs the paper preset's machinery at a tiny size on a real local
// stack: the pre-trained base is SFT'd on M target pairs, the epoch of best validation NLL
// is every arm's round 0, proximal SFT runs as an arm, and every round of every final run
// carries the forgetting metric, equal at round 0 (one base) and moved by training.
func TestPaperRegimeCompare(t *testing.T) {
	spec := compare.Spec{
		Name: "tiny-paper", Task: "markov", N: 32, Seeds: []uint64{1}, Rounds: 2, NEval: 16,
		Arms: []compare.Arm{
			{Name: "sft-n", Method: "sft", LRs: []float64{1e-3}},
			{Name: "space", Method: "space", Mu: 1, LRs: []float64{1e-3}},
			{Name: "psft", Method: "psft", Mu: 1, LRs: []float64{1e-3}, Betas: []float64{0.5}},
		},
		Model:        model.Shape{DModel: 32, Layers: 2, Heads: 4, Context: 64},
		Pretrain:     compare.PretrainSpec{N: 600, Epochs: 1},
		TargetSFT:    compare.TargetSFTSpec{M: 256, Epochs: 2},
		SelectRound0: true, SourceEval: 16,
	}
	_, md, res, _ := runCompare(t, spec, 6*time.Minute)
	if !strings.Contains(res.TargetSFT, "tiny-paper-sft") || !res.SelectRound0 {
		t.Fatalf("report input: target SFT %q, select_round0 %v", res.TargetSFT, res.SelectRound0)
	}
	if len(res.Final) != 3 {
		t.Fatalf("%d final runs, want 3", len(res.Final))
	}
	round0 := math.NaN()
	moved := false
	for _, r := range res.Final {
		if r.Status != workflows.StatusCompleted || len(r.Rounds) != 3 {
			t.Fatalf("run %s: status %s, %d rounds: %s", r.Run, r.Status, len(r.Rounds), r.Error)
		}
		// Every arm starts from the target SFT's chosen epoch, named in the report.
		if !strings.Contains(res.TargetSFT, "`"+r.Rounds[0].ModelKey+"`") {
			t.Errorf("run %s starts from %s, not the target SFT's model (%s)", r.Run, r.Rounds[0].ModelKey, res.TargetSFT)
		}
		for _, rr := range r.Rounds {
			v, ok := rr.Metrics[compare.SourceNLL]
			if !ok || !(v > 0) || math.IsInf(v, 0) {
				t.Fatalf("run %s round %d: source_nll %v (%v)", r.Run, rr.Round, v, ok)
			}
			if rr.Round == 0 {
				if !math.IsNaN(round0) && v != round0 {
					t.Errorf("round 0 source_nll differs across arms: %v and %v", round0, v)
				}
				round0 = v
			} else if v != round0 {
				moved = true
			}
		}
	}
	if !moved {
		t.Error("source_nll never moved from round 0's")
	}
	for _, want := range []string{"Starting point (the paper's regime)", "### source_nll", "| psft |", "Round 0 may be chosen", "steps per round"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("compare.md lacks %q", want)
		}
	}
	if bytes.Contains(md, []byte("Failed runs")) {
		t.Errorf("failed runs:\n%s", md)
	}
}
