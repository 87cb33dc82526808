package model

// Batched sampling with a KV cache.
//
// Why a plain-Go incremental forward instead of a gorgonia step graph: a gorgonia graph has
// fixed shapes, but here the shapes change at every step. The prefill feeds every prompt
// token of every row at once (prompts have different lengths), then each decode step feeds
// one token per row that is still running (rows drop out at EOS), and each row's cache has
// its own length. A step graph would need one graph per (active rows, cache length) pair or
// padding plus masks and a copy of every cache into and out of the VM per token. Here the
// forward is written directly over the same weights (m.Params, read in place, never
// copied when the dtype matches): the matrix products go through G.WhichBLAS(), so they use
// gonum or OpenBLAS exactly like the training graph, and the rest (LayerNorm, GELU,
// attention over the cache) is a few loops. It computes in the model's dtype (float32 by
// default, float64 for gradient-check models). sample_test.go checks its logits against a
// full recomputation at every step.
//
// Positions: every row keeps its own position counter, so prompts of different lengths need
// neither padding nor masks: row r's token at position p attends to row r's cache 0..p.
//
// Context limit: a row stops when len(prompt)+len(response) reaches Config.Context (there is
// no position left for another token). Its response then does not end with EOS. This keeps
// every generated (prompt, response) pair within the training length policy (<= Context).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// SampleConfig controls Generate.
//
// For self-play synthetic data use Temperature 1 with TopK and TopP off: the losses score
// each synthetic response with the opponent's log p, which is only the probability it was
// drawn with when sampling is unmodified (NCE needs the noise samples to come from the
// noise distribution). For the same reason no token is masked: a model may emit BOS, SEP or
// PAD inside a response, and that response is what it sampled (Decode drops them).
type SampleConfig struct {
	// Temperature divides the logits before the softmax; 0 means greedy (argmax, no RNG).
	Temperature float64 `json:"temperature"`
	// TopK keeps the K most likely tokens (0 = off).
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of most likely tokens whose probability reaches TopP
	// (nucleus sampling; 0 or 1 = off).
	TopP float64 `json:"top_p"`
	// MaxNewTokens caps the response length (EOS included). Must be >= 1.
	MaxNewTokens int `json:"max_new_tokens"`
	// Batch is the number of prompts decoded together (0 = DefaultSampleBatch). It changes
	// speed and memory only, never the output.
	Batch int `json:"batch,omitempty"`
}

// DefaultSampling is the sampling of synthetic responses: unmodified (temperature 1, no
// top-k or top-p), at most 32 new tokens.
func DefaultSampling() SampleConfig { return SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 32} }

// DefaultSampleBatch is the number of rows decoded together when SampleConfig.Batch is 0.
const DefaultSampleBatch = 64

// samplePCGStream is the second PCG word; the first is the caller's seed. A fixed constant keeps
// a row's stream a function of its seed alone.
const samplePCGStream = 0x5350414345 // "SPACE"

// newRowRNG is the generator of one row: PCG seeded by the row's seed alone.
func newRowRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, samplePCGStream)) }

// Validate reports a bad SampleConfig as an *InputError.
func (sc SampleConfig) Validate() error {
	switch {
	case math.IsNaN(sc.Temperature) || math.IsInf(sc.Temperature, 0) || sc.Temperature < 0:
		return &InputError{Field: "temperature", Problem: fmt.Sprintf("%v is not a finite number >= 0", sc.Temperature),
			Fix: "use 0 for greedy decoding or a positive value such as 1.0"}
	case sc.TopK < 0:
		return &InputError{Field: "top_k", Problem: fmt.Sprintf("%d is negative", sc.TopK),
			Fix: "use 0 to disable top-k or a positive count"}
	case math.IsNaN(sc.TopP) || sc.TopP < 0 || sc.TopP > 1:
		return &InputError{Field: "top_p", Problem: fmt.Sprintf("%v is outside [0, 1]", sc.TopP),
			Fix: "use 0 or 1 to disable nucleus sampling, or a value in (0, 1)"}
	case sc.MaxNewTokens < 1:
		return &InputError{Field: "max_new_tokens", Problem: fmt.Sprintf("%d is below 1", sc.MaxNewTokens),
			Fix: "ask for at least one new token"}
	case sc.Batch < 0:
		return &InputError{Field: "batch", Problem: fmt.Sprintf("%d is negative", sc.Batch),
			Fix: fmt.Sprintf("use 0 for the default (%d) or a positive row count", DefaultSampleBatch)}
	}
	return nil
}

