package model

// Fused custom gorgonia ops. Each forward op implements G.SDOp; its SymDiff applies
// backward ops whose Do computes the gradient in plain Go and BLAS. Kernels are generic over
// float32/float64.
//
// Speed (issue 5): every matrix product is a BLAS gemm in the model's dtype (blasops.go):
// the linear layers (x@W+b, with dx and dW in the backward) cut in two fixed halves run side
// by side so both cores work while OpenBLAS stays single-threaded; attention per (row, head)
// on strided views of qkv. Each op reuses its output tensor from run to run (graphs have
// fixed shapes), and what a backward needs from its forward is kept, not recomputed (the
// attention probabilities, GELU's tanh, the log-sum-exp of the logits). Element-wise and
// row-wise loops are split over goroutines by rows or columns, each element computed the same
// way in any split, so results are the same bits whatever GOMAXPROCS is.
//
// Precision: the row statistics and sums written here (softmax normalizers, LayerNorm
// statistics and dg/db, bias gradients, log-sum-exp, the per-sequence log-probs) accumulate
// in float64; the log-softmax over the vocabulary of a float32 model computes its exps in
// float32 (exp32.go: AVX2, 8 lanes) and only sums them in float64; the matrix products (including attention's QK^T, PV and their gradients)
// accumulate in the model's dtype inside BLAS. float32 models use a rational tanh for GELU
// (abs error 2.6e-7), float64 models an exp-based one (abs error ~1e-16).

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
	tokens  []int         // [B*T] input ids
	targets []int         // [B*T] target ids
	weights []float64     // [B*T] 1 where the target is a response token, else 0
	lens    []int         // [B] number of response tokens (targets) of each row
	seqLogp []float64     // [B] the last forward's log-probs, summed in float64
	lse     []float64     // [B*T] log-sum-exp of each scored position's logits (forward -> backward)
	dEmbed  *tensor.Dense // [B*T, D] gradient of the embedding's output (the last backward)
	pad     int           // id of padding positions (the tokenizer's padFill: PAD for the byte tokenizer)
}

func newBatchState(B, T int) *batchState {
	return &batchState{B: B, T: T, tokens: make([]int, B*T), targets: make([]int, B*T), weights: make([]float64, B*T), lens: make([]int, B), seqLogp: make([]float64, B), lse: make([]float64, B*T), pad: PAD}
}

