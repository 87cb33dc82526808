package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
)

// Example is one training example: a real pair plus, for the self-play methods, exactly
// Loss.Mu synthetic responses for the same prompt and the opponent's log-probs of
// each (computed once per round, forward only). For sft, Gen and the Ref fields are unused.
type Example struct {
	Prompt, Real []int
	Gen          [][]int
	RefReal      float64
	RefGen       []float64
}

// TrainConfig controls one training run of a Trainer: the loss, the optimizer settings and
// the data-order seed. Its JSON (the OptimConfig's fields inline) is fingerprinted into
// trainer checkpoints, so a resume refuses a different configuration.
type TrainConfig struct {
	Loss LossConfig `json:"loss"`
	OptimConfig
	Seed uint64 `json:"seed"` // data order
}

func (tc TrainConfig) normalized() TrainConfig {
	tc.OptimConfig = tc.OptimConfig.normalized()
	return tc
}

// Validate reports the first problem as an *InputError (the loss's, then the optimizer's).
func (tc TrainConfig) Validate() error {
	if err := tc.Loss.Validate(); err != nil {
		return err
	}
	return tc.OptimConfig.Validate()
}

// StepInfo reports one optimizer step. A Trainer keeps every step's StepInfo (History) and
// saves them in its checkpoints, so a resumed training has the same history as one that was
// never interrupted.
//
// The rewards are those of the step's forward pass (before its update), averaged over the
// batch's examples: r(u) = log p_theta(u|x) - log p_opponent(u|x), of the real response
// (RewardReal) and of the mean over its mu synthetic ones (RewardSynth), as eval measures them
// on a whole round. They are zero for sft, which has no opponent.
type StepInfo struct {
	Step        int     `json:"step"`      // the number of steps done after this one
	Total       int     `json:"total"`     // TotalSteps
	Loss        float64 `json:"loss"`      // batch loss (LossConfig.BatchLoss: sft "token" per response token)
	GradNorm    float64 `json:"grad_norm"` // global gradient norm before clipping
	LR          float64 `json:"lr"`
	Tokens      int     `json:"tokens"` // tokens (prompt+response, all sequences) processed
	RewardReal  float64 `json:"reward_real"`
	RewardSynth float64 `json:"reward_synth"`
}

// NonFiniteError reports a NaN or Inf; the step's update was not applied.
type NonFiniteError struct {
	Step int    // 0-based index of the step that failed
	Term string // "real log-prob", "synthetic log-prob", "loss" or "gradient"
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("model: non-finite %s at step %d (weights not updated; lower the learning rate or enable ClipNorm)", e.Term, e.Step)
}

// Trainer trains a model in place (Model() is the model passed to NewTrainer).
//
// Data order: epoch e uses the permutation of the examples drawn from PCG(Seed, e), so the
// batch of a step depends only on (Seed, step): resuming needs no RNG state beyond the step.
// TotalSteps = Epochs * ceil(N / BatchSize); an epoch's last batch may be smaller. The loss
// of a step is LossConfig.BatchLoss of its examples (the mean example loss; for sft with
// SFTNorm "token" the NLL per response token of the whole batch); its gradient, divided by
// the batch's normaliser (its example count, or its response tokens) before clipping and
// the update, is kept in the model's dtype, as are the optimizer's moments (float32 for
// float32 models: 4 bytes a parameter each). When a step is one forward/backward
// (MicroBatch = BatchSize) the gradient is the graph's own output, scaled in place; with
// micro-batches they are summed into a buffer of their own.
type Trainer struct {
	m     *GPT
	data  []Example
	tc    TrainConfig
	step  int
	total int
	opt   *optimizer
	n     *net
	ls    *lossState
	T     int
	fp    fingerprints
	acc   vecs       // the step's gradient (the graph's outputs when one micro-batch is a step)
	alias bool       // acc is the graph's gradient tensors (one micro-batch a step), not a buffer
	hist  []StepInfo // one per step done (saved in trainer checkpoints)
}