// Generate samples one response per prompt and returns the response token ids (ending with
// EOS when the model produced it; see the context limit above). Row i draws from its own
// PCG generator seeded by seeds[i], so a prompt's response depends on its seed, the model
// and the config, never on which other prompts share its batch or shard. (The BLAS backend
// can change float rounding, so gonum and OpenBLAS may sample differently; each is
// deterministic.) Bad prompts or config give an *InputError.
func (m *GPT) Generate(prompts [][]int, seeds []uint64, sc SampleConfig) ([][]int, error) {
	return m.generate(prompts, seeds, sc, genHooks{eos: m.Tok.eos()})
}

// GenerateStream is Generate that also reports each token as soon as it is sampled:
// onToken(i, step, id) gets token step (0-based) of prompt i's response, before the next
// decode step runs, so a caller can print text as it is produced. The calls come from the
// calling goroutine, one after another; each prompt's come in order (step 0, 1, ...), and
// the last one of a prompt is its EOS or its last token before a limit. The rows of a batch
// are decoded together, so the calls of different prompts of one batch interleave
// (Batch 1 gives each prompt's calls before the next prompt's). The responses are those
// Generate returns for the same arguments. A non-nil error from onToken stops generation
// at once: GenerateStream returns that error (unwrapped) and no responses.
func (m *GPT) GenerateStream(prompts [][]int, seeds []uint64, sc SampleConfig, onToken func(prompt, step, id int) error) ([][]int, error) {
	return m.generate(prompts, seeds, sc, genHooks{eos: m.Tok.eos(), onToken: onToken})
}

// Greedy returns the greedy (temperature 0) continuation of each prompt, at most maxNew
// tokens each.
func (m *GPT) Greedy(prompts [][]int, maxNew int) ([][]int, error) {
	return m.Generate(prompts, make([]uint64, len(prompts)), SampleConfig{MaxNewTokens: maxNew})
}

// genHooks lets tests stop on another token and observe the logits of every step, and
// GenerateStream observe every token.
type genHooks struct {
	eos int
	// onLogits, if set, gets the logits (in float64) that produced token step of prompt i.
	onLogits func(prompt, step int, logits []float64)
	// onToken, if set, gets token step of prompt i as soon as it is sampled; an error stops
	// generation and is returned.
	onToken func(prompt, step, id int) error
}

func (m *GPT) generate(prompts [][]int, seeds []uint64, sc SampleConfig, h genHooks) ([][]int, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if len(seeds) != len(prompts) {
		return nil, &InputError{Field: "seeds", Problem: fmt.Sprintf("%d seeds for %d prompts", len(seeds), len(prompts)),
			Fix: "pass exactly one seed per prompt"}
	}
	cfg := m.Config
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, &InputError{Field: fmt.Sprintf("prompts[%d]", i), Problem: "empty prompt",
				Fix: "encode the prompt with Tokenizer.EncodePrompt (it always has at least BOS and SEP)"}
		}
		if len(p) >= cfg.Context {
			return nil, &InputError{Field: fmt.Sprintf("prompts[%d]", i),
				Problem: fmt.Sprintf("prompt has %d tokens, the model's context is %d and at least one position must remain for the response", len(p), cfg.Context),
				Fix:     "shorten the prompt or use a model with a longer context"}
		}
		for j, t := range p {
			if t < 0 || t >= cfg.VocabSize {
				return nil, &InputError{Field: fmt.Sprintf("prompts[%d][%d]", i, j),
					Problem: fmt.Sprintf("token id %d is outside the vocabulary [0, %d)", t, cfg.VocabSize),
					Fix:     "encode prompts with the model's own tokenizer"}
			}
		}
	}
	out := make([][]int, len(prompts))
	if len(prompts) == 0 {
		return out, nil
	}
	batch := sc.Batch
	if batch == 0 {
		batch = DefaultSampleBatch
	}
	run := generateBatches[float32]
	if kvIsFloat64(m) {
		run = generateBatches[float64]
	}
	if err := run(m, prompts, seeds, out, batch, sc, h); err != nil {
		return nil, err
	}
	return out, nil
}

