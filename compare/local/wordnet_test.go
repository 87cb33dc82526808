package local

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/space-sft/space/compare"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/tasks"
	"github.com/space-sft/space/workflows"
)

// TestWordNetCompare runs a tiny comparison on the wordnet task's committed sample against a
// real local stack: a base pre-trained on GCIDE glosses, SFT and SPACE on 16 WordNet pairs,
// one round. Every run completes with the held-out NLL of the real glosses and the exact
// gloss rate (task_score), and the report says the base was pre-trained on wordnet's corpus
// and that the data were the committed sample.
func TestWordNetCompare(t *testing.T) {
	t.Setenv(tasks.WordNetDataEnv, "") // the committed sample, whatever this machine has
	st := stacktest.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out := t.TempDir()
	spec := compare.Quick("tiny-wordnet", "wordnet")
	spec.N, spec.NEval, spec.Rounds = 16, 16, 1
	spec.Arms = []compare.Arm{spec.Arms[0], spec.Arms[3]} // sft-n, space
	spec.Model.DModel = 16
	spec.Pretrain = compare.PretrainSpec{N: 300, Epochs: 1}
	if spec.Model.Context != 128 || spec.Generation.MaxNewTokens != 80 {
		t.Fatalf("wordnet's quick spec: context %d, max new tokens %d; want 128, 80", spec.Model.Context, spec.Generation.MaxNewTokens)
	}
	var log bytes.Buffer
	if err := RunOn(ctx, st.TemporalAddress(), st.StorageConfig(), out, spec, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	dir := filepath.Join(out, "tiny-wordnet")
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res compare.ReportInput
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Final) != 2 {
		t.Fatalf("%d final runs, want 2", len(res.Final))
	}
	for _, r := range res.Final {
		if r.Status != workflows.StatusCompleted || len(r.Rounds) != 2 {
			t.Fatalf("run %s: status %s, %d rounds: %s", r.Run, r.Status, len(r.Rounds), r.Error)
		}
		for _, rr := range r.Rounds {
			nll, ok := rr.Metrics[eval.NLL]
			score, ok2 := rr.Metrics[eval.TaskScore]
			if !ok || !ok2 || !(nll > 0) || math.IsInf(nll, 0) || score < 0 || score > 1 {
				t.Errorf("run %s round %d: test_nll %v (%v), task_score %v (%v)", r.Run, rr.Round, nll, ok, score, ok2)
			}
			if _, ok := rr.Metrics[eval.KL]; ok {
				t.Errorf("run %s round %d has a KL: wordnet has no known p_data", r.Run, rr.Round)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"task wordnet", "wordnet pretrain corpus", "task data: the committed sample", "### test_nll", "| space |"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
}
