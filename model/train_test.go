package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func tinyTrainModel(t *testing.T, seed uint64) *GPT {
	t.Helper()
	m, err := New(Config{Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 16}, TiedEmbeddings: true, Seed: seed}, NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// selfPlayData makes n examples with ng synthetic responses and arbitrary opponent log-probs.
func selfPlayData(t *testing.T, m *GPT, n, ng int) []Example {
	var data []Example
	for i := 0; i < n; i++ {
		a, b := i%7, (i*3)%5
		s := mustSeq(t, m, string(rune('0'+a))+"+"+string(rune('0'+b))+"=", string(rune('0'+(a+b)%10)))
		ex := Example{Prompt: s.Prompt, Real: s.Response, RefReal: -8 - float64(i)/10}
		for j := 0; j < ng; j++ {
			g := mustSeq(t, m, "x", strings.Repeat(string(rune('a'+j)), 1+(i+j)%3))
			ex.Gen = append(ex.Gen, g.Response)
			ex.RefGen = append(ex.RefGen, -6-float64(j))
		}
		data = append(data, ex)
	}
	return data
}

func saveBytes(t *testing.T, save func(w *bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func trainSteps(t *testing.T, tr *Trainer, n int) {
	t.Helper()
	for i := 0; i < n && !tr.Done(); i++ {
		info, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if !finite(info.Loss) || info.LR <= 0 {
			t.Fatalf("step %d: %+v", i, info)
		}
	}
}

// TestResumeExact: k steps, Save, ResumeTrainer, the rest == all steps uninterrupted,
// bit for bit, for both optimizers, with micro-batching and clipping.
func TestResumeExact(t *testing.T) {
	for _, opt := range []string{"rmsprop", "adam"} {
		tc := TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 2}, OptimConfig: OptimConfig{Optimizer: opt, LR: 3e-3, WarmupFrac: 0.2, Epochs: 2, BatchSize: 2, MicroBatch: 1, ClipNorm: 0.5}, Seed: 9}
		m := tinyTrainModel(t, 1)
		data := selfPlayData(t, m, 5, 2)
		full, err := NewTrainer(m.Clone(), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		if full.TotalSteps() != 6 {
			t.Fatalf("total steps %d, want 2*ceil(5/2)=6", full.TotalSteps())
		}
		trainSteps(t, full, 6)
		want := saveBytes(t, func(w *bytes.Buffer) error { return full.Model().Save(w) })

		part, err := NewTrainer(m.Clone(), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, part, 3)
		ck := saveBytes(t, func(w *bytes.Buffer) error { return part.Save(w) })
		if again := saveBytes(t, func(w *bytes.Buffer) error { return part.Save(w) }); !bytes.Equal(ck, again) {
			t.Fatal("saving the same trainer twice gave different bytes")
		}
		res, err := ResumeTrainer(bytes.NewReader(ck), data, tc)
		if err != nil {
			t.Fatal(err)
		}
		if res.StepCount() != 3 {
			t.Fatalf("resumed at step %d, want 3", res.StepCount())
		}
		trainSteps(t, res, 3)
		if !res.Done() {
			t.Fatal("not done after 6 steps")
		}
		got := saveBytes(t, func(w *bytes.Buffer) error { return res.Model().Save(w) })
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: resumed weights differ from uninterrupted training", opt)
		}
		if bytes.Equal(want, saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })) {
			t.Fatal("training did not change the weights")
		}
		// the per-step history continues across the resume, equal to the uninterrupted one
		if !reflect.DeepEqual(res.History(), full.History()) || len(full.History()) != 6 {
			t.Fatalf("%s: resumed history %+v\nwant %+v", opt, res.History(), full.History())
		}
		for _, h := range full.History() {
			if h.RewardReal == 0 || h.RewardSynth == 0 || h.RewardReal == h.RewardSynth {
				t.Fatalf("step %d: rewards not measured: %+v", h.Step, h)
			}
		}

		// a different data set or config is refused with a clear error
		other := selfPlayData(t, m, 5, 2)
		other[1].RefReal += 1
		if _, err := ResumeTrainer(bytes.NewReader(ck), other, tc); err == nil || !strings.Contains(err.Error(), "training data differs") {
			t.Fatalf("resume with other data: %v", err)
		}
		tc2 := tc
		tc2.LR *= 2
		if _, err := ResumeTrainer(bytes.NewReader(ck), data, tc2); err == nil || !strings.Contains(err.Error(), "TrainConfig differs") {
			t.Fatalf("resume with other config: %v", err)
		}
		// the model of a trainer checkpoint loads
		lm, err := Load(bytes.NewReader(ck))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(saveBytes(t, func(w *bytes.Buffer) error { return lm.Save(w) }), saveBytes(t, func(w *bytes.Buffer) error { return part.Model().Save(w) })) {
			t.Fatal("model loaded from trainer checkpoint differs")
		}
	}
}

