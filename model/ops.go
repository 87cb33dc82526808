package model

// Fused custom gorgonia ops. Each forward op implements G.SDOp; its SymDiff applies a
// backward op whose Do computes the gradient in plain Go (recomputing what it needs, e.g.
// the attention softmax). Matrix multiplies stay gorgonia Mul (BLAS). Kernels are generic
// over float32/float64; reductions accumulate in float64.

import (
	"fmt"
	"hash"
	"math"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type fnum interface{ ~float32 | ~float64 }

// opBase holds the methods every op here shares.
type opBase struct {
	name  string
	id    int   // distinguishes ops holding different state (hashing / CSE)
	types []int // dims of each input, then of the output
}

func (o opBase) Arity() int { return len(o.types) - 1 }
func (o opBase) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make(hm.Types, len(o.types))
	for i, d := range o.types {
		if d == 0 {
			ts[i] = a
		} else {
			ts[i] = G.TensorType{Dims: d, Of: a}
		}
	}
	return hm.NewFnType(ts...)
}
func (o opBase) ReturnsPtr() bool      { return false }
func (o opBase) CallsExtern() bool     { return false }
func (o opBase) OverwritesInput() int  { return -1 }
func (o opBase) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.name, o.id) }
func (o opBase) Hashcode() uint32 {
	var h uint32 = 2166136261
	for _, c := range []byte(fmt.Sprintf("%s#%d", o.name, o.id)) {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}
func (o opBase) String() string { return o.name }

func dense(v G.Value) *tensor.Dense { return v.(*tensor.Dense) }

// out allocates a result tensor of the same dtype as like.
func out(like *tensor.Dense, shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(like.Dtype()), tensor.WithShape(shape...))
}

func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// batchState is the per-run data of one graph: token ids, target ids and target weights
// of B rows of T positions. The ops hold a pointer to it; the caller refills it before
// each run (this is how "inputs" that are not float tensors enter the graph).
type batchState struct {
	B, T    int
	tokens  []int     // [B*T] input ids
	targets []int     // [B*T] target ids
	weights []float64 // [B*T] 1 where the target is a response token, else 0
	lens    []int     // [B] number of response tokens (targets) of each row
	seqLogp []float64 // [B] the last forward's log-probs, summed in float64
}

func newBatchState(B, T int) *batchState {
	return &batchState{B: B, T: T, tokens: make([]int, B*T), targets: make([]int, B*T), weights: make([]float64, B*T), lens: make([]int, B), seqLogp: make([]float64, B)}
}

// fill lays out seqs as rows (rows past len(seqs) are all padding with weight 0).
// Row b, position t holds input token seq[t] and target seq[t+1]; the target is scored
// (weight 1) when it is a response token, i.e. t+1 >= len(prompt).
func (st *batchState) fill(seqs []Sequence) {
	for i := range st.tokens {
		st.tokens[i], st.targets[i], st.weights[i] = PAD, PAD, 0
	}
	for b := range st.lens {
		st.lens[b] = 0
	}
	for b, s := range seqs {
		np := len(s.Prompt)
		L := np + len(s.Response)
		at := func(i int) int {
			if i < np {
				return s.Prompt[i]
			}
			return s.Response[i-np]
		}
		for t := 0; t < L-1; t++ {
			n := b*st.T + t
			st.tokens[n] = at(t)
			st.targets[n] = at(t + 1)
			if t+1 >= np {
				st.weights[n] = 1
			}
		}
		st.lens[b] = len(s.Response)
	}
}

// ---- embedding: x[n] = wte[tokens[n]] + wpe[n mod T] ----

type embedOp struct {
	opBase
	st *batchState
}

func newEmbedOp(st *batchState, id int) *embedOp {
	return &embedOp{opBase{"Embed", id, []int{2, 2, 2}}, st}
}

func (o *embedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	wte := in[0].(tensor.Shape)
	return tensor.Shape{o.st.B * o.st.T, wte[1]}, nil
}

func (o *embedOp) Do(in ...G.Value) (G.Value, error) {
	wte, wpe := dense(in[0]), dense(in[1])
	D := wte.Shape()[1]
	r := out(wte, o.st.B*o.st.T, D)
	switch w := wte.Data().(type) {
	case []float32:
		embedFwd(w, wpe.Data().([]float32), r.Data().([]float32), o.st, D)
	case []float64:
		embedFwd(w, wpe.Data().([]float64), r.Data().([]float64), o.st, D)
	}
	return r, nil
}