// fill lays out seqs as rows (rows past len(seqs) are all padding with weight 0).
// Row b, position t holds input token seq[t] and target seq[t+1]; the target is scored
// (weight 1) when it is a response token, i.e. t+1 >= len(prompt). Padding uses st.pad, the
// tokenizer's padding id (PAD for the byte tokenizer, else its EOS, else 0), which is always
// inside the model's vocabulary; it never changes a result.
func (st *batchState) fill(seqs []Sequence) {
	for i := range st.tokens {
		st.tokens[i], st.targets[i], st.weights[i] = st.pad, st.pad, 0
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

// With tied embeddings (wte is also the output projection) the graph does not differentiate
// the embedding with respect to wte: the tied logits' weight gradient is wte's only gradient
// tensor, and the trainer adds the embedding's rows into it after each run (net.addEmbedGrad,
// from the gradient of x that the wpe gradient op leaves in batchState.dEmbed). So a training
// graph holds one [V, D] gradient for wte, not three (the logits', the embedding's, their sum:
// 154 MB each at GPT-2's vocabulary).
type embedOp struct {
	opBase
	st   *batchState
	tied bool // wte is not differentiated here (see above)
	buf  outBuf
}

func newEmbedOp(st *batchState, id int, tied bool) *embedOp {
	name := "Embed"
	if tied {
		name = "EmbedTied"
	}
	return &embedOp{opBase: opBase{name, id, []int{2, 2, 2}}, st: st, tied: tied}
}

func (o *embedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	wte := in[0].(tensor.Shape)
	return tensor.Shape{o.st.B * o.st.T, wte[1]}, nil
}

func (o *embedOp) Do(in ...G.Value) (G.Value, error) {
	wte, wpe := dense(in[0]), dense(in[1])
	D := wte.Shape()[1]
	r := o.buf.get(wte, o.st.B*o.st.T, D)
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

func (o *embedOp) DiffWRT(n int) []bool {
	d := allTrue(n)
	d[0] = !o.tied
	return d
}

func (o *embedOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dwpe, err := G.ApplyOp(&embedGradOp{opBase: opBase{"EmbedGradWpe", o.id, []int{2, 2, 2}}, st: o.st, which: 1}, in[1], grad)
	if err != nil || o.tied {
		return G.Nodes{nil, dwpe}, err
	}
	dwte, err := G.ApplyOp(&embedGradOp{opBase: opBase{"EmbedGradWte", o.id, []int{2, 2, 2}}, st: o.st}, in[0], grad)
	return G.Nodes{dwte, dwpe}, err
}

// embedGradOp: inputs (table, grad) -> d table (scatter-add of grad rows).
type embedGradOp struct {
	opBase
	st    *batchState
	which int // 0: wte (rows by token), 1: wpe (rows by position)
	buf   outBuf
}

func (o *embedGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *embedGradOp) Do(in ...G.Value) (G.Value, error) {
	tab, g := dense(in[0]), dense(in[1])
	if o.which == 1 {
		o.st.dEmbed = g // the gradient of the embedding's output, for tied wte (net.addEmbedGrad)
	}
	s := tab.Shape()
	r := o.buf.get(tab, s[0], s[1])
	switch gd := g.Data().(type) {
	case []float32:
		embedBwd(gd, r.Data().([]float32), o.st, s[1], o.which)
	case []float64:
		embedBwd(gd, r.Data().([]float64), o.st, s[1], o.which)
	}
	return r, nil
}

func embedBwd[F fnum](g, d []F, st *batchState, D, which int) {
	clear(d)
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

// embedScatterAdd adds row n of g to row tokens[n] of acc (D columns), in order.
func embedScatterAdd[S, F fnum](acc []S, g []F, tokens []int, D int) {
	for n, tok := range tokens {
		ar, gr := acc[tok*D:tok*D+D], g[n*D:n*D+D]
		for i := range ar {
			ar[i] += S(gr[i])
		}
	}
}

// ---- LayerNorm with affine: y = (x - mean) / sqrt(var + eps) * g + b, per row ----

const lnEps = 1e-5

type layerNormOp struct {
	opBase
	buf outBuf
}

func newLayerNormOp() *layerNormOp {
	return &layerNormOp{opBase: opBase{"LayerNorm", 0, []int{2, 1, 1, 2}}}
}

func (o *layerNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *layerNormOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := o.buf.get(x, s[0], s[1])
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
	parallelFor(len(x)/D, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*D:r*D+D], y[r*D:r*D+D]
			mean, rstd := lnStats(xr)
			for i := range xr {
				yr[i] = F((float64(xr[i])-mean)*rstd)*g[i] + b[i]
			}
		}
	})
}

func (o *layerNormOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *layerNormOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	sums := &lnSums{}
	dx, err := G.ApplyOp(&lnGradOp{opBase: opBase{"LayerNormGradX", 0, []int{2, 1, 2, 2}}, sums: sums}, in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	res := G.Nodes{dx}
	for k, name := range []string{"LayerNormGradG", "LayerNormGradB"} {
		// (dx, g): the dx node only orders this op after the one that fills sums.
		d, err := G.ApplyOp(&lnGradOp{opBase: opBase{name, 0, []int{2, 1, 1}}, which: k + 1, sums: sums}, dx, in[1])
		if err != nil {
			return nil, err
		}
		res = append(res, d)
	}
	return res, nil
}

// lnSums holds dg and db, computed by the dx op alongside dx.
type lnSums struct{ dg, db, mean, rstd []float64 }

// lnGradOp: which 0: (x, g, grad) -> dx, and leaves dg, db in sums; which 1, 2: (dx, g) ->
// dg or db from sums.
//
//	xhat = (x-mean)*rstd; dxhat = grad*g
//	dx = rstd * (dxhat - mean(dxhat) - xhat*mean(dxhat*xhat));  dg = sum_rows grad*xhat;  db = sum_rows grad
type lnGradOp struct {
	opBase
	which int
	sums  *lnSums
	buf   outBuf
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
	if o.which > 0 {
		r := o.buf.get(x, s[1])
		src := o.sums.dg
		if o.which == 2 {
			src = o.sums.db
		}
		switch d := r.Data().(type) {
		case []float32:
			for i, v := range src {
				d[i] = float32(v)
			}
		case []float64:
			copy(d, src)
		}
		return r, nil
	}
	r := o.buf.get(x, s[0], s[1])
	if len(o.sums.dg) != s[1] || len(o.sums.mean) != s[0] {
		o.sums.dg, o.sums.db = make([]float64, s[1]), make([]float64, s[1])
		o.sums.mean, o.sums.rstd = make([]float64, s[0]), make([]float64, s[0])
	}
	switch xd := x.Data().(type) {
	case []float32:
		lnBwd(xd, dense(in[1]).Data().([]float32), dense(in[2]).Data().([]float32), r.Data().([]float32), o.sums, s[1])
	case []float64:
		lnBwd(xd, dense(in[1]).Data().([]float64), dense(in[2]).Data().([]float64), r.Data().([]float64), o.sums, s[1])
	}
	return r, nil
}

// lnBwd writes dx (rows in parallel) and then sums dg and db over the rows in order.
func lnBwd[F fnum](x, g, gr, d []F, sums *lnSums, D int) {
	parallelFor(len(x)/D, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, grr := x[r*D:r*D+D], gr[r*D:r*D+D]
			mean, rstd := lnStats(xr)
			sums.mean[r], sums.rstd[r] = mean, rstd
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
	})
	dg, db := sums.dg, sums.db
	clear(dg)
	clear(db)
	for r := 0; r < len(x)/D; r++ {
		xr, grr := x[r*D:r*D+D], gr[r*D:r*D+D]
		mean, rstd := sums.mean[r], sums.rstd[r]
		for i := range xr {
			dg[i] += float64(grr[i]) * (float64(xr[i]) - mean) * rstd
			db[i] += float64(grr[i])
		}
	}
}

// ---- residual add: y = a + b ----

// addOp is the residual connection with a reused output (gorgonia's Add allocates its result
// on every run). Its gradient passes grad to both inputs.
type addOp struct {
	opBase
	buf outBuf
}

func newAddOp() *addOp { return &addOp{opBase: opBase{"ResidualAdd", 0, []int{2, 2, 2}}} }

func (o *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *addOp) Do(in ...G.Value) (G.Value, error) {
	a := dense(in[0])
	s := a.Shape()
	r := o.buf.get(a, s[0], s[1])
	switch ad := a.Data().(type) {
	case []float32:
		addFwd(ad, dense(in[1]).Data().([]float32), r.Data().([]float32))
	case []float64:
		addFwd(ad, dense(in[1]).Data().([]float64), r.Data().([]float64))
	}
	return r, nil
}

func addFwd[F fnum](a, b, y []F) {
	parallelChunks(len(a), func(lo, hi int) {
		a, b, y := a[lo:hi], b[lo:hi], y[lo:hi]
		for i := range y {
			y[i] = a[i] + b[i]
		}
	})
}

func (o *addOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *addOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, grad}, nil
}

