package model

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestOuterUpdateHandComputed checks two Nesterov outer steps against values worked out by
// hand (lr 0.7, momentum 0.9, two workers):
//
//	step 1: theta 1, locals 0.5 and 0.7: delta = 1-0.6 = 0.4, v = 0.4,
//	        theta = 1 - 0.7 (0.4 + 0.9*0.4) = 0.468
//	step 2: locals 0.268 and 0.268: delta = 0.2, v = 0.9*0.4 + 0.2 = 0.56,
//	        theta = 0.468 - 0.7 (0.2 + 0.9*0.56) = -0.0248
//
// The second tensor element has workers that agree with theta: it stays put.
func TestOuterUpdateHandComputed(t *testing.T) {
	theta := []float64{1, 2}
	v := make([]float64, 2)
	OuterUpdate(theta, [][]float64{{0.5, 2.5}, {0.7, 1.5}}, v, 0.7, 0.9)
	near(t, "step 1 theta", theta, []float64{0.468, 2})
	near(t, "step 1 v", v, []float64{0.4, 0})
	OuterUpdate(theta, [][]float64{{0.268, 2}, {0.268, 2}}, v, 0.7, 0.9)
	near(t, "step 2 theta", theta, []float64{-0.0248, 2})
	near(t, "step 2 v", v, []float64{0.56, 0})

	// lr 1 without momentum is plain averaging.
	theta = []float64{3, -1}
	v = make([]float64, 2)
	OuterUpdate(theta, [][]float64{{1, 0}, {2, 4}, {6, -1}}, v, 1, 0)
	near(t, "averaging", theta, []float64{3, 1})
}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("%s: got %v, want %v", what, got, want)
			return
		}
	}
}

// TestOuterStepModel: OuterStep on models is OuterUpdate per tensor (in float64, stored in
// the model's dtype), its momentum carries into the next step, and the step is counted.
func TestOuterStepModel(t *testing.T) {
	c := OuterConfig{TrainWorkers: 2, LocalSteps: 1, OuterLR: 0.7, OuterMomentum: 0.9}
	global := tinyTrainModel(t, 1)
	locals := []*GPT{tinyTrainModel(t, 2), tinyTrainModel(t, 3)}
	st := NewOuterState(global)

	// The expected values, tensor by tensor, with the pure update.
	want := make([][]float64, len(global.Params))
	wantV := make([][]float64, len(global.Params))
	for i, p := range global.Params {
		want[i] = floats(p.Value)
		wantV[i] = make([]float64, len(want[i]))
		for step := 0; step < 2; step++ {
			OuterUpdate(want[i], [][]float64{floats(locals[0].Params[i].Value), floats(locals[1].Params[i].Value)}, wantV[i], c.OuterLR, c.OuterMomentum)
			want[i] = floats(newDense(p.Value.Dtype(), []int{len(want[i])}, want[i])) // stored in the model's dtype
		}
	}
	for step := 0; step < 2; step++ {
		if err := c.OuterStep(global, locals, st); err != nil {
			t.Fatal(err)
		}
	}
	if st.Steps != 2 {
		t.Errorf("outer steps counted %d, want 2", st.Steps)
	}
	for i, p := range global.Params {
		if got := floats(p.Value); !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("parameter %s differs from OuterUpdate's", p.Name)
		}
		if !reflect.DeepEqual(st.V[i], wantV[i]) {
			t.Fatalf("momentum of %s differs from OuterUpdate's", p.Name)
		}
	}

	// A worker with another layout is refused.
	other, err := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 16}, TiedEmbeddings: true, Seed: 1}, NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.OuterStep(global, []*GPT{locals[0], other}, st); err == nil || !strings.Contains(err.Error(), "worker 1") {
		t.Errorf("outer step with a worker of another shape: %v, want an error naming worker 1", err)
	}
}