// TestMicroBatchEquivalence: gradient accumulation over micro-batches gives the batch gradient.
func TestMicroBatchEquivalence(t *testing.T) {
	m := tinyTrainModel(t, 2)
	data := selfPlayData(t, m, 4, 1)
	var losses []float64
	var norms []float64
	for _, mb := range []int{0, 1, 3} {
		tr, err := NewTrainer(m.Clone(), data, TrainConfig{Loss: LossConfig{Method: MethodSPIN, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 1, BatchSize: 4, MicroBatch: mb}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, info.Loss)
		norms = append(norms, info.GradNorm)
	}
	for i := 1; i < len(losses); i++ {
		if math.Abs(losses[i]-losses[0]) > 1e-6 || math.Abs(norms[i]-norms[0]) > 1e-4*norms[0] {
			t.Fatalf("micro-batch %d: loss %v norm %v; full batch: loss %v norm %v", i, losses[i], norms[i], losses[0], norms[0])
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []byte {
		m := tinyTrainModel(t, 4)
		tr, err := NewTrainer(m, selfPlayData(t, m, 3, 1), TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-2, Epochs: 2, BatchSize: 2}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, tr, 100)
		return saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	}
	if !bytes.Equal(run(), run()) {
		t.Fatal("same seed gave different weights")
	}
	a, _ := New(Config{Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 16}, Seed: 5}, nil)
	b, _ := New(Config{Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 16}, Seed: 6}, nil)
	if bytes.Equal(saveBytes(t, func(w *bytes.Buffer) error { return a.Save(w) }), saveBytes(t, func(w *bytes.Buffer) error { return b.Save(w) })) {
		t.Fatal("different seeds gave the same init")
	}
}

func TestNonFiniteLeavesWeights(t *testing.T) {
	m := tinyTrainModel(t, 3)
	data := selfPlayData(t, m, 2, 1)
	tr, err := NewTrainer(m, data, TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-2, Epochs: 1, BatchSize: 2}})
	if err != nil {
		t.Fatal(err)
	}
	m.Param("h0.mlp.bproj").Value.Data().([]float32)[0] = float32(math.NaN())
	before := saveBytes(t, func(w *bytes.Buffer) error { return tr.Save(w) })
	_, err = tr.Step()
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 0 || nf.Term != "real log-prob" {
		t.Fatalf("got %v, want NonFiniteError at step 0, real log-prob", err)
	}
	if after := saveBytes(t, func(w *bytes.Buffer) error { return tr.Save(w) }); !bytes.Equal(before, after) || tr.StepCount() != 0 {
		t.Fatal("weights, optimizer state or step changed after a non-finite step")
	}
}