// ---- linear: y = x @ W + b (W [in,out]), or x @ W^T (W [out,in], tied logits), b optional ----

type linearOp struct {
	opBase
	transW, bias bool
	buf          outBuf
}

func newLinearOp(transW, bias bool) *linearOp {
	types := []int{2, 2, 2}
	if bias {
		types = []int{2, 2, 1, 2}
	}
	return &linearOp{opBase: opBase{"Linear", 0, types}, transW: transW, bias: bias}
}

func (o *linearOp) outDim(w tensor.Shape) int {
	if o.transW {
		return w[0]
	}
	return w[1]
}

func (o *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], o.outDim(in[1].(tensor.Shape))}, nil
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	x, w := dense(in[0]), dense(in[1])
	N, K, M := x.Shape()[0], x.Shape()[1], o.outDim(w.Shape())
	r := o.buf.get(x, N, M)
	var b G.Value
	if o.bias {
		b = in[2]
	}
	switch xd := x.Data().(type) {
	case []float32:
		linearFwd(xd, w.Data().([]float32), biasData[float32](b), r.Data().([]float32), N, K, M, o.transW)
	case []float64:
		linearFwd(xd, w.Data().([]float64), biasData[float64](b), r.Data().([]float64), N, K, M, o.transW)
	}
	return r, nil
}

func biasData[F fnum](b G.Value) []F {
	if b == nil {
		return nil
	}
	return dense(b).Data().([]F)
}