// generateBatches runs the KV-cache engine of the weights' precision over the prompts,
// batch rows at a time, writing each row's response into out.
func generateBatches[F kvFloat](m *GPT, prompts [][]int, seeds []uint64, out [][]int, batch int, sc SampleConfig, h genHooks) error {
	e, err := newKVEngine[F](m)
	if err != nil {
		return err
	}
	for lo := 0; lo < len(prompts); lo += batch {
		hi := min(lo+batch, len(prompts))
		if err := e.run(prompts[lo:hi], seeds[lo:hi], out[lo:hi], lo, sc, h); err != nil {
			return err
		}
	}
	return nil
}

// kvIsFloat64 reports whether the weights are stored as float64 (gradient-check models).
func kvIsFloat64(m *GPT) bool {
	if len(m.Params) > 0 {
		_, ok := m.Params[0].Value.Data().([]float64)
		return ok
	}
	return m.Config.DType == "float64"
}

type kvFloat interface{ float32 | float64 }

// kvLayer holds one transformer block's weights as row-major slices (x @ W convention).
type kvLayer[F kvFloat] struct {
	ln1g, ln1b, wqkv, bqkv, wo, bo, ln2g, ln2b, wfc, bfc, wproj, bproj []F
}

// kvEngine is the incremental forward pass over a model's weights, plus the per-batch caches.
type kvEngine[F kvFloat] struct {
	D, H, hd, V, T, L int
	tied              bool
	wte, wpe          []F
	layers            []kvLayer[F]
	lnfg, lnfb, head  []F // head is [D, V], nil when tied (logits = x @ wte^T)
	bl                G.BLAS

	// Per batch: kcache[r][l] and vcache[r][l] are [T, D] (all heads, one row per position).
	kcache, vcache [][][]F

	// Work buffers of forward, reused from call to call (grown when a call needs more).
	xb, hb, qkvb, attb, mlpb, selb, logitb []F
}

// grow returns (*b)[:n], reallocating only when the capacity is short. The contents are
// stale: callers overwrite them.
func grow[F kvFloat](b *[]F, n int) []F {
	if cap(*b) < n {
		*b = make([]F, n)
	}
	return (*b)[:n]
}

func newKVEngine[F kvFloat](m *GPT) (*kvEngine[F], error) {
	c := m.Config
	if c.Heads <= 0 || c.DModel%c.Heads != 0 {
		return nil, fmt.Errorf("model: d_model %d is not divisible by %d heads", c.DModel, c.Heads)
	}
	e := &kvEngine[F]{D: c.DModel, H: c.Heads, hd: c.DModel / c.Heads, V: c.VocabSize, T: c.Context,
		L: c.Layers, tied: c.TiedEmbeddings, bl: G.WhichBLAS()}
	byName := make(map[string]*Param, len(m.Params))
	for _, p := range m.Params {
		byName[p.Name] = p
	}
	var err error
	get := func(name string, size int) []F {
		if err != nil {
			return nil
		}
		p, ok := byName[name]
		if !ok {
			err = fmt.Errorf("model: parameter %q missing", name)
			return nil
		}
		var s []F
		s, err = kvWeights[F](p, size)
		return s
	}
	D, V := e.D, e.V
	e.wte = get("wte", V*D)
	e.wpe = get("wpe", e.T*D)
	for l := 0; l < e.L; l++ {
		n := func(s string) string { return fmt.Sprintf("h%d.%s", l, s) }
		e.layers = append(e.layers, kvLayer[F]{
			ln1g: get(n("ln1.g"), D), ln1b: get(n("ln1.b"), D),
			wqkv: get(n("attn.wqkv"), D*3*D), bqkv: get(n("attn.bqkv"), 3*D),
			wo: get(n("attn.wo"), D*D), bo: get(n("attn.bo"), D),
			ln2g: get(n("ln2.g"), D), ln2b: get(n("ln2.b"), D),
			wfc: get(n("mlp.wfc"), D*4*D), bfc: get(n("mlp.bfc"), 4*D),
			wproj: get(n("mlp.wproj"), 4*D*D), bproj: get(n("mlp.bproj"), D),
		})
	}
	e.lnfg = get("lnf.g", D)
	e.lnfb = get("lnf.b", D)
	if !e.tied {
		e.head = get("lm_head", D*V)
	}
	return e, err
}

