package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// TestTrainLogResumes: the training log a resumed activity writes is the uninterrupted
// one, byte for byte, beside the same model; a self-play round's log has its rewards.
func TestTrainLogResumes(t *testing.T) {
	a, env := newActivities(t)
	ctx := context.Background()
	prep := run[PrepareOutput](t, env, a.Prepare, PrepareInput{Run: "l", Task: "arith", N: 12, TestFrac: 0.25, Seed: 4, Context: 64, Shards: 1})
	in := BaseInput{
		Run: "l", Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64},
		Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 2, BatchSize: 4}, Seed: 4, Train: prep.Train,
		Durability: Durability{CheckpointEvery: 1},
	}
	full := run[TrainOutput](t, env, a.TrainBase, in)
	log := readLog(t, a, full.Log)
	if full.Log.Key != storage.TrainLogKey("l", 0) || len(log) != full.Steps || full.Steps < 4 {
		t.Fatalf("log %s has %d lines for %d steps", full.Log.Key, len(log), full.Steps)
	}
	for i, s := range log {
		if s.Step != i+1 || s.Total != full.Steps || s.Loss <= 0 || s.LR <= 0 || s.Tokens == 0 {
			t.Fatalf("line %d: %+v", i+1, s)
		}
	}
	if log[len(log)-1].Loss != full.FinalLoss {
		t.Errorf("last logged loss %v, final loss %v", log[len(log)-1].Loss, full.FinalLoss)
	}

	// A crash after step 2: the trainer manifest lists the checkpoints up to step 2 only.
	mkey := storage.TrainManifestKey("l", 0)
	m, err := storage.ReadManifest(ctx, a.Store, mkey, "")
	if err != nil {
		t.Fatal(err)
	}
	ck, ok := m.Lookup(storage.TrainCkptKey("l", 0, 2))
	if !ok {
		t.Fatalf("manifest %s does not list step 2: %+v", mkey, m.Keys)
	}
	m.Keys = []storage.Object{ck}
	if _, err := storage.WriteManifest(ctx, a.Store, mkey, m); err != nil {
		t.Fatal(err)
	}
	resumed := run[TrainOutput](t, env, a.TrainBase, in)
	if resumed.ResumedFrom != 2 {
		t.Fatalf("resumed from step %d, want 2", resumed.ResumedFrom)
	}
	if resumed.Log.SHA256 != full.Log.SHA256 || resumed.Model.SHA256 != full.Model.SHA256 {
		t.Errorf("resumed: log %s model %s; uninterrupted: log %s model %s", resumed.Log.SHA256, resumed.Model.SHA256, full.Log.SHA256, full.Model.SHA256)
	}

	// A SPACE round logs the rewards of real and synthetic responses per step.
	gen := run[GenerateOutput](t, env, a.Generate, GenerateInput{
		Run: "l", Round: 1, Shard: 0, Shards: 1, Opponent: full.Model, Train: prep.Train,
		Mu: 1, Sampling: model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 12}, Seed: 4,
	})
	r1 := run[TrainOutput](t, env, a.Train, TrainInput{
		Run: "l", Round: 1, Loss: model.DefaultLoss(), Opponent: full.Model, Train: prep.Train, Shards: []storage.Ref{gen.Shard},
		Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 1, BatchSize: 4}, Seed: 5,
	})
	rlog := readLog(t, a, r1.Log)
	if r1.Log.Key != storage.TrainLogKey("l", 1) || len(rlog) != r1.Steps {
		t.Fatalf("round 1 log %s: %d lines for %d steps", r1.Log.Key, len(rlog), r1.Steps)
	}
	if last := rlog[len(rlog)-1]; last.RewardReal == 0 || last.RewardSynth == 0 || last.RewardReal <= last.RewardSynth {
		t.Errorf("round 1's last step: %+v, want reward_real > reward_synth, both measured", last)
	}
}

func readLog(t *testing.T, a *Activities, ref storage.Ref) []model.StepInfo {
	t.Helper()
	b, err := a.read(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var steps []model.StepInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var s model.StepInfo
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, s)
	}
	return steps
}