// linearFwd: y[N,M] = x[N,K] @ W (+ b), the rows split in two parts computed side by side.
func linearFwd[F fnum](x, w, b, y []F, N, K, M int, transW bool) {
	ldw := M
	if transW {
		ldw = K
	}
	split2(N, func(lo, hi int) {
		var beta F
		if b != nil {
			for r := lo; r < hi; r++ {
				copy(y[r*M:r*M+M], b)
			}
			beta = 1
		}
		gemm(false, transW, hi-lo, M, K, 1, x[lo*K:], K, w, ldw, beta, y[lo*M:], M)
	})
}

func (o *linearOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *linearOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&linearGradOp{opBase: opBase{"LinearGradX", 0, []int{2, 2, 2}}, transW: o.transW}, in[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(&linearGradOp{opBase: opBase{"LinearGradW", 0, []int{2, 2, 2}}, transW: o.transW, which: 1}, in[0], grad)
	if err != nil || !o.bias {
		return G.Nodes{dx, dw}, err
	}
	db, err := G.ApplyOp(&colSumOp{opBase: opBase{"ColSum", 0, []int{2, 1}}}, grad)
	return G.Nodes{dx, dw, db}, err
}

// linearGradOp: which 0: (W, grad) -> dx = grad @ W^T (or grad @ W when transW);
// which 1: (x, grad) -> dW = x^T @ grad (or grad^T @ x when transW). Each is split in two
// parts by output rows; every output element is one dot product, computed by one part.
type linearGradOp struct {
	opBase
	transW bool
	which  int
	buf    outBuf
}

func (o *linearGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, g := in[0].(tensor.Shape), in[1].(tensor.Shape)
	if o.which == 0 { // a is W
		if o.transW {
			return tensor.Shape{g[0], a[1]}, nil
		}
		return tensor.Shape{g[0], a[0]}, nil
	}
	if o.transW { // a is x [N,K]: dW [M,K]
		return tensor.Shape{g[1], a[1]}, nil
	}
	return tensor.Shape{a[1], g[1]}, nil
}

func (o *linearGradOp) Do(in ...G.Value) (G.Value, error) {
	a, g := dense(in[0]), dense(in[1])
	N, M := g.Shape()[0], g.Shape()[1]
	var K int
	if o.which == 0 {
		K = a.Shape()[0]
		if o.transW {
			K = a.Shape()[1]
		}
	} else {
		K = a.Shape()[1]
	}
	var r *tensor.Dense
	switch {
	case o.which == 0:
		r = o.buf.get(g, N, K)
	case o.transW:
		r = o.buf.get(g, M, K)
	default:
		r = o.buf.get(g, K, M)
	}
	switch gd := g.Data().(type) {
	case []float32:
		linearBwd(a.Data().([]float32), gd, r.Data().([]float32), N, K, M, o.transW, o.which)
	case []float64:
		linearBwd(a.Data().([]float64), gd, r.Data().([]float64), N, K, M, o.transW, o.which)
	}
	return r, nil
}

// linearBwd: g is dy [N,M]; a is W (which 0) or x [N,K] (which 1); d is the result.
func linearBwd[F fnum](a, g, d []F, N, K, M int, transW bool, which int) {
	switch {
	case which == 0 && !transW: // dx[N,K] = g @ W^T, W [K,M]
		split2(N, func(lo, hi int) { gemm(false, true, hi-lo, K, M, 1, g[lo*M:], M, a, M, 0, d[lo*K:], K) })
	case which == 0: // dx[N,K] = g @ W, W [M,K]
		split2(N, func(lo, hi int) { gemm(false, false, hi-lo, K, M, 1, g[lo*M:], M, a, K, 0, d[lo*K:], K) })
	case !transW: // dW[K,M] = x^T @ g: rows lo..hi of dW use columns lo..hi of x
		split2(K, func(lo, hi int) { gemm(true, false, hi-lo, M, N, 1, a[lo:], K, g, M, 0, d[lo*M:], M) })
	default: // dW[M,K] = g^T @ x: rows lo..hi of dW use columns lo..hi of g
		split2(M, func(lo, hi int) { gemm(true, false, hi-lo, K, N, 1, g[lo:], M, a, K, 0, d[lo*K:], K) })
	}
}

// colSumOp: [N,M] -> [M], the sum over rows.
type colSumOp struct {
	opBase
	buf outBuf
}

func (o *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}

func (o *colSumOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	M := x.Shape()[1]
	r := o.buf.get(x, M)
	switch xd := x.Data().(type) {
	case []float32:
		colSum(xd, r.Data().([]float32), M)
	case []float64:
		colSum(xd, r.Data().([]float64), M)
	}
	return r, nil
}

// colSum: columns in parallel, each summed over the rows in order (float64).
func colSum[F fnum](x, y []F, M int) {
	parallelFor(M, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		N := len(x) / M
		r := 0
		for ; r+4 <= N; r += 4 { // four rows per pass, added in row order (same bits)
			x0, x1 := x[r*M+lo:r*M+hi], x[(r+1)*M+lo:(r+1)*M+hi]
			x2, x3 := x[(r+2)*M+lo:(r+2)*M+hi], x[(r+3)*M+lo:(r+3)*M+hi]
			x0, x1, x2, x3 = x0[:len(acc)], x1[:len(acc)], x2[:len(acc)], x3[:len(acc)]
			for i := range acc {
				acc[i] = acc[i] + float64(x0[i]) + float64(x1[i]) + float64(x2[i]) + float64(x3[i])
			}
		}
		for ; r < N; r++ {
			for i, v := range x[r*M+lo : r*M+hi] {
				acc[i] += float64(v)
			}
		}
		for i, v := range acc {
			y[lo+i] = F(v)
		}
	})
}

