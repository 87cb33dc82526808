// Package e2e holds end-to-end tests of space: real worker processes (built from ./worker)
// against a local stack (Temporal dev server + versitygw), killed, restarted and fed bad
// input. See README.md for what each test proves.
package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/workflows"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// smallSpec is a run small enough for a shared 2-core machine: a d32 one-layer model on 32
// arithmetic problems; trainEpochs sets how many steps a round has (32/4 = 8 per epoch).
// The name is the only thing that differs between a run and its reference: it must not
// enter any seed or checkpoint.
func smallSpec(name string, rounds, trainEpochs int) workflows.RunSpec {
	s := workflows.DefaultSpec() // space, mu 1, temperature 1, test_frac 0.2, context 64
	s.Name, s.Rounds, s.Task, s.N, s.Seed, s.Shards, s.MaxEval = name, rounds, "arith", 32, 7, 2, 4
	s.Epochs, s.BatchSize, s.LR = trainEpochs, 4, 1e-3
	s.Generation.MaxNewTokens = 20
	s.BaseModel.DModel, s.BaseModel.Layers, s.BaseModel.Heads, s.BaseModel.Epochs = 32, 1, 2, 1
	s.CheckpointEvery, s.ContinueAsNewEvery = 2, 1
	s.Timeouts = workflows.Timeouts{HeartbeatSeconds: 3, ActivityMinutes: 5}
	return s
}

// runToEnd waits for a run and fails the test unless it completed.
func runToEnd(ctx context.Context, t *testing.T, e *harness.Env, spec workflows.RunSpec, logs ...*harness.Worker) workflows.RunResult {
	t.Helper()
	var res workflows.RunResult
	err := e.Client.GetWorkflow(ctx, workflows.WorkflowID(spec.Name), "").Get(ctx, &res)
	if err != nil || res.Status != workflows.StatusCompleted {
		for _, w := range logs {
			t.Logf("log of %s:\n%s", w.Identity, tail(w.Log(), 6000))
		}
		t.Fatalf("run %s: %v (result %+v)", spec.Name, err, res)
	}
	return res
}

// sameModels checks that two runs produced byte-identical models in every round.
func sameModels(t *testing.T, got, want workflows.RunResult) {
	t.Helper()
	if len(got.Rounds) != len(want.Rounds) {
		t.Fatalf("%s has %d rounds, %s has %d", got.Run, len(got.Rounds), want.Run, len(want.Rounds))
	}
	for i := range got.Rounds {
		g, w := got.Rounds[i], want.Rounds[i]
		if g.ModelSHA256 != w.ModelSHA256 {
			t.Errorf("round %d: %s model sha256 %s, %s %s", g.Round, got.Run, short(g.ModelSHA256), want.Run, short(w.ModelSHA256))
		}
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func timeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