// TestOuterStateSaveLoad: the momentum and step count come back bit for bit; a model
// checkpoint is not an outer state.
func TestOuterStateSaveLoad(t *testing.T) {
	m := tinyTrainModel(t, 1)
	st := NewOuterState(m)
	st.Steps = 3
	for i := range st.V {
		for j := range st.V[i] {
			st.V[i][j] = math.Sin(float64(i*1000+j)) / 7
		}
	}
	b := saveBytes(t, func(w *bytes.Buffer) error { return st.Save(w, m) })
	got, err := LoadOuterState(bytes.NewReader(b), m)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Error("outer state differs after save and load")
	}
	if again := saveBytes(t, func(w *bytes.Buffer) error { return got.Save(w, m) }); !bytes.Equal(again, b) {
		t.Error("saving the same state twice gives different bytes")
	}
	mb := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	if _, err := LoadOuterState(bytes.NewReader(mb), m); err == nil || !strings.Contains(err.Error(), "outer") {
		t.Errorf("loading a model checkpoint as an outer state: %v, want an error", err)
	}
}

func TestOuterConfigValidate(t *testing.T) {
	if err := DefaultOuter().Validate(); err != nil {
		t.Fatal(err)
	}
	if DefaultOuter().Enabled() {
		t.Error("the default outer config is enabled, want off (one worker)")
	}
	for field, c := range map[string]OuterConfig{
		"train_workers":  {TrainWorkers: 0, LocalSteps: 1, OuterLR: 1},
		"local_steps":    {TrainWorkers: 2, LocalSteps: 0, OuterLR: 1},
		"outer_lr":       {TrainWorkers: 2, LocalSteps: 1, OuterLR: math.NaN()},
		"outer_momentum": {TrainWorkers: 2, LocalSteps: 1, OuterLR: 1, OuterMomentum: 1},
	} {
		var ie *InputError
		if err := c.Validate(); !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%+v: %v, want an InputError on %s", c, err, field)
		}
	}
}

func TestOuterStepsAndShards(t *testing.T) {
	c := OuterConfig{TrainWorkers: 2, LocalSteps: 4, OuterLR: 0.7, OuterMomentum: 0.9}
	o := OptimConfig{LR: 1e-3, Epochs: 2, BatchSize: 2}
	// 11 examples: shards of 6 and 5, the larger takes 2*3 = 6 steps, 4 at a time: 2 outer steps.
	if n, err := c.OuterSteps(11, o); err != nil || n != 2 {
		t.Errorf("OuterSteps(11) = %d, %v, want 2", n, err)
	}
	if got := c.ShardIndices(5, 1); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Errorf("shard 1 of 5 = %v, want [1 3]", got)
	}
	var ie *InputError
	if _, err := c.OuterSteps(1, o); !errors.As(err, &ie) || ie.Field != "train_workers" {
		t.Errorf("two workers for one example: %v, want an InputError on train_workers", err)
	}
}

// TestDiLoCoWorkerResume: a worker saved after an outer step and resumed in another
// process (ResumeTrainer, then SetWeights to the new global weights) trains exactly as one
// that kept its trainer in memory: the inner optimizer state persists across outer steps.
func TestDiLoCoWorkerResume(t *testing.T) {
	base := tinyTrainModel(t, 5)
	data := selfPlayData(t, base, 6, 1)
	tc := TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{Optimizer: "adam", LR: 1e-3, Epochs: 2, BatchSize: 2}, Seed: 3}
	newGlobal := tinyTrainModel(t, 6) // stands for the outer step's result

	mem, err := NewTrainer(base.Clone(), data, tc)
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(t, mem, 2)
	saved := saveBytes(t, func(w *bytes.Buffer) error { return mem.Save(w) })
	if err := mem.SetWeights(newGlobal); err != nil {
		t.Fatal(err)
	}
	trainSteps(t, mem, 2)

	res, err := ResumeTrainer(bytes.NewReader(saved), data, tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.SetWeights(newGlobal); err != nil {
		t.Fatal(err)
	}
	trainSteps(t, res, 2)
	a := saveBytes(t, func(w *bytes.Buffer) error { return mem.Save(w) })
	b := saveBytes(t, func(w *bytes.Buffer) error { return res.Save(w) })
	if !bytes.Equal(a, b) {
		t.Error("a resumed worker differs from one kept in memory")
	}
	// And the new weights were used: a worker that kept its own weights ends elsewhere.
	own, _ := ResumeTrainer(bytes.NewReader(saved), data, tc)
	trainSteps(t, own, 2)
	if bytes.Equal(saveBytes(t, func(w *bytes.Buffer) error { return own.Save(w) }), a) {
		t.Error("SetWeights had no effect")
	}
}
