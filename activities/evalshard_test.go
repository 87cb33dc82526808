package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// TestEvaluateShardedEqualsUnsplit: an evaluation split into EvaluateShard parts (three
// shards of 32 prompts, the last one short) gives exactly the metrics of one Evaluate, bit
// for bit, and the same metrics file: on a task with a known p_data (markov: KL, sampled and
// greedy validity) and on a user's data with a scorer (exact match, F1, scorer_pass).
func TestEvaluateShardedEqualsUnsplit(t *testing.T) {
	a, env := newActivities(t)
	arith, _ := tasks.Get("arith")
	var data bytes.Buffer
	for _, p := range arith.Generate(4, 100) {
		line, _ := json.Marshal(map[string]string{"prompt": p.Prompt, "response": p.Response})
		data.Write(append(line, '\n'))
	}
	if _, err := a.Store.Put(context.Background(), "data/sums.jsonl", data.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		prep PrepareInput
		eval EvaluateInput
	}{
		{"markov", PrepareInput{Run: "es-markov", Task: "markov", N: 30, TestFrac: 0.7, Seed: 3, Context: 64, Shards: 1},
			EvaluateInput{Task: "markov"}},
		{"data", PrepareInput{Run: "es-data", Data: "data/sums.jsonl", TestFrac: 0.8, Seed: 3, Context: 64, Shards: 1},
			EvaluateInput{Scorer: eval.Scorer{Regex: "[0-9]"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prep := run[PrepareOutput](t, env, a.Prepare, tc.prep)
			if prep.NTest <= 64 || prep.NTest%32 == 0 {
				t.Fatalf("%d held-out pairs: the test needs more than two shards of 32, the last one short", prep.NTest)
			}
			base := run[TrainOutput](t, env, a.TrainBase, BaseInput{
				Run: tc.prep.Run, Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64},
				Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 1, BatchSize: 8}, Seed: 3, Train: prep.Train,
			})
			in := tc.eval
			in.Run, in.Round, in.Model, in.Opponent, in.Train, in.Test = tc.prep.Run, 0, base.Model, base.Model, prep.Train, prep.Test
			in.Mu, in.Seed, in.Sampling = 1, 5, model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 12}

			whole := run[EvaluateOutput](t, env, a.Evaluate, in)
			task, _ := evalTask(in.Task)
			// One shard holding every prompt: the model's outputs of an unsplit evaluation.
			one := in
			one.Parts = []storage.Ref{run[EvaluateShardOutput](t, env, a.EvaluateShard, EvaluateShardInput{EvaluateInput: in, Shard: 0, ShardSize: 96}).Part}
			onePart, err := a.loadParts(context.Background(), one, prep.NTest, task)
			if err != nil {
				t.Fatal(err)
			}
			split := in
			for k := 0; k*32 < prep.NTest; k++ {
				out := run[EvaluateShardOutput](t, env, a.EvaluateShard, EvaluateShardInput{EvaluateInput: in, Shard: k, ShardSize: 32})
				if want := min(32, prep.NTest-k*32); out.Prompts != want {
					t.Fatalf("shard %d: %d prompts, want %d", k, out.Prompts, want)
				}
				split.Parts = append(split.Parts, out.Part)
			}
			joined := run[EvaluateOutput](t, env, a.Evaluate, split)
			splitPart, err := a.loadParts(context.Background(), split, prep.NTest, task)
			if err != nil {
				t.Fatal(err)
			}
			// Every prompt's outputs (log-probs, greedy and sampled tokens, KL terms) are the
			// same whichever shard computed them.
			if !reflect.DeepEqual(onePart, splitPart) {
				t.Fatalf("the three shards' outputs differ from one shard's")
			}
			if !reflect.DeepEqual(whole.Values, joined.Values) {
				t.Fatalf("metrics differ:\nunsplit %v\nsharded %v", whole.Values, joined.Values)
			}
			if whole.File.SHA256 != joined.File.SHA256 {
				t.Fatalf("metrics files differ: %s vs %s", whole.File.SHA256, joined.File.SHA256)
			}
			for _, k := range []string{eval.NLL, eval.Distinct2} {
				if _, ok := whole.Values[k]; !ok {
					t.Fatalf("metric %s missing from %v", k, whole.Values)
				}
			}
			if tc.name == "markov" {
				if _, ok := whole.Values[eval.KL]; !ok {
					t.Fatalf("KL missing from %v", whole.Values)
				}
			} else if _, ok := whole.Values[eval.ScorerPass]; !ok {
				t.Fatalf("scorer_pass missing from %v", whole.Values)
			}

			// Parts out of order, or one missing, are refused, naming the fix.
			for _, parts := range [][]storage.Ref{{split.Parts[1], split.Parts[0], split.Parts[2]}, split.Parts[:2]} {
				bad := in
				bad.Parts = parts
				_, err := env.ExecuteActivity(a.Evaluate, bad)
				var app *temporal.ApplicationError
				if !errors.As(err, &app) || app.Type() != ErrInvalidInput || !app.NonRetryable() {
					t.Fatalf("parts %v: got %v, want a non-retryable InvalidInput", parts, err)
				}
			}
		})
	}
}

func TestEvalShardingValidateAndShards(t *testing.T) {
	for _, size := range []int{-32, 1, 100} {
		err := EvalSharding{EvalShardSize: size}.Validate()
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.Field != "eval_shard_size" {
			t.Errorf("size %d: got %v, want an InputError on eval_shard_size", size, err)
		}
	}
	for _, c := range []struct{ size, n, want int }{{0, 10000, 1}, {512, 512, 1}, {512, 513, 2}, {32, 70, 3}, {32, 0, 1}} {
		e := EvalSharding{EvalShardSize: c.size}
		if err := e.Validate(); err != nil {
			t.Errorf("size %d: %v", c.size, err)
		}
		if got := e.Shards(c.n); got != c.want {
			t.Errorf("size %d, %d prompts: %d shards, want %d", c.size, c.n, got, c.want)
		}
	}
}

// TestExactFloatsRoundTrip: every float64, NaN and infinities included, survives JSON.
func TestExactFloatsRoundTrip(t *testing.T) {
	in := exactFloats{-1.2345678901234567, math.SmallestNonzeroFloat64, math.Copysign(0, -1), math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 1e-320}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out exactFloats
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%s: %d values back", b, len(out))
	}
	for i := range in {
		if math.Float64bits(in[i]) != math.Float64bits(out[i]) && !(math.IsNaN(in[i]) && math.IsNaN(out[i])) {
			t.Errorf("value %d: %v became %v (%s)", i, in[i], out[i], b)
		}
	}
}
