package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// TestTrainRestartsFromOldTrainerFormat: a round whose only listed trainer checkpoint is of
// format 1 (float64 optimizer moments, written by earlier builds) is not resumed from it:
// the activity logs why and trains again from step 0, to the same bits as an undisturbed
// run.
func TestTrainRestartsFromOldTrainerFormat(t *testing.T) {
	a, env := newActivities(t)
	ctx := context.Background()
	prep := run[PrepareOutput](t, env, a.Prepare, PrepareInput{Run: "f", Task: "arith", N: 12, TestFrac: 0.25, Seed: 4, Context: 64, Shards: 1})
	in := BaseInput{
		Run: "f", Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64},
		Optim: model.OptimConfig{Optimizer: "adam", LR: 3e-3, Epochs: 2, BatchSize: 4}, Seed: 4, Train: prep.Train,
		Durability: Durability{CheckpointEvery: 1},
	}
	full := run[TrainOutput](t, env, a.TrainBase, in)

	mkey := storage.TrainManifestKey("f", 0)
	m, err := storage.ReadManifest(ctx, a.Store, mkey, "")
	if err != nil {
		t.Fatal(err)
	}
	// The manifest lists steps 1 and 2, both rewritten as format 1. The newest is refused
	// for its format; the earlier one shares it, so it is not even read.
	var keys []storage.Object
	for _, step := range []int{1, 2} {
		ck, ok := m.Lookup(storage.TrainCkptKey("f", 0, step))
		if !ok {
			t.Fatalf("manifest %s does not list step %d: %+v", mkey, step, m.Keys)
		}
		b, err := a.Store.Get(ctx, ck.Key, ck.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		old, err := a.Store.Put(ctx, ck.Key, trainerFormat1(t, b))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, old)
	}
	m.Keys = keys
	if _, err := storage.WriteManifest(ctx, a.Store, mkey, m); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a.Log = slog.New(slog.NewTextHandler(&logs, nil))
	again := run[TrainOutput](t, env, a.TrainBase, in)
	if again.ResumedFrom != 0 {
		t.Fatalf("resumed from step %d of a format 1 checkpoint, want a restart from 0", again.ResumedFrom)
	}
	if again.Model.SHA256 != full.Model.SHA256 {
		t.Errorf("restarted run's model %s, undisturbed %s", again.Model.SHA256, full.Model.SHA256)
	}
	if l := logs.String(); !strings.Contains(l, "skipping trainer checkpoint") || !strings.Contains(l, "trainer checkpoint format 1") {
		t.Errorf("the log does not say why the checkpoint was skipped:\n%s", l)
	}
	if l := logs.String(); strings.Count(l, `msg="skipping trainer checkpoint"`) != 1 || !strings.Contains(l, "skipping the earlier trainer checkpoints too") {
		t.Errorf("the earlier format-1 checkpoint was read too (the newest one's refusal covers it):\n%s", l)
	}
}

// trainerFormat1 rewrites a trainer checkpoint as earlier builds wrote it: the optimizer's
// moments as F64 and no trainer_format in the metadata (tensor sha256s recomputed).
func trainerFormat1(t *testing.T, b []byte) []byte {
	t.Helper()
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	var meta map[string]string
	if err := json.Unmarshal(raw["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	delete(raw, "__metadata__")
	if meta["trainer_format"] != "2" {
		t.Fatalf("checkpoint has trainer_format %q, want 2", meta["trainer_format"])
	}
	delete(meta, "trainer_format")
	entries := map[string]entry{}
	var names []string
	for name, js := range raw {
		var e entry
		if err := json.Unmarshal(js, &e); err != nil {
			t.Fatal(err)
		}
		entries[name] = e
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return entries[names[i]].Offsets[0] < entries[names[j]].Offsets[0] })
	header := map[string]any{}
	sums := map[string]string{}
	var out []byte
	for _, name := range names {
		e := entries[name]
		blob := data[e.Offsets[0]:e.Offsets[1]]
		if strings.HasPrefix(name, "opt.") && e.DType == "F32" {
			wide := make([]byte, 2*len(blob))
			for i := 0; i < len(blob)/4; i++ {
				v := math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
				binary.LittleEndian.PutUint64(wide[8*i:], math.Float64bits(float64(v)))
			}
			blob, e.DType = wide, "F64"
		}
		e.Offsets = [2]int64{int64(len(out)), int64(len(out) + len(blob))}
		out = append(out, blob...)
		s := sha256.Sum256(blob)
		sums[name] = hex.EncodeToString(s[:])
		header[name] = e
	}
	sj, _ := json.Marshal(sums)
	meta["sha256"] = string(sj)
	header["__metadata__"] = meta
	hj, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	res := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	return append(append(res, hj...), out...)
}
