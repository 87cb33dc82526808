package e2e

import (
	"reflect"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
)

// TestEvalShardsSpreadOverWorkers evaluates a held-out set of 75 prompts as three shards of
// 32 (eval_shard_size) on two worker processes that each take one activity at a time, and
// checks that EvaluateShard activities were started by both workers (the identity on
// ActivityTaskStarted) and that every round's metrics are exactly those of a one-worker run
// that evaluates without splitting.
func TestEvalShardsSpreadOverWorkers(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 4*time.Minute)
	defer cancel()

	ref := smallSpec("evalshards-ref", 1, 1)
	ref.TestFrac, ref.MaxEval = 0.7, 0 // 75 held-out prompts, all evaluated
	ref.EvalShardSize = 0              // never split
	spec := ref
	spec.Name, spec.EvalShardSize = "evalshards", 32
	want, got := soloThenPair(ctx, t, e, ref, spec)

	shards := map[string]int{}
	for id, evs := range startedBy(ctx, e, spec.Name, "EvaluateShard") {
		shards[id] = len(evs)
	}
	t.Logf("EvaluateShard activities started per worker: %v", shards)
	if shards["wa"]+shards["wb"] != 6 { // 3 shards for the base and 3 for round 1
		t.Errorf("EvaluateShard ran %v, want 6 in all", shards)
	}
	if shards["wa"] == 0 || shards["wb"] == 0 {
		t.Errorf("EvaluateShard ran on %v, want both wa and wb", shards)
	}
	sameModels(t, got, want)
	for i := range want.Rounds {
		if !reflect.DeepEqual(got.Rounds[i].Metrics, want.Rounds[i].Metrics) {
			t.Errorf("round %d metrics: sharded on two workers %v, unsplit on one %v", i, got.Rounds[i].Metrics, want.Rounds[i].Metrics)
		}
	}
}