// ---- GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ----

// geluOp keeps the tanh of each element for its backward op (same run).
type geluOp struct {
	opBase
	buf outBuf
	th  *scratch
}

func newGeluOp() *geluOp { return &geluOp{opBase: opBase{"GELU", 0, []int{2, 2}}, th: &scratch{}} }

func (o *geluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *geluOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := o.buf.get(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		geluFwd32Recompute(xd, r.Data().([]float32))
	case []float64:
		geluFwd(xd, r.Data().([]float64), scratchOf[float64](o.th, len(xd)))
	}
	return r, nil
}

const geluC = 0.7978845608028654 // sqrt(2/pi)

// tanhExp is tanh(u) = 1 - 2/(exp(2u)+1): one exp (assembly on amd64) instead of math.Tanh's
// slower path; absolute error about 1e-16. float64 models (gradient checks) use it.
func tanhExp(u float64) float64 { return 1 - 2/(math.Exp(2*u)+1) }

// geluTanh is the tanh of GELU's argument for x in float64 (float64 models; float32 ones
// use geluTanh32). The sampler (kvGELU) uses the same function as the training graph.
func geluTanh(x float64) float64 {
	return tanhExp(geluC * (x + 0.044715*x*x*x))
}

// geluFwd writes GELU(x) to y and the tanh of each element to th (for the backward); float64
// models (float32 ones go through geluFwd32Recompute).
func geluFwd[F fnum](x, y, th []F) {
	parallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xv := float64(x[i])
			t := geluTanh(xv)
			th[i] = F(t)
			y[i] = F(0.5 * xv * (1 + t))
		}
	})
}

func (o *geluOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *geluOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&geluGradOp{opBase: opBase{"GELUGrad", 0, []int{2, 2, 2}}, th: o.th}, in[0], grad)
	return G.Nodes{d}, err
}

// geluGradOp: (x, grad) -> grad * gelu'(x), with t = tanh u saved by the forward:
// gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3*0.044715 x^2).
type geluGradOp struct {
	opBase
	buf outBuf
	th  *scratch
}

func (o *geluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *geluGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := o.buf.get(x, s[0], s[1])
	switch xd := x.Data().(type) {
	case []float32:
		geluBwd32Recompute(xd, dense(in[1]).Data().([]float32), r.Data().([]float32))
	case []float64:
		geluBwd(xd, dense(in[1]).Data().([]float64), r.Data().([]float64), geluSaved(o.th, xd))
	}
	return r, nil
}

// geluChunk is the number of elements whose tanh a float32 GELU keeps at a time.
const geluChunk = 2048