func embedFwd[F fnum](wte, wpe, y []F, st *batchState, D int) {
	for n, tok := range st.tokens {
		e, p, o := wte[tok*D:tok*D+D], wpe[(n%st.T)*D:(n%st.T)*D+D], y[n*D:n*D+D]
		for i := range o {
			o[i] = e[i] + p[i]
		}
	}
}

func (o *embedOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *embedOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dwte, err := G.ApplyOp(&embedGradOp{opBase{"EmbedGradWte", o.id, []int{2, 2, 2}}, o.st, 0}, in[0], grad)
	if err != nil {
		return nil, err
	}
	dwpe, err := G.ApplyOp(&embedGradOp{opBase{"EmbedGradWpe", o.id, []int{2, 2, 2}}, o.st, 1}, in[1], grad)
	return G.Nodes{dwte, dwpe}, err
}

// embedGradOp: inputs (table, grad) -> d table (scatter-add of grad rows).
type embedGradOp struct {
	opBase
	st    *batchState
	which int // 0: wte (rows by token), 1: wpe (rows by position)
}

func (o *embedGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *embedGradOp) Do(in ...G.Value) (G.Value, error) {
	tab, g := dense(in[0]), dense(in[1])
	s := tab.Shape()
	r := out(tab, s[0], s[1])
	switch gd := g.Data().(type) {
	case []float32:
		embedBwd(gd, r.Data().([]float32), o.st, s[1], o.which)
	case []float64:
		embedBwd(gd, r.Data().([]float64), o.st, s[1], o.which)
	}
	return r, nil
}

func embedBwd[F fnum](g, d []F, st *batchState, D, which int) {
	for n, tok := range st.tokens {
		row := tok
		if which == 1 {
			row = n % st.T
		}
		dr, gr := d[row*D:row*D+D], g[n*D:n*D+D]
		for i := range dr {
			dr[i] += gr[i]
		}
	}
}

// ---- LayerNorm with affine: y = (x - mean) / sqrt(var + eps) * g + b, per row ----

const lnEps = 1e-5

type layerNormOp struct{ opBase }

func newLayerNormOp() *layerNormOp { return &layerNormOp{opBase{"LayerNorm", 0, []int{2, 1, 1, 2}}} }

func (o *layerNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *layerNormOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := out(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		lnFwd(xd, dense(in[1]).Data().([]float32), dense(in[2]).Data().([]float32), r.Data().([]float32), s[1])
	case []float64:
		lnFwd(xd, dense(in[1]).Data().([]float64), dense(in[2]).Data().([]float64), r.Data().([]float64), s[1])
	}
	return r, nil
}

// lnStats returns the mean and 1/sqrt(var+eps) of one row (biased variance, as PyTorch).
func lnStats[F fnum](x []F) (mean, rstd float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var vr float64
	for _, v := range x {
		d := float64(v) - mean
		vr += d * d
	}
	vr /= float64(len(x))
	return mean, 1 / math.Sqrt(vr+lnEps)
}

func lnFwd[F fnum](x, g, b, y []F, D int) {
	for r := 0; r < len(x)/D; r++ {
		xr, yr := x[r*D:r*D+D], y[r*D:r*D+D]
		mean, rstd := lnStats(xr)
		for i := range xr {
			yr[i] = F((float64(xr[i])-mean)*rstd)*g[i] + b[i]
		}
	}
}

