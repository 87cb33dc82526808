package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// TestDataParallelRound runs a round over two workers by hand (what the workflow does): 12
// pairs, shards of 6, batch 2, 2 epochs = 6 inner steps per worker, 3 per outer step: 2 outer
// steps. It checks that CombineOuter's weights are model.OuterConfig.OuterStep of the
// workers' (byte for byte), that a retried TrainWorker writes the same bytes, that one
// resumed after a crash inside the outer step (from its checkpoint at inner step 4) ends
// with the same trainer and weights, that the last combination writes the round's model and
// a log of every worker's steps, and that a trainer of another outer step is refused.
func TestDataParallelRound(t *testing.T) {
	a, env := newActivities(t)
	ctx := context.Background()
	prep := run[PrepareOutput](t, env, a.Prepare, PrepareInput{Run: "dp", Task: "arith", N: 12, TestFrac: 0.25, Seed: 4, Context: 64, Shards: 1})
	base := run[TrainOutput](t, env, a.TrainBase, BaseInput{
		Run: "dp", Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64},
		Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 1, BatchSize: 4}, Seed: 4, Train: prep.Train,
	})
	gen := run[GenerateOutput](t, env, a.Generate, GenerateInput{
		Run: "dp", Round: 1, Shard: 0, Shards: 1, Opponent: base.Model, Train: prep.Train,
		Mu: 1, Sampling: model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 12}, Seed: 4,
	})
	outer := model.OuterConfig{TrainWorkers: 2, LocalSteps: 3, OuterLR: 0.7, OuterMomentum: 0.9}
	optim := model.OptimConfig{Optimizer: "rmsprop", LR: 1e-3, Epochs: 2, BatchSize: 2}
	steps, err := outer.OuterSteps(prep.NTrain, optim)
	if err != nil || steps != 2 {
		t.Fatalf("outer steps %d (%v), want 2", steps, err)
	}
	worker := func(t0, k int, global, state storage.Ref) TrainWorkerInput {
		return TrainWorkerInput{
			Run: "dp", Round: 1, Loss: model.DefaultLoss(), Train: prep.Train, Shards: []storage.Ref{gen.Shard},
			Optim: optim, Seed: 5, Durability: Durability{CheckpointEvery: 1}, Outer: outer,
			Worker: k, Step: t0, Global: global, State: state,
		}
	}

	global, momentum := base.Model, storage.Ref{}
	states := make([]storage.Ref, 2)
	var outs [2][2]TrainWorkerOutput
	var last CombineOutput
	for step := 0; step < steps; step++ {
		models := make([]storage.Ref, 2)
		var logs []storage.Ref
		for k := 0; k < 2; k++ {
			o := run[TrainWorkerOutput](t, env, a.TrainWorker, worker(step, k, global, states[k]))
			if want := min(3*(step+1), 6); o.Steps != want || o.Total != 6 {
				t.Fatalf("outer step %d worker %d: at inner step %d of %d, want %d of 6", step, k, o.Steps, o.Total, want)
			}
			if (o.Log.Key != "") != (step == 1) {
				t.Errorf("outer step %d worker %d: log %q, want one only once the shard is done", step, k, o.Log.Key)
			}
			outs[step][k], states[k], models[k] = o, o.State, o.Model
			if o.Log.Key != "" {
				logs = append(logs, o.Log)
			}
		}
		in := CombineInput{Run: "dp", Round: 1, Step: step, Steps: steps, Outer: outer, Global: global, Workers: models, Momentum: momentum}
		if step == steps-1 {
			in.Logs = logs
		}
		co := run[CombineOutput](t, env, a.CombineOuter, in)
		// The combination is OuterStep of what the workers saved, byte for byte.
		g, err := a.loadModel(ctx, global)
		if err != nil {
			t.Fatal(err)
		}
		var locals []*model.GPT
		for _, m := range models {
			l, err := a.loadModel(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			locals = append(locals, l)
		}
		st := model.NewOuterState(g)
		if momentum.Key != "" {
			b, err := a.read(ctx, momentum)
			if err != nil {
				t.Fatal(err)
			}
			if st, err = model.LoadOuterState(bytes.NewReader(b), g); err != nil {
				t.Fatal(err)
			}
		}
		if err := outer.OuterStep(g, locals, st); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := g.Save(&buf); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != co.Global.SHA256 {
			t.Fatalf("outer step %d: CombineOuter's weights differ from OuterStep's", step)
		}
		global, momentum, last = co.Global, co.Momentum, co
	}
	if global.Key != storage.RoundModelKey("dp", 1) {
		t.Errorf("the last combination wrote %s, want the round's model", global.Key)
	}
	if lines := readLog(t, a, last.Log); len(lines) != 12 || last.Log.Key != storage.TrainLogKey("dp", 1) {
		t.Errorf("round log %s has %d lines, want 12 (6 inner steps x 2 workers)", last.Log.Key, len(lines))
	}

	// A retry of worker 1's first outer step writes the same bytes.
	again := run[TrainWorkerOutput](t, env, a.TrainWorker, worker(0, 1, base.Model, storage.Ref{}))
	if again.State != outs[0][1].State || again.Model != outs[0][1].Model {
		t.Errorf("a retried worker wrote other bytes: %+v, first %+v", again, outs[0][1])
	}

	// A crash of worker 0 in outer step 1 after inner step 4: its manifest lists step 4 only.
	mkey := storage.OuterWorkerManifestKey("dp", 1, 1, 0)
	m, err := storage.ReadManifest(ctx, a.Store, mkey, "")
	if err != nil {
		t.Fatal(err)
	}
	ck, ok := m.Lookup(storage.OuterWorkerCkptKey("dp", 1, 1, 0, 4))
	if !ok {
		t.Fatalf("manifest %s does not list inner step 4: %+v", mkey, m.Keys)
	}
	m.Keys = []storage.Object{ck}
	if _, err := storage.WriteManifest(ctx, a.Store, mkey, m); err != nil {
		t.Fatal(err)
	}
	g1 := storage.Ref{Key: storage.OuterGlobalKey("dp", 1, 0)}
	obj, err := a.Store.Stat(ctx, g1.Key)
	if err != nil {
		t.Fatal(err)
	}
	resumed := run[TrainWorkerOutput](t, env, a.TrainWorker, worker(1, 0, obj.Ref(), outs[0][0].State))
	if resumed.ResumedFrom != 4 || resumed.State != outs[1][0].State || resumed.Model != outs[1][0].Model {
		t.Errorf("resumed worker: from %d, state %s, model %s; uninterrupted: state %s, model %s",
			resumed.ResumedFrom, resumed.State.SHA256, resumed.Model.SHA256, outs[1][0].State.SHA256, outs[1][0].Model.SHA256)
	}

	// A trainer of outer step 1 offered as the state before outer step 1 is refused (its
	// checkpoints within the step removed, so that the state is what the worker starts from).
	if err := a.Store.Delete(ctx, storage.OuterWorkerManifestKey("dp", 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	_, err = env.ExecuteActivity(a.TrainWorker, worker(1, 1, obj.Ref(), outs[1][1].State))
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || !strings.Contains(app.Error(), "belongs to another outer step") {
		t.Errorf("worker given the trainer of another outer step: %v, want a non-retryable error", err)
	}
}
