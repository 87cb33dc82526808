package model

// Data-parallel training over K workers, the DiLoCo recipe (Douillard et al. 2023,
// "DiLoCo: Distributed Low-Communication Training of Language Models"):
//
//	for outer step t = 0..T-1:
//	    each worker k = 0..K-1 starts from the global weights theta_t and takes H inner steps
//	    (the run's optimizer, its own state kept across outer steps) on its shard of the
//	    examples (example i belongs to shard i % K), ending at theta_t^k
//	    delta   = theta_t - (1/K) sum_k theta_t^k        the outer "gradient"
//	    v       = momentum v + delta                     (v_0 = 0)
//	    theta_t+1 = theta_t - outer_lr (delta + momentum v)   Nesterov momentum
//
// as PyTorch's SGD(nesterov=True) applies it to the pseudo-gradient delta. With outer_lr 1
// and momentum 0 the outer step is plain averaging of the workers' weights.
//
// Everything here is arithmetic over weights: where the workers run and how their results
// travel is the caller's business. The sum over workers is taken in worker order, element
// by element in float64, so the result is the same bits whatever machine ran which shard.

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

// OuterConfig is the data-parallel training of a round (DiLoCo): Workers parallel trainers,
// each taking LocalSteps inner steps per outer step, combined by an outer optimizer with
// Nesterov momentum. Workers 1 (the default) is off: a round trains as one trainer on all
// the examples. A run spec embeds it (its JSON fields inline).
type OuterConfig struct {
	TrainWorkers  int     `json:"train_workers"`  // K: parallel trainers per round (1 = off)
	LocalSteps    int     `json:"local_steps"`    // H: inner steps per worker per outer step
	OuterLR       float64 `json:"outer_lr"`       // outer learning rate
	OuterMomentum float64 `json:"outer_momentum"` // Nesterov momentum of the outer optimizer, in [0, 1)
}

// DefaultOuter is off (one worker), with DiLoCo's outer optimizer (learning rate 0.7,
// Nesterov momentum 0.9) and 16 local steps, a fit for rounds of tens to hundreds of steps
// (DiLoCo's 500 is for pre-training runs of many thousands).
func DefaultOuter() OuterConfig {
	return OuterConfig{TrainWorkers: 1, LocalSteps: 16, OuterLR: 0.7, OuterMomentum: 0.9}
}

// Enabled is true when a round trains over more than one worker.
func (c OuterConfig) Enabled() bool { return c.TrainWorkers > 1 }

// Validate reports the first problem as an *InputError.
func (c OuterConfig) Validate() error {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: field, Problem: problem, Fix: fix}
	}
	switch {
	case c.TrainWorkers < 1:
		return bad("train_workers", fmt.Sprintf("is %d", c.TrainWorkers), "use 1 (one trainer, the default) or more workers")
	case c.LocalSteps < 1:
		return bad("local_steps", fmt.Sprintf("is %d", c.LocalSteps), "use at least 1 inner step per outer step, e.g. 16")
	case !(c.OuterLR > 0) || math.IsInf(c.OuterLR, 0):
		return bad("outer_lr", fmt.Sprintf("is %v", c.OuterLR), "use a finite positive outer learning rate, e.g. 0.7")
	case !(c.OuterMomentum >= 0 && c.OuterMomentum < 1):
		return bad("outer_momentum", fmt.Sprintf("is %v", c.OuterMomentum), "use a momentum in [0, 1), e.g. 0.9 (0: none)")
	}
	return nil
}

// ShardIndices are the indices of the examples of shard k of n examples: i % Workers == k.
func (c OuterConfig) ShardIndices(n, k int) []int {
	var idx []int
	for i := k; i < n; i += c.TrainWorkers {
		idx = append(idx, i)
	}
	return idx
}

// OuterSteps is the number of outer steps of a round of n examples with optimizer o: every
// worker trains o.Epochs epochs over its shard (so K workers together take about the steps
// one trainer would), LocalSteps at a time; the largest shard sets the count. A worker whose
// shard is done earlier keeps the global weights (a zero delta) in the last outer step.
// n must be at least Workers (every shard has an example).
func (c OuterConfig) OuterSteps(n int, o OptimConfig) (int, error) {
	if n < c.TrainWorkers {
		return 0, &InputError{Field: "train_workers", Problem: fmt.Sprintf("is %d but the round has only %d train examples", c.TrainWorkers, n),
			Fix: "use at most as many workers as train pairs (a worker needs a shard of at least one example)"}
	}
	o = o.normalized()
	largest := (n + c.TrainWorkers - 1) / c.TrainWorkers
	steps := o.Epochs * ((largest + o.BatchSize - 1) / o.BatchSize)
	return (steps + c.LocalSteps - 1) / c.LocalSteps, nil
}

