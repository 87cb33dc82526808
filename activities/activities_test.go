package activities

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// newActivities starts an S3 gateway for the test and returns activities on it, with an
// activity environment to run them in (heartbeats work there).
func newActivities(t *testing.T) (*Activities, *testsuite.TestActivityEnvironment) {
	st := stacktest.StartS3(t)
	store, err := storage.New(context.Background(), st.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: store}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return a, env
}

func run[T any](t *testing.T, env *testsuite.TestActivityEnvironment, fn, in any) T {
	t.Helper()
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGenerateIndependentOfShards checks the promise behind the seeds: the synthetic data of
// a prompt is the same whether the round ran as one shard or as three.
func TestGenerateIndependentOfShards(t *testing.T) {
	a, env := newActivities(t)
	prep := run[PrepareOutput](t, env, a.Prepare, PrepareInput{Run: "g", Task: "arith", N: 7, TestFrac: 0.3, Seed: 2, Context: 64, Shards: 3})
	base := run[TrainOutput](t, env, a.TrainBase, BaseInput{
		Run: "g", Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64},
		Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 1, BatchSize: 4}, Seed: 2, Train: prep.Train,
	})
	gen := func(round, shard, shards int) GenerateOutput {
		return run[GenerateOutput](t, env, a.Generate, GenerateInput{
			Run: "g", Round: round, Shard: shard, Shards: shards, Opponent: base.Model, Train: prep.Train,
			Mu: 2, Sampling: model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 12}, Seed: 9,
		})
	}
	one, err := a.loadShards(context.Background(), []storage.Ref{gen(1, 0, 1).Shard}, prep.NTrain, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Regenerate round 1 as three shards (shard-000 is overwritten, after it was read).
	var three []storage.Ref
	for k := 0; k < 3; k++ {
		three = append(three, gen(1, k, 3).Shard)
	}
	split, err := a.loadShards(context.Background(), three, prep.NTrain, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range one {
		for j := range one[i].Gen {
			if !equal(one[i].Gen[j], split[i].Gen[j]) {
				t.Errorf("prompt %d sample %d differs: %v vs %v", i, j, one[i].Text[j], split[i].Text[j])
			}
			if math.Abs(one[i].RefGen[j]-split[i].RefGen[j]) > 1e-6 {
				t.Errorf("prompt %d sample %d log-prob %v vs %v", i, j, one[i].RefGen[j], split[i].RefGen[j])
			}
		}
	}
	if one[0].Gen[0] != nil && equal(one[0].Gen[0], one[0].Gen[1]) && equal(one[1].Gen[0], one[1].Gen[1]) {
		t.Errorf("the mu samples of a prompt are identical: seeds do not depend on j")
	}
}

// TestPrepareRejectsLongRecord: a record longer than the context fails the run at once,
// non-retryably, naming the record and the fix.
func TestPrepareRejectsLongRecord(t *testing.T) {
	a, env := newActivities(t)
	data := `{"prompt":"1+1?","response":"2"}` + "\n" + `{"prompt":"` + strings.Repeat("x", 80) + `","response":"y"}` + "\n"
	if _, err := a.Store.Put(context.Background(), "data/long.jsonl", []byte(data)); err != nil {
		t.Fatal(err)
	}
	_, err := env.ExecuteActivity(a.Prepare, PrepareInput{Run: "p", Data: "data/long.jsonl", TestFrac: 0.5, Context: 64, Shards: 1})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrInvalidInput || !app.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable InvalidInput", err)
	}
	for _, want := range []string{"record 2", "exceeds the context of 64", "1 of 2 records do not fit; the longest needs 84 tokens", "at least 84", "base_model.context"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