func (o *layerNormOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *layerNormOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	res := make(G.Nodes, 3)
	names := []string{"LayerNormGradX", "LayerNormGradG", "LayerNormGradB"}
	for k := 0; k < 3; k++ {
		outDims := 2
		if k > 0 {
			outDims = 1
		}
		var err error
		res[k], err = G.ApplyOp(&lnGradOp{opBase{names[k], 0, []int{2, 1, 2, outDims}}, k}, in[0], in[1], grad)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// lnGradOp: inputs (x, g, grad) -> dx (which 0), dg (1) or db (2).
//
//	xhat = (x-mean)*rstd; dxhat = grad*g
//	dx = rstd * (dxhat - mean(dxhat) - xhat*mean(dxhat*xhat));  dg = sum_rows grad*xhat;  db = sum_rows grad
type lnGradOp struct {
	opBase
	which int
}

func (o *lnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if o.which == 0 {
		return in[0].(tensor.Shape).Clone(), nil
	}
	return in[1].(tensor.Shape).Clone(), nil
}

func (o *lnGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	var r *tensor.Dense
	if o.which == 0 {
		r = out(x, s[0], s[1])
	} else {
		r = out(x, s[1])
	}
	switch xd := x.Data().(type) {
	case []float32:
		lnBwd(xd, dense(in[1]).Data().([]float32), dense(in[2]).Data().([]float32), r.Data().([]float32), s[1], o.which)
	case []float64:
		lnBwd(xd, dense(in[1]).Data().([]float64), dense(in[2]).Data().([]float64), r.Data().([]float64), s[1], o.which)
	}
	return r, nil
}

func lnBwd[F fnum](x, g, gr, d []F, D, which int) {
	var acc []float64
	if which > 0 {
		acc = make([]float64, D)
	}
	for r := 0; r < len(x)/D; r++ {
		xr, grr := x[r*D:r*D+D], gr[r*D:r*D+D]
		if which == 2 {
			for i := range grr {
				acc[i] += float64(grr[i])
			}
			continue
		}
		mean, rstd := lnStats(xr)
		if which == 1 {
			for i := range xr {
				acc[i] += float64(grr[i]) * (float64(xr[i]) - mean) * rstd
			}
			continue
		}
		var m1, m2 float64
		for i := range xr {
			dxh := float64(grr[i]) * float64(g[i])
			m1 += dxh
			m2 += dxh * (float64(xr[i]) - mean) * rstd
		}
		m1 /= float64(D)
		m2 /= float64(D)
		dr := d[r*D : r*D+D]
		for i := range xr {
			dxh := float64(grr[i]) * float64(g[i])
			dr[i] = F(rstd * (dxh - m1 - (float64(xr[i])-mean)*rstd*m2))
		}
	}
	for i, v := range acc {
		d[i] = F(v)
	}
}

// ---- bias: y = x + b (b broadcast over rows) ----

type biasOp struct{ opBase }

func newBiasOp() *biasOp { return &biasOp{opBase{"AddBias", 0, []int{2, 1, 2}}} }

func (o *biasOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *biasOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := out(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		biasFwd(xd, dense(in[1]).Data().([]float32), r.Data().([]float32))
	case []float64:
		biasFwd(xd, dense(in[1]).Data().([]float64), r.Data().([]float64))
	}
	return r, nil
}

func biasFwd[F fnum](x, b, y []F) {
	M := len(b)
	for r := 0; r < len(x)/M; r++ {
		xr, yr := x[r*M:r*M+M], y[r*M:r*M+M]
		for i := range yr {
			yr[i] = xr[i] + b[i]
		}
	}
}

func (o *biasOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *biasOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	db, err := G.ApplyOp(&colSumOp{opBase{"ColSum", 0, []int{2, 1}}}, grad)
	return G.Nodes{grad, db}, err
}

// colSumOp: [N,M] -> [M], the sum over rows.
type colSumOp struct{ opBase }

func (o *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}

func (o *colSumOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	M := x.Shape()[1]
	r := out(x, M)
	switch xd := x.Data().(type) {
	case []float32:
		colSum(xd, r.Data().([]float32), M)
	case []float64:
		colSum(xd, r.Data().([]float64), M)
	}
	return r, nil
}

func colSum[F fnum](x, y []F, M int) {
	acc := make([]float64, M)
	for r := 0; r < len(x)/M; r++ {
		for i, v := range x[r*M : r*M+M] {
			acc[i] += float64(v)
		}
	}
	for i, v := range acc {
		y[i] = F(v)
	}
}

// ---- GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ----

type geluOp struct{ opBase }

func newGeluOp() *geluOp { return &geluOp{opBase{"GELU", 0, []int{2, 2}}} }

func (o *geluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *geluOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := out(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		geluFwd(xd, r.Data().([]float32))
	case []float64:
		geluFwd(xd, r.Data().([]float64))
	}
	return r, nil
}

const geluC = 0.7978845608028654 // sqrt(2/pi)

func geluFwd[F fnum](x, y []F) {
	for i, v := range x {
		xv := float64(v)
		y[i] = F(0.5 * xv * (1 + math.Tanh(geluC*(xv+0.044715*xv*xv*xv))))
	}
}

func (o *geluOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *geluOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&geluGradOp{opBase{"GELUGrad", 0, []int{2, 2, 2}}}, in[0], grad)
	return G.Nodes{d}, err
}

// geluGradOp: (x, grad) -> grad * gelu'(x),
// gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2).
type geluGradOp struct{ opBase }

func (o *geluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *geluGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := out(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		geluBwd(xd, dense(in[1]).Data().([]float32), r.Data().([]float32))
	case []float64:
		geluBwd(xd, dense(in[1]).Data().([]float64), r.Data().([]float64))
	}
	return r, nil
}

func geluBwd[F fnum](x, g, d []F) {
	for i, v := range x {
		xv := float64(v)
		t := math.Tanh(geluC * (xv + 0.044715*xv*xv*xv))
		d[i] = F(float64(g[i]) * (0.5*(1+t) + 0.5*xv*(1-t*t)*geluC*(1+3*0.044715*xv*xv)))
	}
}

// ---- causal multi-head attention on packed qkv [B*T, 3D] -> [B*T, D] ----

type attnOp struct {
	opBase
	st    *batchState
	heads int
}

func newAttnOp(st *batchState, heads int) *attnOp {
	return &attnOp{opBase{"CausalAttention", heads, []int{2, 2}}, st, heads}
}

func (o *attnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0], s[1] / 3}, nil
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	qkv := dense(in[0])
	s := qkv.Shape()
	r := out(qkv, s[0], s[1]/3)
	switch d := qkv.Data().(type) {
	case []float32:
		attnFwd(d, r.Data().([]float32), o.st.B, o.st.T, s[1]/3, o.heads)
	case []float64:
		attnFwd(d, r.Data().([]float64), o.st.B, o.st.T, s[1]/3, o.heads)
	}
	return r, nil
}