func TestTrainerRejectsBadInput(t *testing.T) {
	m := tinyTrainModel(t, 3)
	data := selfPlayData(t, m, 2, 1)
	long := append([]int(nil), data[0].Real[:len(data[0].Real)-1]...)
	for len(data[0].Prompt)+len(long) < 20 {
		long = append(long, 'a')
	}
	long = append(long, EOS)
	cases := map[string]func() ([]Example, TrainConfig){
		"too long": func() ([]Example, TrainConfig) {
			d := append([]Example(nil), data...)
			d[1].Real = long
			return d, TrainConfig{Loss: LossConfig{Method: MethodSFT}, OptimConfig: OptimConfig{LR: 1, Epochs: 1, BatchSize: 1}}
		},
		"wrong mu": func() ([]Example, TrainConfig) {
			return data, TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 3}, OptimConfig: OptimConfig{LR: 1, Epochs: 1, BatchSize: 1}}
		},
		"bad lr": func() ([]Example, TrainConfig) {
			return data, TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{Epochs: 1, BatchSize: 1}}
		},
		"bad method": func() ([]Example, TrainConfig) {
			return data, TrainConfig{Loss: LossConfig{Method: "dpo"}, OptimConfig: OptimConfig{LR: 1, Epochs: 1, BatchSize: 1}}
		},
	}
	for name, mk := range cases {
		d, tc := mk()
		_, err := NewTrainer(m, d, tc)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: got %v, want *InputError", name, err)
			continue
		}
		if name == "too long" && !strings.Contains(err.Error(), "context limit of 16") {
			t.Errorf("too long: error does not name the limit: %v", err)
		}
	}
}