// geluFwd32Recompute is GELU of a float32 model without keeping tanh u for the backward:
// geluBwd32Recompute computes it again (the same bits: the same function of x), so a
// training graph holds no [rows, 4D] tanh buffer per layer (at GPT-2 small, batch 4 x 256
// tokens: 151 MB over 12 layers) for a second tanh per element.
func geluFwd32Recompute(x, y []float32) {
	parallelFor(len(x), func(lo, hi int) {
		var th [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			e := min(c+geluChunk, hi)
			geluFwd32(x[c:e], y[c:e], th[:e-c])
		}
	})
}

// geluBwd32Recompute writes d = g * GELU'(x), recomputing tanh u chunk by chunk.
func geluBwd32Recompute(x, g, d []float32) {
	parallelFor(len(x), func(lo, hi int) {
		var th, y [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			e := min(c+geluChunk, hi)
			geluFwd32(x[c:e], y[:e-c], th[:e-c])
			geluBwd32(x[c:e], g[c:e], d[c:e], th[:e-c])
		}
	})
}

// geluSaved returns the forward's tanh values for x (recomputed if the forward did not run);
// float64 models (float32 ones recompute in geluBwd32Recompute).
func geluSaved(s *scratch, x []float64) []float64 {
	if th, ok := s.v.([]float64); ok && len(th) == len(x) {
		return th
	}
	th := scratchOf[float64](s, len(x))
	for i, v := range x {
		th[i] = geluTanh(v)
	}
	return th
}

func geluBwd[F fnum](x, g, d, th []F) {
	parallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xv, t := float64(x[i]), float64(th[i])
			d[i] = F(float64(g[i]) * (0.5*(1+t) + 0.5*xv*(1-t*t)*geluC*(1+3*0.044715*xv*xv)))
		}
	})
}

// ---- causal multi-head attention on packed qkv [B*T, 3D] -> [B*T, D] ----
//
// Per (row, head): S = Q K^T * scale (BLAS, on strided views of qkv), causal softmax row by
// row (float32 models: exp32 in float32, the normalizer summed in float64; float64 models:
// math.Exp), Y = P V (BLAS). The probabilities P are not kept: the backward op computes them
// again, the same way (the same bits), one (row, head) at a time, so a graph holds no
// [B*H, T, T] buffer per layer (at GPT-2 small, 4 x 256 tokens: 151 MB over 12 layers; 4 x
// 1024: 2.4 GB) for one more Q K^T product and softmax per (row, head) in the backward:
//
//	dV = P^T dY;  dP = dY V^T;  dS = P * (dP - rowsum(P * dP));  dQ = scale dS K;  dK = scale dS^T Q
//
// The (row, head) pairs are split over goroutines; each owns its columns of the output and
// a T x T buffer from attnPool.

type attnOp struct {
	opBase
	st    *batchState
	heads int
	buf   outBuf
}

func newAttnOp(st *batchState, heads int) *attnOp {
	return &attnOp{opBase: opBase{"CausalAttention", heads, []int{2, 2}}, st: st, heads: heads}
}

func (o *attnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0], s[1] / 3}, nil
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	qkv := dense(in[0])
	s := qkv.Shape()
	r := o.buf.get(qkv, s[0], s[1]/3)
	B, T := o.st.B, o.st.T
	switch d := qkv.Data().(type) {
	case []float32:
		attnFwd(d, r.Data().([]float32), B, T, s[1]/3, o.heads)
	case []float64:
		attnFwd(d, r.Data().([]float64), B, T, s[1]/3, o.heads)
	}
	return r, nil
}

// attnPool holds T x T buffers (a []float32 or []float64) for the (row, head) loops.
var attnPool sync.Pool

func attnBuf[F fnum](n int) []F {
	if b, ok := attnPool.Get().([]F); ok && cap(b) >= n {
		return b[:n]
	}
	return make([]F, n)
}