type fingerprints struct {
	Data   string `json:"data"`
	Config string `json:"config"`
}

// NewTrainer validates the configuration and every example (lengths against the model's
// context, number of synthetic responses) and builds the training graph once.
func NewTrainer(m *GPT, data []Example, tc TrainConfig) (*Trainer, error) {
	return newTrainer(m, data, tc, m.Config.DType == "float64")
}

// newTrainer is NewTrainer with gradients and moments in float64 when f64 (float64 models;
// for float32 ones only the tests' reference: the float64 state that earlier builds kept).
func newTrainer(m *GPT, data []Example, tc TrainConfig, f64 bool) (*Trainer, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	tc = tc.normalized()
	if err := m.checkLayout(); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, &InputError{Field: "data", Problem: "has no examples", Fix: "give at least one training example"}
	}
	mu := tc.Loss.synthetic()
	maxLen := 0
	for i, ex := range data {
		where := func(err error) error {
			if ie, ok := err.(*InputError); ok {
				return &InputError{Field: fmt.Sprintf("example %d: %s", i, ie.Field), Problem: ie.Problem, Fix: ie.Fix}
			}
			return err
		}
		if err := m.CheckSequence(Sequence{ex.Prompt, ex.Real}); err != nil {
			return nil, where(err)
		}
		maxLen = max(maxLen, len(ex.Prompt)+len(ex.Real))
		if mu == 0 {
			continue
		}
		if len(ex.Gen) != mu || len(ex.RefGen) != mu {
			return nil, &InputError{Field: fmt.Sprintf("example %d: gen", i), Problem: fmt.Sprintf("has %d synthetic responses and %d opponent log-probs, method %q with mu %d needs %d of each", len(ex.Gen), len(ex.RefGen), tc.Loss.Method, tc.Loss.Mu, mu),
				Fix: "sample mu responses per prompt from the opponent and compute their log-probs"}
		}
		if math.IsNaN(ex.RefReal) || math.IsInf(ex.RefReal, 0) {
			return nil, &InputError{Field: fmt.Sprintf("example %d: ref_real", i), Problem: "is not finite", Fix: "recompute the opponent's log-probs"}
		}
		for j, g := range ex.Gen {
			if err := m.CheckSequence(Sequence{ex.Prompt, g}); err != nil {
				return nil, where(err)
			}
			if math.IsNaN(ex.RefGen[j]) || math.IsInf(ex.RefGen[j], 0) {
				return nil, &InputError{Field: fmt.Sprintf("example %d: ref_gen %d", i, j), Problem: "is not finite", Fix: "recompute the opponent's log-probs"}
			}
			maxLen = max(maxLen, len(ex.Prompt)+len(g))
		}
	}
	f64 = f64 || m.Config.DType == "float64"
	t := &Trainer{m: m, data: data, tc: tc, opt: newOptimizer(tc.OptimConfig, m, f64)}
	t.total = tc.Epochs * t.stepsPerEpoch()
	t.fp = fingerprint(data, tc)
	t.T = padT(maxLen, m.Config.Context)
	t.ls = newLossState(tc.Loss, tc.MicroBatch)
	var err error
	if t.n, err = m.build(tc.MicroBatch*(1+mu), t.T, t.ls); err != nil {
		return nil, err
	}
	t.alias = !f64 && tc.MicroBatch >= tc.BatchSize
	if t.alias {
		t.acc = vecs{f32: make([][]float32, len(m.Params))} // set to the graph's gradients by each step
	} else {
		t.acc = newVecs(m, f64)
	}
	return t, nil
}

func (t *Trainer) stepsPerEpoch() int { return (len(t.data) + t.tc.BatchSize - 1) / t.tc.BatchSize }

// Done reports whether all steps are done.
func (t *Trainer) Done() bool { return t.step >= t.total }

// StepCount is the number of steps done.
func (t *Trainer) StepCount() int { return t.step }