// OuterUpdate applies one outer step to one tensor, in place: theta holds the global weights
// theta_t and becomes theta_t+1, locals[k] are worker k's weights after its inner steps, and
// v is the momentum buffer (zero before the first step), updated in place:
//
//	delta = theta - (1/K) sum_k locals[k];  v = momentum v + delta;  theta -= lr (delta + momentum v)
func OuterUpdate(theta []float64, locals [][]float64, v []float64, lr, momentum float64) {
	sum := make([]float64, len(theta))
	for _, l := range locals {
		for j, x := range l {
			sum[j] += x
		}
	}
	outerUpdateSum(theta, sum, len(locals), v, lr, momentum)
}

// outerUpdateSum is OuterUpdate from the sum of the K workers' weights (added in worker
// order, from 0).
func outerUpdateSum(theta, sum []float64, k int, v []float64, lr, momentum float64) {
	kf := float64(k)
	for j := range theta {
		delta := theta[j] - sum[j]/kf
		v[j] = momentum*v[j] + delta
		theta[j] -= lr * (delta + momentum*v[j])
	}
}

// OuterSum adds up the workers' weights of one outer step, one worker at a time in worker
// order (element by element in float64, from 0: the same bits as OuterUpdate's sum), so
// that combining K workers holds one worker's model at a time, not K: 8 bytes a parameter
// for the sum whatever K.
type OuterSum struct {
	global *GPT
	sum    [][]float64
	n      int
}

// NewOuterSum is an empty sum for workers of global's layout.
func NewOuterSum(global *GPT) *OuterSum {
	s := &OuterSum{global: global}
	for _, p := range global.Params {
		s.sum = append(s.sum, make([]float64, p.Value.Shape().TotalSize()))
	}
	return s
}

// Add adds the next worker's weights (workers in order: 0, 1, ...).
func (s *OuterSum) Add(local *GPT) error {
	if err := sameLayout(s.global, local); err != nil {
		return fmt.Errorf("model: worker %d: %w", s.n, err)
	}
	for i, p := range local.Params {
		sum := s.sum[i]
		switch d := p.Value.Data().(type) {
		case []float32:
			for j, x := range d {
				sum[j] += float64(x)
			}
		case []float64:
			for j, x := range d {
				sum[j] += x
			}
		default:
			return fmt.Errorf("model: unsupported dtype %v", p.Value.Dtype())
		}
	}
	s.n++
	return nil
}

// OuterState is the outer optimizer's state: the step count and one momentum buffer per
// parameter tensor (float64, saved exactly).
type OuterState struct {
	Steps int
	V     [][]float64
}

// NewOuterState is the state before the first outer step: zero momentum shaped like m.
func NewOuterState(m *GPT) *OuterState {
	s := &OuterState{}
	for _, p := range m.Params {
		s.V = append(s.V, make([]float64, p.Value.Shape().TotalSize()))
	}
	return s
}

// OuterStep applies one outer step: global (theta_t) becomes theta_t+1 in place, from the
// workers' models locals (theta_t^k, in worker order), and st's momentum is updated. Every
// model must have global's layout. Weights are combined in float64 and stored in the
// model's dtype. It is OuterStepSum over the locals' OuterSum.
func (c OuterConfig) OuterStep(global *GPT, locals []*GPT, st *OuterState) error {
	sum := NewOuterSum(global)
	for _, l := range locals {
		if err := sum.Add(l); err != nil {
			return err
		}
	}
	return c.OuterStepSum(global, sum, st)
}