// attnProbs writes into p[0..i] the softmax over j <= i of q_i.k_j / sqrt(hd).
func attnProbs[F fnum](qkv []F, p []float64, base, i, D, off, hd int, scale float64) {
	q := qkv[(base+i)*3*D+off : (base+i)*3*D+off+hd]
	mx := math.Inf(-1)
	for j := 0; j <= i; j++ {
		k := qkv[(base+j)*3*D+D+off : (base+j)*3*D+D+off+hd]
		var s float64
		for c := range q {
			s += float64(q[c]) * float64(k[c])
		}
		s *= scale
		p[j] = s
		if s > mx {
			mx = s
		}
	}
	var z float64
	for j := 0; j <= i; j++ {
		p[j] = math.Exp(p[j] - mx)
		z += p[j]
	}
	for j := 0; j <= i; j++ {
		p[j] /= z
	}
}

func attnFwd[F fnum](qkv, y []F, B, T, D, H int) {
	hd := D / H
	scale := 1 / math.Sqrt(float64(hd))
	parallelFor(B*H, func(lo, hi int) {
		p := make([]float64, T)
		acc := make([]float64, hd)
		for bh := lo; bh < hi; bh++ {
			base, off := (bh/H)*T, (bh%H)*hd
			for i := 0; i < T; i++ {
				attnProbs(qkv, p, base, i, D, off, hd, scale)
				clear(acc)
				for j := 0; j <= i; j++ {
					v := qkv[(base+j)*3*D+2*D+off : (base+j)*3*D+2*D+off+hd]
					for c := range acc {
						acc[c] += p[j] * float64(v[c])
					}
				}
				yo := y[(base+i)*D+off : (base+i)*D+off+hd]
				for c := range yo {
					yo[c] = F(acc[c])
				}
			}
		}
	})
}

// parallelFor splits [0, n) into contiguous chunks run on up to GOMAXPROCS goroutines.
// Each index is handled by exactly one goroutine with the same arithmetic as a serial
// loop, so results are bit-identical whatever the number of cores.
func parallelFor(n int, f func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

func (o *attnOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *attnOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&attnGradOp{opBase{"CausalAttentionGrad", o.heads, []int{2, 2, 2}}, o.st, o.heads}, in[0], grad)
	return G.Nodes{d}, err
}

// attnGradOp: (qkv, grad) -> dqkv. With p the recomputed softmax of row i:
//
//	dv_j += p_j dy_i;  dp_j = dy_i.v_j;  ds_j = p_j (dp_j - sum_k p_k dp_k)
//	dq_i += scale sum_j ds_j k_j;  dk_j += scale ds_j q_i
type attnGradOp struct {
	opBase
	st    *batchState
	heads int
}

func (o *attnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	qkv := dense(in[0])
	s := qkv.Shape()
	r := out(qkv, s[0], s[1])
	switch d := qkv.Data().(type) {
	case []float32:
		attnBwd(d, dense(in[1]).Data().([]float32), r.Data().([]float32), o.st.B, o.st.T, s[1]/3, o.heads)
	case []float64:
		attnBwd(d, dense(in[1]).Data().([]float64), r.Data().([]float64), o.st.B, o.st.T, s[1]/3, o.heads)
	}
	return r, nil
}