// TotalSteps is Epochs * ceil(N / BatchSize).
func (t *Trainer) TotalSteps() int { return t.total }

// History is the StepInfo of every step done, in order, the steps before a resume included
// (a checkpoint written before histories were saved resumes with an empty one). The slice is
// the trainer's: do not modify it.
func (t *Trainer) History() []StepInfo { return t.hist }

// Model is the model being trained (updated in place).
func (t *Trainer) Model() *GPT { return t.m }

// Config is the normalized training configuration.
func (t *Trainer) Config() TrainConfig { return t.tc }

// batchIndices returns the example indices of step s.
func (t *Trainer) batchIndices(s int) []int {
	spe := t.stepsPerEpoch()
	epoch, k := s/spe, s%spe
	perm := rand.New(rand.NewPCG(t.tc.Seed, uint64(epoch)^0x9e3779b97f4a7c15)).Perm(len(t.data))
	return perm[k*t.tc.BatchSize : min((k+1)*t.tc.BatchSize, len(t.data))]
}

// Step runs one optimizer step (all its micro-batches). On a NaN/Inf it returns
// *NonFiniteError and leaves the weights, the optimizer state and the step count unchanged.
func (t *Trainer) Step() (StepInfo, error) {
	if t.Done() {
		return StepInfo{}, fmt.Errorf("model: training is done (%d of %d steps)", t.step, t.total)
	}
	idx := t.batchIndices(t.step)
	info := StepInfo{Step: t.step + 1, Total: t.total}
	if err := t.accumulate(idx, &info); err != nil {
		return StepInfo{}, err
	}
	inv := 1 / t.normaliser(idx)
	info.Loss *= inv
	info.RewardReal /= float64(len(idx))
	info.RewardSynth /= float64(len(idx))
	t.acc.scale(inv)
	info.GradNorm = clipGlobalNorm(t.acc, t.tc.ClipNorm)
	if !finite(info.GradNorm) {
		return StepInfo{}, &NonFiniteError{Step: t.step, Term: "gradient"}
	}
	info.LR = Schedule(t.tc.LR, t.tc.WarmupFrac, t.step, t.total)
	t.opt.update(t.m, t.acc, info.LR)
	t.step++
	t.hist = append(t.hist, info)
	return info, nil
}

// normaliser is the denominator of the batch loss of the examples idx (LossConfig.BatchLoss):
// the sum of their weights over the whole optimizer batch, whatever its micro-batches.
func (t *Trainer) normaliser(idx []int) float64 {
	var w float64
	for _, i := range idx {
		w += t.tc.Loss.weight(len(t.data[i].Real))
	}
	return w
}