// attnProbsBH writes into pb [T, T] the causal softmax of (row b, head at column off) of
// qkv: row i holds P[i, j] for j <= i and zeros after.
func attnProbsBH[F fnum](qkv, pb []F, base, off, T, D, hd int, scale float64, e []float64) {
	q, k := qkv[base*3*D+off:], qkv[base*3*D+D+off:]
	gemm(false, true, T, T, hd, F(scale), q, 3*D, k, 3*D, 0, pb, T)
	for i := 0; i < T; i++ {
		row := pb[i*T : i*T+T]
		if r32, ok := any(row).([]float32); ok {
			mx := r32[0]
			for _, v := range r32[1 : i+1] {
				if v > mx {
					mx = v
				}
			}
			expScale32(r32[:i+1], r32[:i+1], mx, 1)
			var z float64
			for _, v := range r32[:i+1] {
				z += float64(v)
			}
			for j, v := range r32[:i+1] {
				r32[j] = float32(float64(v) / z)
			}
		} else {
			mx := math.Inf(-1)
			for _, v := range row[:i+1] {
				mx = max(mx, float64(v))
			}
			var z float64
			for j, v := range row[:i+1] {
				e[j] = math.Exp(float64(v) - mx)
				z += e[j]
			}
			for j := range row[:i+1] {
				row[j] = F(e[j] / z)
			}
		}
		clear(row[i+1:])
	}
}

