package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gorgonia.org/tensor"
)

// Param is one named parameter tensor. The layout (names, shapes, order) is fixed by
// paramShapes and is the checkpoint layout:
//
//	wte [V,D]  wpe [T,D]
//	per layer l: h{l}.ln1.g [D] h{l}.ln1.b [D] h{l}.attn.wqkv [D,3D] h{l}.attn.bqkv [3D]
//	             h{l}.attn.wo [D,D] h{l}.attn.bo [D] h{l}.ln2.g [D] h{l}.ln2.b [D]
//	             h{l}.mlp.wfc [D,4D] h{l}.mlp.bfc [4D] h{l}.mlp.wproj [4D,D] h{l}.mlp.bproj [D]
//	lnf.g [D] lnf.b [D]   lm_head [D,V] (absent when TiedEmbeddings: logits = x @ wte^T)
//
// Matrices are row-major in the x @ W convention (W is [in, out]). qkv columns are
// [q | k | v], each D wide; head h uses columns h*hd:(h+1)*hd of each part.
type Param struct {
	Name  string
	Value *tensor.Dense
}

// GPT is a GPT-2 style decoder: pre-LN blocks, causal multi-head attention, GELU (tanh) MLP,
// final LayerNorm, logits over the vocabulary. LayerNorm eps is 1e-5.
type GPT struct {
	Config Config
	Tok    *Tokenizer
	Params []*Param

	mu     sync.Mutex        // guards graphs
	graphs map[graphKey]*net // forward-only graphs for LogProbs, one per shape
}

type paramSpec struct {
	name  string
	shape []int
	std   float64 // init: normal(0, std); std 0 means constant init
	one   bool    // constant 1 (LayerNorm gains)
}

// paramSpecs lists the parameters in layout order, with GPT-2 init: weights normal(0, 0.02),
// residual projections (attn.wo, mlp.wproj) normal(0, 0.02/sqrt(2*layers)) (GPT-2 paper,
// section 2.3; nanoGPT), LayerNorm g=1 b=0, biases 0.
func paramSpecs(c Config) []paramSpec {
	V, D, T := c.VocabSize, c.DModel, c.Context
	resid := 0.02 / math.Sqrt(2*float64(c.Layers))
	s := []paramSpec{{name: "wte", shape: []int{V, D}, std: 0.02}, {name: "wpe", shape: []int{T, D}, std: 0.02}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("h%d.", l)
		s = append(s,
			paramSpec{name: p + "ln1.g", shape: []int{D}, one: true},
			paramSpec{name: p + "ln1.b", shape: []int{D}},
			paramSpec{name: p + "attn.wqkv", shape: []int{D, 3 * D}, std: 0.02},
			paramSpec{name: p + "attn.bqkv", shape: []int{3 * D}},
			paramSpec{name: p + "attn.wo", shape: []int{D, D}, std: resid},
			paramSpec{name: p + "attn.bo", shape: []int{D}},
			paramSpec{name: p + "ln2.g", shape: []int{D}, one: true},
			paramSpec{name: p + "ln2.b", shape: []int{D}},
			paramSpec{name: p + "mlp.wfc", shape: []int{D, 4 * D}, std: 0.02},
			paramSpec{name: p + "mlp.bfc", shape: []int{4 * D}},
			paramSpec{name: p + "mlp.wproj", shape: []int{4 * D, D}, std: resid},
			paramSpec{name: p + "mlp.bproj", shape: []int{D}},
		)
	}
	s = append(s, paramSpec{name: "lnf.g", shape: []int{D}, one: true}, paramSpec{name: "lnf.b", shape: []int{D}})
	if !c.TiedEmbeddings {
		s = append(s, paramSpec{name: "lm_head", shape: []int{D, V}, std: 0.02})
	}
	return s
}

// New returns a GPT with GPT-2 initialization drawn from a PCG generator seeded by
// cfg.Seed, in layout order: the same Config gives bit-identical weights.
func New(cfg Config, tok *Tokenizer) (*GPT, error) {
	if tok == nil {
		tok = NewByteTokenizer()
	}
	if cfg.VocabSize == 0 {
		cfg.VocabSize = tok.VocabSize()
	}
	if cfg.DType == "" {
		cfg.DType = "float32"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.VocabSize != tok.VocabSize() {
		return nil, &InputError{Field: "config.vocab_size", Problem: fmt.Sprintf("is %d but the tokenizer has %d ids", cfg.VocabSize, tok.VocabSize()), Fix: "set VocabSize to Tokenizer.VocabSize() (or 0 to take it from the tokenizer)"}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ace5ace))
	m := &GPT{Config: cfg, Tok: tok}
	for _, sp := range paramSpecs(cfg) {
		n := 1
		for _, d := range sp.shape {
			n *= d
		}
		vals := make([]float64, n)
		for i := range vals {
			switch {
			case sp.one:
				vals[i] = 1
			case sp.std > 0:
				vals[i] = rng.NormFloat64() * sp.std
			}
		}
		m.Params = append(m.Params, &Param{Name: sp.name, Value: newDense(cfg.dtype(), sp.shape, vals)})
	}
	return m, nil
}

// newDense makes a tensor of dtype dt holding vals (converted).
func newDense(dt tensor.Dtype, shape []int, vals []float64) *tensor.Dense {
	if dt == tensor.Float64 {
		b := make([]float64, len(vals))
		copy(b, vals)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(b))
	}
	b := make([]float32, len(vals))
	for i, v := range vals {
		b[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(b))
}

// Clone returns a deep copy (weights copied; caches not shared).
func (m *GPT) Clone() *GPT {
	c := &GPT{Config: m.Config, Tok: m.Tok.clone()}
	for _, p := range m.Params {
		c.Params = append(c.Params, &Param{Name: p.Name, Value: p.Value.Clone().(*tensor.Dense)})
	}
	return c
}

// NumParams is the number of scalar parameters.
func (m *GPT) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += p.Value.Shape().TotalSize()
	}
	return n
}

// Param returns the parameter with the given name, or nil.
func (m *GPT) Param(name string) *Param {
	for _, p := range m.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// checkLayout verifies that Params match the layout of Config (names, order, shapes, dtype).
func (m *GPT) checkLayout() error {
	specs := paramSpecs(m.Config)
	if len(specs) != len(m.Params) {
		return fmt.Errorf("model: %d parameter tensors, layout of config needs %d", len(m.Params), len(specs))
	}
	for i, sp := range specs {
		p := m.Params[i]
		if p.Name != sp.name {
			return fmt.Errorf("model: parameter %d is %q, layout needs %q", i, p.Name, sp.name)
		}
		if !p.Value.Shape().Eq(tensor.Shape(sp.shape)) {
			return fmt.Errorf("model: parameter %q has shape %v, layout needs %v", p.Name, p.Value.Shape(), sp.shape)
		}
		if p.Value.Dtype() != m.Config.dtype() {
			return fmt.Errorf("model: parameter %q has dtype %v, config says %v", p.Name, p.Value.Dtype(), m.Config.dtype())
		}
	}
	return nil
}

// floats returns the values of a float32 or float64 tensor as float64 (a copy).
func floats(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	panic(fmt.Sprintf("model: unsupported dtype %v", t.Dtype()))
}