// accumulate runs the forward/backward passes of the examples idx (in micro-batches) and
// leaves the sum of their gradients in t.acc; it adds their losses and tokens to info.
func (t *Trainer) accumulate(idx []int, info *StepInfo) error {
	mu := t.ls.mu
	mb := t.tc.MicroBatch
	for lo := 0; lo < len(idx); lo += mb {
		part := idx[lo:min(lo+mb, len(idx))]
		seqs := make([]Sequence, 0, len(part)*(1+mu))
		for e := range t.ls.active {
			t.ls.active[e] = e < len(part)
		}
		for e, i := range part {
			ex := t.data[i]
			r := e * (1 + mu)
			seqs = append(seqs, Sequence{ex.Prompt, ex.Real})
			t.ls.ref[r], t.ls.lens[r] = ex.RefReal, len(ex.Real)
			for j := 0; j < mu; j++ {
				seqs = append(seqs, Sequence{ex.Prompt, ex.Gen[j]})
				t.ls.ref[r+1+j], t.ls.lens[r+1+j] = ex.RefGen[j], len(ex.Gen[j])
			}
		}
		for _, s := range seqs {
			info.Tokens += s.Len()
		}
		t.n.st.fill(seqs)
		if err := t.n.run(t.m); err != nil {
			return fmt.Errorf("model: training step %d: %w", t.step, err)
		}
		for e := range part {
			r := e * (1 + mu)
			if !finite(t.ls.lastLP[r]) {
				return &NonFiniteError{Step: t.step, Term: "real log-prob"}
			}
			for j := 0; j < mu; j++ {
				if !finite(t.ls.lastLP[r+1+j]) {
					return &NonFiniteError{Step: t.step, Term: "synthetic log-prob"}
				}
			}
			if !finite(t.ls.last[e]) {
				return &NonFiniteError{Step: t.step, Term: "loss"}
			}
			info.Loss += t.ls.last[e]
			if mu > 0 {
				info.RewardReal += t.ls.lastLP[r] - t.ls.ref[r]
				var synth float64
				for j := 0; j < mu; j++ {
					synth += t.ls.lastLP[r+1+j] - t.ls.ref[r+1+j]
				}
				info.RewardSynth += synth / float64(mu)
			}
		}
		for i, gn := range t.n.grads {
			if t.alias {
				t.acc.f32[i] = denseData(gn.Value()).([]float32)
				continue
			}
			if t.acc.isF64() {
				addFloats(t.acc.f64[i], gn.Value(), lo == 0)
			} else {
				addFloats(t.acc.f32[i], gn.Value(), lo == 0)
			}
		}
		// wte (parameter 0): with tied embeddings, the embedding's rows are added here.
		if t.acc.isF64() {
			addEmbedGrad(t.n, t.acc.f64[0], t.m.Config.DModel)
		} else {
			addEmbedGrad(t.n, t.acc.f32[0], t.m.Config.DModel)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// addFloats adds a gradient value (float32 or float64 tensor) into acc, or sets acc to it
// when first (the first micro-batch of a step). Element-wise, split over goroutines.
func addFloats[S fnum](acc []S, v G.Value, first bool) {
	switch d := denseData(v).(type) {
	case []float32:
		addInto(acc, d, first)
	case []float64:
		addInto(acc, d, first)
	}
}

func addInto[S, F fnum](acc []S, d []F, first bool) {
	parallelChunks(len(d), func(lo, hi int) {
		if first {
			for j := lo; j < hi; j++ {
				acc[j] = S(d[j])
			}
			return
		}
		for j := lo; j < hi; j++ {
			acc[j] += S(d[j])
		}
	})
}

// fingerprint hashes the training data (ids and opponent log-probs, exactly) and the
// training configuration, so that a resume with other data or settings is refused.
func fingerprint(data []Example, tc TrainConfig) fingerprints {
	h := sha256.New()
	var buf [8]byte
	wi := func(x int) { binary.LittleEndian.PutUint64(buf[:], uint64(x)); h.Write(buf[:]) }
	wf := func(x float64) { binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x)); h.Write(buf[:]) }
	wids := func(ids []int) {
		wi(len(ids))
		for _, x := range ids {
			wi(x)
		}
	}
	wi(len(data))
	for _, ex := range data {
		wids(ex.Prompt)
		wids(ex.Real)
		wf(ex.RefReal)
		wi(len(ex.Gen))
		for _, g := range ex.Gen {
			wids(g)
		}
		wi(len(ex.RefGen))
		for _, r := range ex.RefGen {
			wf(r)
		}
	}
	// sft's normalisation is hashed as the loss it selects: "" as "token", and "sequence" as
	// a configuration without the field, which is what builds before sft_norm hashed (their
	// only sft loss): a checkpoint written then resumes under "sequence" and is refused under
	// the default, whose loss differs.
	tc = tc.normalized()
	switch {
	case tc.Loss.Method != MethodSFT:
	case tc.Loss.SFTNormOrDefault() == SFTNormSequence:
		tc.Loss.SFTNorm = ""
	default:
		tc.Loss.SFTNorm = SFTNormToken
	}
	cj, _ := json.Marshal(tc)
	c := sha256.Sum256(cj)
	return fingerprints{Data: hex.EncodeToString(h.Sum(nil)), Config: hex.EncodeToString(c[:])}
}