func attnBwd[F fnum](qkv, gy, dqkv []F, B, T, D, H int) {
	hd := D / H
	scale := 1 / math.Sqrt(float64(hd))
	// accumulate in float64, then convert; each (batch row, head) owns its columns of acc
	acc := make([]float64, len(dqkv))
	parallelFor(B*H, func(lo, hi int) {
		p := make([]float64, T)
		dp := make([]float64, T)
		for bh := lo; bh < hi; bh++ {
			base, off := (bh/H)*T, (bh%H)*hd
			for i := 0; i < T; i++ {
				attnProbs(qkv, p, base, i, D, off, hd, scale)
				g := gy[(base+i)*D+off : (base+i)*D+off+hd]
				var sum float64
				for j := 0; j <= i; j++ {
					vo := (base+j)*3*D + 2*D + off
					var s float64
					for c := 0; c < hd; c++ {
						s += float64(g[c]) * float64(qkv[vo+c])
						acc[vo+c] += p[j] * float64(g[c])
					}
					dp[j] = s
					sum += p[j] * s
				}
				qo := (base+i)*3*D + off
				for j := 0; j <= i; j++ {
					ds := p[j] * (dp[j] - sum) * scale
					ko := (base+j)*3*D + D + off
					for c := 0; c < hd; c++ {
						acc[qo+c] += ds * float64(qkv[ko+c])
						acc[ko+c] += ds * float64(qkv[qo+c])
					}
				}
			}
		}
	})
	for i, v := range acc {
		dqkv[i] = F(v)
	}
}

// ---- token log-probs: logits [B*T, V] -> [B], sum over scored positions of log p(target) ----

type tokLogpOp struct {
	opBase
	st *batchState
}

func newTokLogpOp(st *batchState) *tokLogpOp {
	return &tokLogpOp{opBase{"TokenLogProb", 0, []int{2, 1}}, st}
}

func (o *tokLogpOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{o.st.B}, nil
}

func (o *tokLogpOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	r := out(x, o.st.B)
	switch d := x.Data().(type) {
	case []float32:
		tokLogpFwd(d, r.Data().([]float32), o.st, x.Shape()[1])
	case []float64:
		tokLogpFwd(d, r.Data().([]float64), o.st, x.Shape()[1])
	}
	return r, nil
}

// logSumExp of one row, in float64.
func logSumExp[F fnum](row []F) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		if float64(v) > mx {
			mx = float64(v)
		}
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(z)
}

func tokLogpFwd[F fnum](x, y []F, st *batchState, V int) {
	acc := make([]float64, st.B)
	for n, w := range st.weights {
		if w == 0 {
			continue
		}
		row := x[n*V : n*V+V]
		acc[n/st.T] += w * (float64(row[st.targets[n]]) - logSumExp(row))
	}
	for b, v := range acc {
		y[b] = F(v)
	}
	copy(st.seqLogp, acc)
}

func (o *tokLogpOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *tokLogpOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&tokLogpGradOp{opBase{"TokenLogProbGrad", 0, []int{2, 1, 2}}, o.st}, in[0], grad)
	return G.Nodes{d}, err
}

// tokLogpGradOp: (logits, grad [B]) -> dlogits = grad[b] * w * (onehot(target) - softmax).
type tokLogpGradOp struct {
	opBase
	st *batchState
}

func (o *tokLogpGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *tokLogpGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := out(x, s[0], s[1])
	switch d := x.Data().(type) {
	case []float32:
		tokLogpBwd(d, dense(in[1]).Data().([]float32), r.Data().([]float32), o.st, s[1])
	case []float64:
		tokLogpBwd(d, dense(in[1]).Data().([]float64), r.Data().([]float64), o.st, s[1])
	}
	return r, nil
}

func tokLogpBwd[F fnum](x, g, d []F, st *batchState, V int) {
	for n, w := range st.weights {
		if w == 0 {
			continue
		}
		row, dr := x[n*V:n*V+V], d[n*V:n*V+V]
		lse := logSumExp(row)
		c := float64(g[n/st.T]) * w
		for v := range row {
			dr[v] = F(-c * math.Exp(float64(row[v])-lse))
		}
		dr[st.targets[n]] += F(c)
	}
}

// denseData returns the backing slice of a gorgonia value holding a dense tensor.
func denseData(v G.Value) any { return v.(*tensor.Dense).Data() }