// kvWeights returns a parameter's data as []F: the tensor's own backing slice when the dtype
// matches (read only), a converted copy otherwise.
func kvWeights[F kvFloat](p *Param, size int) ([]F, error) {
	if p.Value == nil || !p.Value.DataOrder().IsRowMajor() {
		return nil, fmt.Errorf("model: parameter %q is not a row-major tensor", p.Name)
	}
	var out []F
	switch d := p.Value.Data().(type) {
	case []F:
		out = d
	case []float32:
		out = make([]F, len(d))
		for i, v := range d {
			out[i] = F(v)
		}
	case []float64:
		out = make([]F, len(d))
		for i, v := range d {
			out[i] = F(v)
		}
	default:
		return nil, fmt.Errorf("model: parameter %q has unsupported type %T", p.Name, d)
	}
	if len(out) != size {
		return nil, fmt.Errorf("model: parameter %q has %d values, want %d", p.Name, len(out), size)
	}
	return out, nil
}

// kvGemm computes c = a @ b + beta*c, row-major; a is [m,k]; b is [k,n], or [n,k] when transB.
func kvGemm[F kvFloat](bl G.BLAS, transB bool, m, n, k int, a, b []F, beta F, c []F) {
	tb, ldb := blas.NoTrans, n
	if transB {
		tb, ldb = blas.Trans, k
	}
	switch a := any(a).(type) {
	case []float32:
		bl.Sgemm(blas.NoTrans, tb, m, n, k, 1, a, k, any(b).([]float32), ldb, float32(beta), any(c).([]float32), n)
	case []float64:
		bl.Dgemm(blas.NoTrans, tb, m, n, k, 1, a, k, any(b).([]float64), ldb, float64(beta), any(c).([]float64), n)
	}
}

// kvGemmRows is kvGemm cut in two halves computed side by side (both cores): by rows of a
// and c when there are many rows (the prefill), else by columns of b and c (a decode step
// has one row per running prompt; cutting its few rows would make each half pack all of
// the weights, cutting the columns packs each weight once). Either way each row's result is
// one row of a product, as when the batch holds other rows.
func kvGemmRows[F kvFloat](bl G.BLAS, transB bool, m, n, k int, a, b []F, beta F, c []F) {
	switch {
	case m >= 64:
		split2(m, func(lo, hi int) { kvGemm(bl, transB, hi-lo, n, k, a[lo*k:hi*k], b, beta, c[lo*n:hi*n]) })
	case n >= 64:
		split2(n, func(lo, hi int) {
			if transB { // op(b) columns lo..hi are rows lo..hi of b [n,k]
				gemm(false, true, m, hi-lo, k, 1, a, k, b[lo*k:], k, beta, c[lo:], n)
			} else {
				gemm(false, false, m, hi-lo, k, 1, a, k, b[lo:], n, beta, c[lo:], n)
			}
		})
	default:
		kvGemm(bl, transB, m, n, k, a, b, beta, c)
	}
}

// kvGemv computes y = A x + beta*y (or A^T x when trans), A an m x n row-major matrix
// with leading dimension lda (a strided view: one head's columns of a cache).
func kvGemv[F kvFloat](bl G.BLAS, trans bool, m, n int, a []F, lda int, x []F, beta F, y []F) {
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		bl.Sgemv(t, m, n, 1, a, lda, any(x).([]float32), 1, float32(beta), any(y).([]float32), 1)
	case []float64:
		bl.Dgemv(t, m, n, 1, a, lda, any(x).([]float64), 1, float64(beta), any(y).([]float64), 1)
	}
}

// kvTok is one token fed to the kvEngine: row r of the batch, token id, position.
type kvTok struct{ row, id, pos int }

