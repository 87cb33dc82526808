package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	for _, dt := range []string{"float32", "float64"} {
		for _, tied := range []bool{true, false} {
			m, err := New(Config{Shape: Shape{DModel: 8, Layers: 2, Heads: 2, Context: 8}, TiedEmbeddings: tied, Seed: 3, DType: dt}, nil)
			if err != nil {
				t.Fatal(err)
			}
			a := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
			if b := saveBytes(t, func(w *bytes.Buffer) error { return m.Clone().Save(w) }); !bytes.Equal(a, b) {
				t.Fatal("saving the same weights twice gave different bytes")
			}
			l, err := Load(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if l.Config != m.Config || l.NumParams() != m.NumParams() || l.Tok.Kind != "byte" {
				t.Fatalf("loaded config %+v, want %+v", l.Config, m.Config)
			}
			if b := saveBytes(t, func(w *bytes.Buffer) error { return l.Save(w) }); !bytes.Equal(a, b) {
				t.Fatal("load+save changed the file")
			}
		}
	}
}

func TestCheckpointFormat(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}, TiedEmbeddings: true}, nil)
	b := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	n := binary.LittleEndian.Uint64(b[:8])
	if n%8 != 0 {
		t.Fatalf("header length %d not 8-aligned", n)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	json.Unmarshal(h["__metadata__"], &meta)
	for _, k := range []string{"format", "kind", "config", "tokenizer", "sha256"} {
		if meta[k] == "" {
			t.Errorf("metadata lacks %q", k)
		}
	}
	var wte stEntry
	json.Unmarshal(h["wte"], &wte)
	if wte.DType != "F32" || wte.Shape[0] != ByteVocab || wte.Shape[1] != 8 || wte.Offsets[0] != 0 || wte.Offsets[1] != ByteVocab*8*4 {
		t.Fatalf("wte entry %+v", wte)
	}
	if _, ok := h["lm_head"]; ok {
		t.Fatal("tied model saved an lm_head")
	}
}

func TestCheckpointCorruption(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}}, nil)
	b := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	n := binary.LittleEndian.Uint64(b[:8])
	var h map[string]json.RawMessage
	json.Unmarshal(b[8:8+n], &h)
	var e stEntry
	json.Unmarshal(h["h0.mlp.wfc"], &e)
	bad := append([]byte(nil), b...)
	bad[8+int64(n)+e.Offsets[0]+5] ^= 1
	if _, err := Load(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `"h0.mlp.wfc" is corrupt`) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, err := Load(bytes.NewReader(b[:len(b)-10])); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: %v", err)
	}
	if _, err := Load(bytes.NewReader([]byte("not a checkpoint at all"))); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := ResumeTrainer(bytes.NewReader(b), nil, TrainConfig{}); err == nil || !strings.Contains(err.Error(), "trainer checkpoint") {
		t.Fatalf("resume from a model checkpoint: %v", err)
	}
}

// TestOldTrainerCheckpointRefused: a trainer checkpoint of format 1 (float64 moments, no
// trainer_format key: what earlier builds wrote) is not resumed: ResumeTrainer says why and
// what to do, so the round's activity starts the training again from step 0. Its model
// still loads. Format 2 keeps float32 moments for a float32 model (half the bytes).
func TestOldTrainerCheckpointRefused(t *testing.T) {
	m := tinyTrainModel(t, 1)
	data := selfPlayData(t, m, 4, 1)
	tc := TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 1, BatchSize: 2}}
	cur, err := NewTrainer(m.Clone(), data, tc)
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(t, cur, 1)
	ck := saveBytes(t, func(w *bytes.Buffer) error { return cur.Save(w) })
	f, err := readSafetensors(bytes.NewReader(ck))
	if err != nil {
		t.Fatal(err)
	}
	if f.meta["trainer_format"] != "2" || f.tensors["opt.v.wte"].f32 == nil {
		t.Fatalf("trainer checkpoint: format %q, opt.v.wte float32 %v; want format 2 with float32 moments", f.meta["trainer_format"], f.tensors["opt.v.wte"].f32 != nil)
	}
	if _, err := ResumeTrainer(bytes.NewReader(ck), data, tc); err != nil {
		t.Fatalf("format 2: %v", err)
	}

	// The same state as earlier builds saved it: float64 moments, no trainer_format.
	ref, err := newTrainer(m.Clone(), data, tc, true)
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(t, ref, 1)
	v1 := saveBytes(t, func(w *bytes.Buffer) error { return ref.Save(w) })
	f, err = readSafetensors(bytes.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	delete(f.meta, "trainer_format")
	var ts []namedTensor
	for _, nt := range f.tensors {
		ts = append(ts, nt)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	old := saveBytes(t, func(w *bytes.Buffer) error { return writeSafetensors(w, ts, f.meta) })
	_, err = ResumeTrainer(bytes.NewReader(old), data, tc)
	if err == nil || !strings.Contains(err.Error(), "trainer checkpoint format 1") || !strings.Contains(err.Error(), "start the training again from step 0") {
		t.Fatalf("format 1 checkpoint: got %v, want a refusal naming format 1 and the fix", err)
	}
	if _, err := Load(bytes.NewReader(old)); err != nil {
		t.Fatalf("the model of a format 1 trainer checkpoint: %v", err)
	}
	// float64 moments under format 2 (not something a build writes for a float32 model) are
	// refused by dtype, never read as float32.
	if _, err := ResumeTrainer(bytes.NewReader(v1), data, tc); err == nil || !strings.Contains(err.Error(), "wrong size or dtype") {
		t.Fatalf("float64 moments for a float32 model: got %v", err)
	}
}

// TestResumeExactOneMicroBatch: TestResumeExact's check where a step is one forward/backward
// (the gradient is the graph's own output, scaled in place): resumed == uninterrupted.
func TestResumeExactOneMicroBatch(t *testing.T) {
	for _, opt := range []string{"rmsprop", "adam"} {
		tc := TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{Optimizer: opt, LR: 3e-3, WarmupFrac: 0.2, Epochs: 2, BatchSize: 2, ClipNorm: 0.5}, Seed: 9}
		m := tinyTrainModel(t, 1)
		data := selfPlayData(t, m, 5, 1)
		full, err := NewTrainer(m.Clone(), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		if !full.alias {
			t.Fatal("one micro-batch a step: the gradient should be the graph's output")
		}
		trainSteps(t, full, 6)
		part, err := NewTrainer(m.Clone(), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, part, 3)
		res, err := ResumeTrainer(bytes.NewReader(saveBytes(t, func(w *bytes.Buffer) error { return part.Save(w) })), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, res, 3)
		want := saveBytes(t, func(w *bytes.Buffer) error { return full.Save(w) })
		if got := saveBytes(t, func(w *bytes.Buffer) error { return res.Save(w) }); !bytes.Equal(got, want) {
			t.Fatalf("%s: resumed trainer (weights, moments, history) differs from uninterrupted training", opt)
		}
	}
}