// TestSFTLearns: the float32 GPT fits a few pairs (token-mean NLL from ~ln 260 to < 1).
func TestSFTLearns(t *testing.T) {
	m := tinyTrainModel(t, 8)
	data := selfPlayData(t, m, 6, 0)
	tr, err := NewTrainer(m, data, TrainConfig{Loss: LossConfig{Method: MethodSFT}, OptimConfig: OptimConfig{Optimizer: "adam", LR: 1e-2, WarmupFrac: 0.1, Epochs: 40, BatchSize: 3, ClipNorm: 1}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	var first, last StepInfo
	for !tr.Done() {
		info, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if info.Step == 1 {
			first = info
		}
		last = info
	}
	t.Logf("SFT loss %.3f -> %.3f in %d steps", first.Loss, last.Loss, last.Step)
	if first.Loss < 4 || last.Loss > 1 {
		t.Fatalf("SFT loss %.3f -> %.3f, want from > 4 to < 1", first.Loss, last.Loss)
	}
}

// sftData makes n sft examples whose responses have 2 to 9 tokens (EOS included).
func sftData(t *testing.T, m *GPT, n int) []Example {
	var data []Example
	for i := 0; i < n; i++ {
		s := mustSeq(t, m, string(rune('a'+i%5))+":", strings.Repeat(string(rune('p'+i%4)), 1+(i*5)%8))
		data = append(data, Example{Prompt: s.Prompt, Real: s.Response})
	}
	return data
}

// TestSFTTokenNormAcrossMicroBatches: sft's token normalisation divides by the whole
// optimizer batch's response tokens, so micro-batches of unequal token counts give the
// loss and the gradient of the full batch (to float rounding), and the step's loss is the
// batch's NLL per response token (not the mean of per-micro-batch means).
func TestSFTTokenNormAcrossMicroBatches(t *testing.T) {
	m := tinyTrainModel(t, 5)
	data := sftData(t, m, 6)
	var ref []float64
	var refLoss float64
	for _, mb := range []int{0, 1, 4} {
		tr, err := NewTrainer(m.Clone(), data, TrainConfig{Loss: LossConfig{Method: MethodSFT}, OptimConfig: OptimConfig{Optimizer: "adam", LR: 1e-2, Epochs: 1, BatchSize: 6, MicroBatch: mb}})
		if err != nil {
			t.Fatal(err)
		}
		lp, err := tr.Model().LogProbs(seqsOf(data), len(data))
		if err != nil {
			t.Fatal(err)
		}
		var nll float64
		var ntok int
		for i, ex := range data {
			nll -= lp[i]
			ntok += len(ex.Real)
		}
		info, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(info.Loss-nll/float64(ntok)) > 1e-5*info.Loss {
			t.Fatalf("micro-batch %d: step loss %v, batch NLL per token %v", mb, info.Loss, nll/float64(ntok))
		}
		// The step's gradient itself (t.acc, scaled by the batch's normaliser; clip off):
		// Adam's first step is about lr*sign(g) and would hide a gradient of the wrong size.
		var grad []float64
		for i := range tr.acc.f32 {
			grad = append(grad, tr.acc.floats(i)...)
		}
		if ref == nil {
			ref, refLoss = grad, info.Loss
			continue
		}
		if math.Abs(info.Loss-refLoss) > 1e-6*refLoss {
			t.Fatalf("micro-batch %d: loss %v, full batch %v", mb, info.Loss, refLoss)
		}
		var diff, norm float64
		for j := range grad {
			diff += (grad[j] - ref[j]) * (grad[j] - ref[j])
			norm += ref[j] * ref[j]
		}
		if norm == 0 || math.Sqrt(diff/norm) > 1e-5 {
			t.Fatalf("micro-batch %d: gradient differs from the full batch's by %.3g relative (norm %.3g)", mb, math.Sqrt(diff/norm), math.Sqrt(norm))
		}
	}
}

func seqsOf(data []Example) []Sequence {
	s := make([]Sequence, len(data))
	for i, ex := range data {
		s[i] = Sequence{ex.Prompt, ex.Real}
	}
	return s
}

// TestSFTNormFingerprint: a trainer checkpoint is resumed only under the sft loss it was
// made with. "sequence" hashes as a configuration without sft_norm (what builds before it
// wrote, whose sft was the sequence mean), so their checkpoints resume under "sequence" and
// are refused under the default; "" and "token" are the same loss and the same hash.
func TestSFTNormFingerprint(t *testing.T) {
	m := tinyTrainModel(t, 6)
	data := sftData(t, m, 4)
	tc := func(n SFTNorm) TrainConfig {
		return TrainConfig{Loss: LossConfig{Method: MethodSFT, SFTNorm: n}, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 2, BatchSize: 2}, Seed: 3}
	}
	fp := func(n SFTNorm) string { return fingerprint(data, tc(n)).Config }
	if fp("") != fp(SFTNormToken) || fp(SFTNormToken) == fp(SFTNormSequence) {
		t.Fatalf("fingerprints: default %s, token %s, sequence %s", fp(""), fp(SFTNormToken), fp(SFTNormSequence))
	}
	// the configuration as builds before sft_norm marshalled it: no sft_norm field
	old := tc("").normalized()
	oj, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(oj), "sft_norm") {
		t.Fatalf("an unset sft_norm is marshalled: %s", oj)
	}
	if sum := sha256.Sum256(oj); hex.EncodeToString(sum[:]) != fp(SFTNormSequence) {
		t.Fatal(`"sequence" does not hash as a configuration without sft_norm`)
	}
	for _, made := range []SFTNorm{SFTNormSequence, SFTNormToken} {
		tr, err := NewTrainer(m.Clone(), data, tc(made))
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, tr, 1)
		ck := saveBytes(t, func(w *bytes.Buffer) error { return tr.Save(w) })
		for _, resume := range []SFTNorm{"", SFTNormToken, SFTNormSequence} {
			_, err := ResumeTrainer(bytes.NewReader(ck), data, tc(resume))
			same := (made == SFTNormSequence) == (resume == SFTNormSequence)
			if same && err != nil {
				t.Errorf("made with %q, resumed with %q: %v", made, resume, err)
			}
			if !same && (err == nil || !strings.Contains(err.Error(), "TrainConfig differs")) {
				t.Errorf("made with %q, resumed with %q: got %v, want a refusal", made, resume, err)
			}
		}
	}
}