// attnFwd computes y.
func attnFwd[F fnum](qkv, y []F, B, T, D, H int) {
	hd := D / H
	scale := 1 / math.Sqrt(float64(hd))
	parallelFor(B*H, func(lo, hi int) {
		e := make([]float64, T)
		pb := attnBuf[F](T * T)
		defer attnPool.Put(pb)
		for bh := lo; bh < hi; bh++ {
			base, off := (bh/H)*T, (bh%H)*hd
			attnProbsBH(qkv, pb, base, off, T, D, hd, scale, e)
			gemm(false, false, T, hd, T, 1, pb, T, qkv[base*3*D+2*D+off:], 3*D, 0, y[base*D+off:], D)
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
	for k := 1; k < w; k++ {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, n/w)
	wg.Wait()
}

func (o *attnOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *attnOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&attnGradOp{opBase: opBase{"CausalAttentionGrad", o.heads, []int{2, 2, 2}}, st: o.st, heads: o.heads}, in[0], grad)
	return G.Nodes{d}, err
}

// attnGradOp: (qkv, grad) -> dqkv, from the probabilities its forward op kept.
type attnGradOp struct {
	opBase
	st    *batchState
	heads int
	buf   outBuf
}

func (o *attnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	qkv := dense(in[0])
	s := qkv.Shape()
	r := o.buf.get(qkv, s[0], s[1])
	B, T, H := o.st.B, o.st.T, o.heads
	switch d := qkv.Data().(type) {
	case []float32:
		attnBwd(d, dense(in[1]).Data().([]float32), r.Data().([]float32), B, T, s[1]/3, H)
	case []float64:
		attnBwd(d, dense(in[1]).Data().([]float64), r.Data().([]float64), B, T, s[1]/3, H)
	}
	return r, nil
}

// attnBwd computes dqkv, the probabilities of each (row, head) computed again as attnFwd did.
func attnBwd[F fnum](qkv, gy, dqkv []F, B, T, D, H int) {
	hd := D / H
	scale := F(1 / math.Sqrt(float64(hd)))
	parallelFor(B*H, func(lo, hi int) {
		e := make([]float64, T)
		ds, pb := attnBuf[F](T*T), attnBuf[F](T*T)
		defer func() { attnPool.Put(ds); attnPool.Put(pb) }()
		for bh := lo; bh < hi; bh++ {
			base, off := (bh/H)*T, (bh%H)*hd
			attnProbsBH(qkv, pb, base, off, T, D, hd, 1/math.Sqrt(float64(hd)), e)
			qo, ko, vo := base*3*D+off, base*3*D+D+off, base*3*D+2*D+off
			g := gy[base*D+off:]
			gemm(false, true, T, T, hd, 1, g, D, qkv[vo:], 3*D, 0, ds, T)  // dP = dY V^T
			gemm(true, false, T, hd, T, 1, pb, T, g, D, 0, dqkv[vo:], 3*D) // dV = P^T dY
			for i := 0; i < T; i++ {
				pr, dr := pb[i*T:i*T+i+1], ds[i*T:i*T+T]
				var sum float64
				for j, pv := range pr {
					sum += float64(pv) * float64(dr[j])
				}
				for j, pv := range pr {
					dr[j] = F(float64(pv) * (float64(dr[j]) - sum))
				}
				clear(dr[i+1:])
			}
			gemm(false, false, T, hd, T, scale, ds, T, qkv[ko:], 3*D, 0, dqkv[qo:], 3*D) // dQ
			gemm(true, false, T, hd, T, scale, ds, T, qkv[qo:], 3*D, 0, dqkv[ko:], 3*D)  // dK
		}
	})
}

// ---- token log-probs: logits [B*T, V] -> [B], sum over scored positions of log p(target) ----

type tokLogpOp struct {
	opBase
	st  *batchState
	buf outBuf
}

func newTokLogpOp(st *batchState) *tokLogpOp {
	return &tokLogpOp{opBase: opBase{"TokenLogProb", 0, []int{2, 1}}, st: st}
}

func (o *tokLogpOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{o.st.B}, nil
}

func (o *tokLogpOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	r := o.buf.get(x, o.st.B)
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
	acc := st.seqLogp
	parallelFor(st.B, func(lo, hi int) {
		var buf []float32 // float32 rows: their exps, summed in float64
		if _, ok := any(x).([]float32); ok {
			buf = make([]float32, V)
		}
		for b := lo; b < hi; b++ {
			var s float64
			for n := b * st.T; n < (b+1)*st.T; n++ {
				if w := st.weights[n]; w != 0 {
					row := x[n*V : n*V+V]
					if r32, ok := any(row).([]float32); ok {
						st.lse[n] = logSumExp32(r32, buf)
					} else {
						st.lse[n] = logSumExp(row)
					}
					s += w * (float64(row[st.targets[n]]) - st.lse[n])
				}
			}
			acc[b] = s
		}
	})
	for b, v := range acc {
		y[b] = F(v)
	}
}

// logSumExp32 is the log-sum-exp of a float32 row: its max, the exps of row - max in
// float32 (exp32, into buf), their sum in float64. The float64 sum is one add per element
// (no conversion of the row): over GPT-2's 50257 logits it keeps the sum's rounding error
// near 1e-16 where float32 sums drift to about 1e-6 (TestLogSumExp32Accuracy measures both).
func logSumExp32(row, buf []float32) float64 {
	mx := row[0]
	for _, v := range row[1:] {
		if v > mx {
			mx = v
		}
	}
	buf = buf[:len(row)]
	expScale32(row, buf, mx, 1)
	var z float64
	for _, e := range buf {
		z += float64(e)
	}
	return float64(mx) + math.Log(z)
}

func (o *tokLogpOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *tokLogpOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&tokLogpGradOp{opBase: opBase{"TokenLogProbGrad", 0, []int{2, 1, 2}}, st: o.st}, in[0], grad)
	return G.Nodes{d}, err
}

// tokLogpGradOp: (logits, grad [B]) -> dlogits = grad[b] * w * (onehot(target) - softmax),
// in place of the logits.
type tokLogpGradOp struct {
	opBase
	st *batchState
}

func (o *tokLogpGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

// Do writes dlogits over the logits (in[0], the forward's output buffer): nothing reads the
// logits after this op, and the forward overwrites them on the next run, so a training graph
// holds one [rows, V] buffer, not two (at GPT-2's vocabulary of 50257 and 1024 positions,
// 206 MB).
func (o *tokLogpGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	s := x.Shape()
	r := x
	switch d := x.Data().(type) {
	case []float32:
		tokLogpBwd(d, dense(in[1]).Data().([]float32), r.Data().([]float32), o.st, s[1])
	case []float64:
		tokLogpBwd(d, dense(in[1]).Data().([]float64), r.Data().([]float64), o.st, s[1])
	}
	return r, nil
}

// tokLogpBwd writes dlogits to d, which may be x itself (each element is read, then
// written). float32 rows use exp32 on x - lse in float32.
func tokLogpBwd[F fnum](x, g, d []F, st *batchState, V int) {
	parallelFor(len(st.weights), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			w := st.weights[n]
			row, dr := x[n*V:n*V+V], d[n*V:n*V+V]
			if w == 0 {
				clear(dr)
				continue
			}
			lse := st.lse[n] // the forward's, same logits
			c := float64(g[n/st.T]) * w
			if r32, ok := any(row).([]float32); ok {
				expScale32(r32, any(dr).([]float32), float32(lse), float32(-c))
			} else {
				for v := range row {
					dr[v] = F(-c * math.Exp(float64(row[v])-lse))
				}
			}
			dr[st.targets[n]] += F(c)
		}
	})
}

// denseData returns the backing slice of a gorgonia value holding a dense tensor.
func denseData(v G.Value) any { return v.(*tensor.Dense).Data() }