// kvLayerNorm writes LayerNorm(x) (eps 1e-5, biased variance as in the training graph) for
// each of the n rows of width D into out.
func kvLayerNorm[F kvFloat](x, g, b, out []F, n, D int) {
	for i := 0; i < n; i++ {
		xr, or := x[i*D:(i+1)*D], out[i*D:(i+1)*D]
		var mean, vr float64
		for _, v := range xr {
			mean += float64(v)
		}
		mean /= float64(D)
		for _, v := range xr {
			d := float64(v) - mean
			vr += d * d
		}
		inv := 1 / math.Sqrt(vr/float64(D)+1e-5)
		for j, v := range xr {
			or[j] = F((float64(v)-mean)*inv)*g[j] + b[j]
		}
	}
}

// kvGELU is GPT-2's tanh approximation in float64, as the training graph computes it (ops.go).
func kvGELU(x float64) float64 {
	return 0.5 * x * (1 + geluTanh(x))
}

// kvGELUInPlace applies GELU to every element, split over goroutines, with the training
// graph's functions: geluFwd32 for float32, kvGELU for float64.
func kvGELUInPlace[F kvFloat](x []F) {
	if x32, ok := any(x).([]float32); ok {
		parallelChunks(len(x32), func(lo, hi int) {
			var th [256]float32
			for c := lo; c < hi; c += len(th) {
				e := min(c+len(th), hi)
				geluFwd32(x32[c:e], x32[c:e], th[:e-c])
			}
		})
		return
	}
	parallelChunks(len(x), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			x[j] = F(kvGELU(float64(x[j])))
		}
	})
}

// kvFill sets each of the n rows of out (width w) to bias.
func kvFill[F kvFloat](out, bias []F, n, w int) {
	for i := 0; i < n; i++ {
		copy(out[i*w:(i+1)*w], bias)
	}
}

// forward runs toks through the model, appending their keys and values to the caches, and
// returns the logits ([len(want), V], row-major) of the tokens toks[want[j]]. A token may
// attend to cache positions written by earlier toks of the same call (the prefill feeds a
// whole prompt at once): every token's K/V of a layer is stored before that layer's
// attention runs.
func (e *kvEngine[F]) forward(toks []kvTok, want []int) []F {
	N, D, hd := len(toks), e.D, e.hd
	x := grow(&e.xb, N*D)
	for i, t := range toks {
		xr := x[i*D : (i+1)*D]
		te, pe := e.wte[t.id*D:(t.id+1)*D], e.wpe[t.pos*D:(t.pos+1)*D]
		for j := range xr {
			xr[j] = te[j] + pe[j]
		}
	}
	hbuf := grow(&e.hb, N*D)
	qkv := grow(&e.qkvb, N*3*D)
	att := grow(&e.attb, N*D)
	mlp := grow(&e.mlpb, N*4*D)
	scale := 1 / math.Sqrt(float64(hd))
	for l, w := range e.layers {
		// Attention block: x += Attn(LN1(x)) @ Wo + bo.
		kvLayerNorm(x, w.ln1g, w.ln1b, hbuf, N, D)
		kvFill(qkv, w.bqkv, N, 3*D)
		kvGemmRows(e.bl, false, N, 3*D, D, hbuf, w.wqkv, 1, qkv)
		for i, t := range toks {
			r := qkv[i*3*D : (i+1)*3*D]
			copy(e.kcache[t.row][l][t.pos*D:(t.pos+1)*D], r[D:2*D])
			copy(e.vcache[t.row][l][t.pos*D:(t.pos+1)*D], r[2*D:])
		}
		// Attention of each token over its own row's cache, one head at a time: scores =
		// K_h q (gemv over the cache rows, stride D), softmax, out = V_h^T p. The products go
		// through BLAS gemv (SIMD); plain Go loops here took half of the decode time.
		parallelFor(N, func(lo, hi int) {
			scores := make([]F, e.T)      // attention scores, then weights, of one head
			probs := make([]float64, e.T) // the softmax in float64
			for i := lo; i < hi; i++ {
				e.attend(toks[i], l, qkv[i*3*D:(i+1)*3*D], att[i*D:(i+1)*D], scores, probs, scale)
			}
		})
		for i := 0; i < N; i++ { // x += bo, then x += att @ Wo below (beta = 1)
			xr := x[i*D : (i+1)*D]
			for j := range xr {
				xr[j] += w.bo[j]
			}
		}
		kvGemmRows(e.bl, false, N, D, D, att, w.wo, 1, x)

		// MLP block: x += GELU(LN2(x) @ Wfc + bfc) @ Wproj + bproj.
		kvLayerNorm(x, w.ln2g, w.ln2b, hbuf, N, D)
		kvFill(mlp, w.bfc, N, 4*D)
		kvGemmRows(e.bl, false, N, 4*D, D, hbuf, w.wfc, 1, mlp)
		kvGELUInPlace(mlp)
		for i := 0; i < N; i++ {
			xr := x[i*D : (i+1)*D]
			for j := range xr {
				xr[j] += w.bproj[j]
			}
		}
		kvGemmRows(e.bl, false, N, D, 4*D, mlp, w.wproj, 1, x)
	}
	// Final LayerNorm and head, only for the tokens whose next-token logits are needed.
	n := len(want)
	sel := grow(&e.selb, n*D)
	for j, i := range want {
		copy(sel[j*D:(j+1)*D], x[i*D:(i+1)*D])
	}
	kvLayerNorm(sel, e.lnfg, e.lnfb, sel, n, D)
	logits := grow(&e.logitb, n*e.V) // valid until the next forward call
	if e.tied {
		kvGemmRows(e.bl, true, n, e.V, D, sel, e.wte, 0, logits)
	} else {
		kvGemmRows(e.bl, false, n, e.V, D, sel, e.head, 0, logits)
	}
	return logits
}