// OuterStepSum applies one outer step from the sum of the workers' weights (OuterSum, for
// this global): global (theta_t) becomes theta_t+1 in place and st's momentum is updated.
func (c OuterConfig) OuterStepSum(global *GPT, sum *OuterSum, st *OuterState) error {
	if sum.n == 0 {
		return fmt.Errorf("model: outer step without worker models")
	}
	if sum.global != global {
		return fmt.Errorf("model: outer step over a sum made for another model")
	}
	if err := global.checkLayout(); err != nil {
		return err
	}
	if len(st.V) != len(global.Params) {
		return fmt.Errorf("model: outer state has %d momentum tensors, the model %d parameters", len(st.V), len(global.Params))
	}
	for i, p := range global.Params {
		theta := floats(p.Value)
		if len(st.V[i]) != len(theta) {
			return fmt.Errorf("model: outer momentum of %q has %d values, the parameter %d", p.Name, len(st.V[i]), len(theta))
		}
		outerUpdateSum(theta, sum.sum[i], sum.n, st.V[i], c.OuterLR, c.OuterMomentum)
		for j := range theta {
			if !finite(theta[j]) {
				return &NonFiniteError{Step: st.Steps, Term: "outer update of " + p.Name}
			}
		}
		setFloats(p.Value.Data(), theta)
	}
	st.Steps++
	return nil
}

// sameLayout checks that b has a's parameters (names, shapes, dtype), in order.
func sameLayout(a, b *GPT) error {
	if len(a.Params) != len(b.Params) {
		return fmt.Errorf("%d parameter tensors, want %d", len(b.Params), len(a.Params))
	}
	for i, p := range a.Params {
		q := b.Params[i]
		if q.Name != p.Name || !q.Value.Shape().Eq(p.Value.Shape()) || q.Value.Dtype() != p.Value.Dtype() {
			return fmt.Errorf("parameter %d is %q %v %v, want %q %v %v", i, q.Name, q.Value.Shape(), q.Value.Dtype(), p.Name, p.Value.Shape(), p.Value.Dtype())
		}
	}
	return nil
}

// setFloats stores vals into a float32 or float64 backing slice.
func setFloats(dst any, vals []float64) {
	switch d := dst.(type) {
	case []float64:
		copy(d, vals)
	case []float32:
		for j, v := range vals {
			d[j] = float32(v)
		}
	default:
		panic(fmt.Sprintf("model: unsupported backing %T", dst))
	}
}

// SetWeights replaces the weights of the trainer's model by src's (same layout), keeping
// the optimizer state, the step and the history: a DiLoCo worker continues its own inner
// optimizer from the new global weights of each outer step.
func (t *Trainer) SetWeights(src *GPT) error {
	if err := sameLayout(t.m, src); err != nil {
		return fmt.Errorf("model: set weights: %w", err)
	}
	for i, p := range t.m.Params {
		switch d := p.Value.Data().(type) {
		case []float32:
			copy(d, src.Params[i].Value.Data().([]float32))
		case []float64:
			copy(d, src.Params[i].Value.Data().([]float64))
		}
	}
	return nil
}

// Save writes the outer state as a safetensors file (kind "outer": one float64 tensor
// "outer.v.{param}" per parameter and the step count), in the model's parameter order.
func (s *OuterState) Save(w io.Writer, m *GPT) error {
	if len(s.V) != len(m.Params) {
		return fmt.Errorf("model: outer state has %d momentum tensors, the model %d parameters", len(s.V), len(m.Params))
	}
	ts := make([]namedTensor, len(s.V))
	for i, p := range m.Params {
		ts[i] = namedTensor{name: "outer.v." + p.Name, shape: []int{len(s.V[i])}, f64: s.V[i]}
	}
	return writeSafetensors(w, ts, map[string]string{"kind": "outer", "outer_steps": strconv.Itoa(s.Steps)})
}

// LoadOuterState reads an OuterState.Save file for model m (sha256 of every tensor checked).
func LoadOuterState(r io.Reader, m *GPT) (*OuterState, error) {
	f, err := readSafetensors(r)
	if err != nil {
		return nil, err
	}
	if f.meta["kind"] != "outer" {
		return nil, fmt.Errorf("model: file kind is %q, want an outer optimizer state (\"outer\")", f.meta["kind"])
	}
	s := &OuterState{}
	if s.Steps, err = strconv.Atoi(f.meta["outer_steps"]); err != nil || s.Steps < 0 {
		return nil, fmt.Errorf("model: outer state step count %q is invalid", f.meta["outer_steps"])
	}
	for _, p := range m.Params {
		nt, ok := f.tensors["outer.v."+p.Name]
		if !ok || len(nt.f64) != p.Value.Shape().TotalSize() {
			return nil, fmt.Errorf("model: outer state lacks the momentum of %q (or it has the wrong size)", p.Name)
		}
		s.V = append(s.V, nt.f64)
	}
	if len(f.tensors) != len(m.Params) {
		return nil, fmt.Errorf("model: outer state has %d tensors, the model %d parameters", len(f.tensors), len(m.Params))
	}
	return s, nil
}