// attend writes into ar ([D]) the attention of token t (its q in the first D of qkvRow)
// over its own row's layer-l cache, one head at a time: scores = K_h q (gemv over the
// cache rows, stride D), softmax, out = V_h^T p. The products go through BLAS gemv (SIMD);
// plain Go loops here took half of the decode time.
func (e *kvEngine[F]) attend(t kvTok, l int, qkvRow, ar, scores []F, probs []float64, scale float64) {
	D, hd := e.D, e.hd
	kc, vc := e.kcache[t.row][l], e.vcache[t.row][l]
	n := t.pos + 1
	for h := 0; h < e.H; h++ {
		q := qkvRow[h*hd : (h+1)*hd]
		kvGemv(e.bl, false, n, hd, kc[h*hd:], D, q, 0, scores[:n])
		mx := math.Inf(-1)
		for _, v := range scores[:n] {
			mx = max(mx, float64(v)*scale)
		}
		var sum float64
		for p, v := range scores[:n] {
			ev := math.Exp(float64(v)*scale - mx)
			probs[p] = ev
			sum += ev
		}
		for p := range n {
			scores[p] = F(probs[p] / sum)
		}
		kvGemv(e.bl, true, n, hd, vc[h*hd:], D, scores[:n], 0, ar[h*hd:(h+1)*hd])
	}
}

// run decodes one batch of prompts into out. base is the index of prompts[0] in the
// caller's list (for the hooks). The only error is one returned by h.onToken.
func (e *kvEngine[F]) run(prompts [][]int, seeds []uint64, out [][]int, base int, sc SampleConfig, h genHooks) error {
	B := len(prompts)
	// Caches sized for the longest sequence this batch can reach.
	need := 0
	for _, p := range prompts {
		need = max(need, min(len(p)+min(sc.MaxNewTokens, e.T), e.T)) // no overflow for huge MaxNewTokens
	}
	e.kcache, e.vcache = make([][][]F, B), make([][][]F, B)
	for r := range B {
		e.kcache[r], e.vcache[r] = make([][]F, e.L), make([][]F, e.L)
		for l := range e.L {
			e.kcache[r][l], e.vcache[r][l] = make([]F, need*e.D), make([]F, need*e.D)
		}
	}
	defer func() { e.kcache, e.vcache = nil, nil }()

	rngs := make([]*rand.Rand, B)
	for r := range B {
		rngs[r] = newRowRNG(seeds[r])
		out[r] = make([]int, 0, min(sc.MaxNewTokens, e.T-len(prompts[r])))
	}

	// Prefill: every prompt token of every row in one pass; logits at each row's last token.
	var toks []kvTok
	var want, active []int
	for r, p := range prompts {
		for pos, id := range p {
			toks = append(toks, kvTok{row: r, id: id, pos: pos})
		}
		want = append(want, len(toks)-1)
		active = append(active, r)
	}
	logits := e.forward(toks, want)
	s := newSampler(e.V, sc)
	for len(active) > 0 {
		toks, want = toks[:0], want[:0]
		next := active[:0]
		for j, r := range active {
			lg := s.load(logits[j*e.V : (j+1)*e.V])
			if h.onLogits != nil {
				h.onLogits(base+r, len(out[r]), lg)
			}
			id := s.pick(rngs[r])
			out[r] = append(out[r], id)
			if h.onToken != nil {
				if err := h.onToken(base+r, len(out[r])-1, id); err != nil {
					return err
				}
			}
			seqLen := len(prompts[r]) + len(out[r])
			if id == h.eos || len(out[r]) >= sc.MaxNewTokens || seqLen >= e.T {
				continue // this row is finished and leaves the batch
			}
			toks = append(toks, kvTok{row: r, id: id, pos: seqLen - 1})
			want = append(want, len(toks)-1)
			next = append(next, r)
		}
		active = next
		if len(active) > 0 {
			logits = e.forward(toks, want)
		}
	}
	return nil
}

// sampler turns one row of logits into a token id. It reuses its buffers across calls.
type sampler struct {
	sc    SampleConfig
	lg    []float64 // logits in float64
	idx   []int     // candidate ids, sorted by decreasing logit when filtering
	probs []float64
}

func newSampler(V int, sc SampleConfig) *sampler {
	return &sampler{sc: sc, lg: make([]float64, V), idx: make([]int, V), probs: make([]float64, V)}
}

// load copies one row of logits into the sampler and returns them (as float64).
func (s *sampler) load(row any) []float64 {
	switch r := row.(type) {
	case []float32:
		for i, v := range r {
			s.lg[i] = float64(v)
		}
	case []float64:
		copy(s.lg, r)
	}
	return s.lg
}

// pick chooses a token from the loaded logits: argmax when Temperature is 0 (lowest id on
// ties, no RNG draw), otherwise one draw from the softmax at Temperature restricted to the
// top-k and top-p sets.
func (s *sampler) pick(rng *rand.Rand) int {
	lg := s.lg
	if s.sc.Temperature == 0 {
		best := 0
		for i, v := range lg {
			if v > lg[best] {
				best = i
			}
		}
		return best
	}
	idx := s.idx[:len(lg)]
	for i := range idx {
		idx[i] = i
	}
	filter := (s.sc.TopK > 0 && s.sc.TopK < len(lg)) || (s.sc.TopP > 0 && s.sc.TopP < 1)
	if filter {
		// Stable sort: equal logits keep id order, so the kept set is deterministic.
		sort.SliceStable(idx, func(a, b int) bool { return lg[idx[a]] > lg[idx[b]] })
		if s.sc.TopK > 0 && s.sc.TopK < len(idx) {
			idx = idx[:s.sc.TopK]
		}
	}
	mx := math.Inf(-1)
	for _, i := range idx {
		mx = max(mx, lg[i])
	}
	probs := s.probs[:len(idx)]
	var sum float64
	for j, i := range idx {
		probs[j] = math.Exp((lg[i] - mx) / s.sc.Temperature)
		sum += probs[j]
	}
	if s.sc.TopP > 0 && s.sc.TopP < 1 {
		// idx is sorted by decreasing probability: keep the shortest prefix reaching TopP.
		var cum float64
		for j := range probs {
			cum += probs[j] / sum
			if cum >= s.sc.TopP {
				probs, idx = probs[:j+1], idx[:j+1]
				break
			}
		}
		sum = 0
		for _, p := range probs {
			sum += p
		}
	}
	u := rng.Float64() * sum
	for j, p := range probs {
		u -= p
		if u < 0 {
			return idx[j]
		}
	}
	return idx[len(idx)-1] // rounding left u >= 0: the last candidate
}
