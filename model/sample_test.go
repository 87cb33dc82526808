package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// fullForwardRef is an independent, deliberately plain float64 full forward pass over m.Params
// (no cache, no BLAS): it returns the next-token logits after every position of seq.
func fullForwardRef(m *GPT, seq []int) [][]float64 {
	c := m.Config
	D, H, V := c.DModel, c.Heads, c.VocabSize
	hd := D / H
	P := func(name string) []float64 { return floats(m.Param(name).Value) }
	matmul := func(x [][]float64, w []float64, in, out int) [][]float64 {
		y := make([][]float64, len(x))
		for i, xr := range x {
			y[i] = make([]float64, out)
			for k := 0; k < in; k++ {
				for j := 0; j < out; j++ {
					y[i][j] += xr[k] * w[k*out+j]
				}
			}
		}
		return y
	}
	addBias := func(x [][]float64, b []float64) {
		for _, r := range x {
			for j := range r {
				r[j] += b[j]
			}
		}
	}
	ln := func(x [][]float64, g, b []float64) [][]float64 {
		y := make([][]float64, len(x))
		for i, r := range x {
			var mean, v float64
			for _, a := range r {
				mean += a
			}
			mean /= float64(len(r))
			for _, a := range r {
				v += (a - mean) * (a - mean)
			}
			v /= float64(len(r))
			y[i] = make([]float64, len(r))
			for j, a := range r {
				y[i][j] = (a-mean)/math.Sqrt(v+1e-5)*g[j] + b[j]
			}
		}
		return y
	}
	T := len(seq)
	wte, wpe := P("wte"), P("wpe")
	x := make([][]float64, T)
	for t, id := range seq {
		x[t] = make([]float64, D)
		for j := range D {
			x[t][j] = wte[id*D+j] + wpe[t*D+j]
		}
	}
	for l := 0; l < c.Layers; l++ {
		pre := fmt.Sprintf("h%d.", l)
		h := ln(x, P(pre+"ln1.g"), P(pre+"ln1.b"))
		qkv := matmul(h, P(pre+"attn.wqkv"), D, 3*D)
		addBias(qkv, P(pre+"attn.bqkv"))
		att := make([][]float64, T)
		for t := range T {
			att[t] = make([]float64, D)
			for hh := range H {
				q := qkv[t][hh*hd : (hh+1)*hd]
				s := make([]float64, t+1)
				mx := math.Inf(-1)
				for p := 0; p <= t; p++ {
					k := qkv[p][D+hh*hd : D+(hh+1)*hd]
					for j := range q {
						s[p] += q[j] * k[j]
					}
					s[p] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, s[p])
				}
				var sum float64
				for p := range s {
					s[p] = math.Exp(s[p] - mx)
					sum += s[p]
				}
				for p := range s {
					v := qkv[p][2*D+hh*hd : 2*D+(hh+1)*hd]
					for j := range v {
						att[t][hh*hd+j] += s[p] / sum * v[j]
					}
				}
			}
		}
		o := matmul(att, P(pre+"attn.wo"), D, D)
		addBias(o, P(pre+"attn.bo"))
		for t := range T {
			for j := range D {
				x[t][j] += o[t][j]
			}
		}
		h = ln(x, P(pre+"ln2.g"), P(pre+"ln2.b"))
		f := matmul(h, P(pre+"mlp.wfc"), D, 4*D)
		addBias(f, P(pre+"mlp.bfc"))
		for _, r := range f {
			for j, a := range r {
				r[j] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a)))
			}
		}
		o = matmul(f, P(pre+"mlp.wproj"), 4*D, D)
		addBias(o, P(pre+"mlp.bproj"))
		for t := range T {
			for j := range D {
				x[t][j] += o[t][j]
			}
		}
	}
	x = ln(x, P("lnf.g"), P("lnf.b"))
	if c.TiedEmbeddings {
		logits := make([][]float64, T)
		for t := range T {
			logits[t] = make([]float64, V)
			for v := range V {
				for j := range D {
					logits[t][v] += x[t][j] * wte[v*D+j]
				}
			}
		}
		return logits
	}
	return matmul(x, P("lm_head"), D, V)
}

// sampleTestModel returns a small model whose weights are scaled up from the GPT-2 init so that
// its next-token distributions are peaked and vary with the context (the plain init gives
// nearly uniform logits, where greedy ties and sampling would test little).
func sampleTestModel(t testing.TB, dtype string, tied bool) *GPT {
	t.Helper()
	m, err := New(Config{VocabSize: ByteVocab, Shape: Shape{DModel: 32, Layers: 2, Heads: 4, Context: 24}, TiedEmbeddings: tied, Seed: 7, DType: dtype}, NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params {
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] *= 8
			}
		case []float64:
			for i := range d {
				d[i] *= 8
			}
		}
	}
	return m
}

func sampleArgmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

var samplePrompts = [][]int{
	{BOS, 'a', 'b', SEP},
	{BOS, 'h', 'e', 'l', 'l', 'o', ' ', 'w', SEP},
	{BOS, SEP},
	{BOS, '1', '+', '2', '=', SEP},
}

// TestGenerateGreedyMatchesRecompute checks the KV-cache path against a full recomputation:
// (a) the greedy continuation equals a greedy loop that reruns fullForwardRef over the whole
// sequence for every token, and (b) the logits of every cached step equal the full
// forward's: within 1e-4 of the largest |logit| for float32 models (float32 rounding
// through the scaled-up residual stream; logits here reach about 30), within 1e-9 for
// float64 models.
func TestGenerateGreedyMatchesRecompute(t *testing.T) {
	for _, tc := range []struct {
		dtype string
		tied  bool
		tol   float64
	}{{"float64", false, 1e-9}, {"float32", false, 1e-4}, {"float32", true, 1e-4}} {
		t.Run(tc.dtype+map[bool]string{true: "-tied", false: ""}[tc.tied], func(t *testing.T) {
			m := sampleTestModel(t, tc.dtype, tc.tied)
			maxNew := 10
			type key struct{ prompt, step int }
			cached := map[key][]float64{}
			sc := SampleConfig{MaxNewTokens: maxNew, Batch: 3} // 2 batches, one of them partial
			got, err := m.generate(samplePrompts, make([]uint64, len(samplePrompts)), sc, genHooks{eos: EOS,
				onLogits: func(p, step int, lg []float64) { cached[key{p, step}] = slices.Clone(lg) }})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range samplePrompts {
				seq := slices.Clone(p)
				var want []int
				var worst, scale float64 // largest |difference| and largest |logit|
				for step := 0; step < maxNew && len(seq) < m.Config.Context; step++ {
					full := fullForwardRef(m, seq)
					lg := full[len(full)-1]
					c, ok := cached[key{i, step}]
					if !ok {
						t.Fatalf("prompt %d: no cached logits for step %d (output %v)", i, step, got[i])
					}
					for v := range lg {
						worst = math.Max(worst, math.Abs(lg[v]-c[v]))
						scale = math.Max(scale, math.Abs(lg[v]))
					}
					next := sampleArgmax(lg)
					// A float32 argmax may differ from float64 only on a near tie.
					if g := got[i]; step < len(g) && g[step] != next && lg[next]-lg[g[step]] <= tc.tol {
						next = g[step]
					}
					want = append(want, next)
					seq = append(seq, next)
					if next == EOS {
						break
					}
				}
				if rel := worst / math.Max(1, scale); rel > tc.tol {
					t.Errorf("prompt %d: cached logits differ from full forward by %.3g (%.3g relative to the largest logit, > %g)", i, worst, rel, tc.tol)
				}
				if !slices.Equal(got[i], want) {
					t.Errorf("prompt %d: cached greedy %v, full recompute %v", i, got[i], want)
				}
			}
			// Greedy is the exported shorthand for the same thing.
			g, err := m.Greedy(samplePrompts, maxNew)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(g, got, slices.Equal) {
				t.Errorf("Greedy %v != Generate(T=0) %v", g, got)
			}
		})
	}
}

// TestGenerateDeterministic: same seeds give the same samples, and a row's sample does not
// depend on the batch size or on which other prompts share its batch.
func TestGenerateDeterministic(t *testing.T) {
	m := sampleTestModel(t, "float32", false)
	seeds := []uint64{11, 22, 33, 44}
	sc := SampleConfig{Temperature: 1, TopK: 50, TopP: 0.95, MaxNewTokens: 12}
	a, err := m.Generate(samplePrompts, seeds, sc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Generate(samplePrompts, seeds, sc)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatalf("same seeds, different samples:\n%v\n%v", a, b)
	}
	sc1 := sc
	sc1.Batch = 1
	c, _ := m.Generate(samplePrompts, seeds, sc1)
	if !slices.EqualFunc(a, c, slices.Equal) {
		t.Errorf("batch 1 changed the samples:\n%v\n%v", a, c)
	}
	// Reordered subset: prompts 3 and 1 alone, in the other order.
	d, _ := m.Generate([][]int{samplePrompts[3], samplePrompts[1]}, []uint64{seeds[3], seeds[1]}, sc)
	if !slices.Equal(d[0], a[3]) || !slices.Equal(d[1], a[1]) {
		t.Errorf("batch composition changed the samples: %v vs %v, %v", d, a[3], a[1])
	}
	// Different seeds should (for a peaked but not deterministic model) differ somewhere.
	e, _ := m.Generate(samplePrompts, []uint64{1, 2, 3, 4}, sc)
	if slices.EqualFunc(a, e, slices.Equal) {
		t.Errorf("different seeds gave identical samples %v", a)
	}
	for i, r := range a {
		if k := slices.Index(r, EOS); k >= 0 && k != len(r)-1 {
			t.Errorf("row %d continues after EOS: %v", i, r)
		}
	}
}

// TestGenerateTopKOneIsGreedy: top-k 1 (and a tiny top-p) leave only the argmax.
func TestGenerateTopKOneIsGreedy(t *testing.T) {
	m := sampleTestModel(t, "float32", false)
	seeds := []uint64{5, 6, 7, 8}
	g, err := m.Greedy(samplePrompts, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []SampleConfig{
		{Temperature: 1.5, TopK: 1, MaxNewTokens: 8},
		{Temperature: 1.5, TopP: 1e-9, MaxNewTokens: 8},
	} {
		s, err := m.Generate(samplePrompts, seeds, sc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(g, s, slices.Equal) {
			t.Errorf("%+v: %v, greedy %v", sc, s, g)
		}
	}
}

// TestGenerateStops: a row stops at its stop token while the others go on unchanged, and
// no row grows past MaxNewTokens or the context.
func TestGenerateStops(t *testing.T) {
	m := sampleTestModel(t, "float32", false)
	seeds := make([]uint64, len(samplePrompts))
	sc := SampleConfig{MaxNewTokens: 8}
	free, err := m.generate(samplePrompts, seeds, sc, genHooks{eos: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Make row 1's third token the stop token: row 1 must end there, and every other row
	// must be cut at its own first occurrence of that token (or be unchanged).
	stop := free[1][2]
	got, err := m.generate(samplePrompts, seeds, sc, genHooks{eos: stop})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range free {
		want := f
		if k := slices.Index(f, stop); k >= 0 {
			want = f[:k+1]
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("row %d: stop token %d: got %v, want %v", i, stop, got[i], want)
		}
		if len(f) != 8 {
			t.Errorf("row %d: %d tokens without a stop token, want MaxNewTokens 8", i, len(f))
		}
	}
	// Context: a 20-token prompt in a 24-token context leaves room for 4 tokens.
	long := make([]int, 20)
	for i := range long {
		long[i] = 'x'
	}
	c, err := m.generate([][]int{long}, []uint64{0}, SampleConfig{MaxNewTokens: 50}, genHooks{eos: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(c[0]) != 4 {
		t.Errorf("context 24, prompt 20: got %d new tokens, want 4", len(c[0]))
	}
	if c, err := m.generate([][]int{long}, []uint64{0}, SampleConfig{MaxNewTokens: math.MaxInt}, genHooks{eos: -1}); err != nil || len(c[0]) != 4 {
		t.Errorf("MaxNewTokens MaxInt: %v, %v; want 4 tokens", c, err)
	}
	// The real EOS: force it with a final LayerNorm that outputs a constant vector u and an
	// lm_head whose EOS column is u (every other column is zero).
	D := m.Config.DModel
	for _, p := range m.Params {
		d := p.Value.Data().([]float32)
		switch p.Name {
		case "lnf.g":
			clear(d)
		case "lnf.b":
			for j := range d {
				d[j] = 1
			}
		case "lm_head":
			clear(d)
			for j := range D {
				d[j*m.Config.VocabSize+EOS] = 1
			}
		}
	}
	e, err := m.Generate(samplePrompts, []uint64{1, 2, 3, 4}, SampleConfig{Temperature: 1, MaxNewTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range e {
		if !slices.Equal(r, []int{EOS}) {
			t.Errorf("row %d: %v, want [EOS]", i, r)
		}
	}
}

// TestGenerateBadInput: every bad input is an *InputError naming the field.
func TestGenerateBadInput(t *testing.T) {
	m := sampleTestModel(t, "float32", false)
	ok := SampleConfig{MaxNewTokens: 4}
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		prompts [][]int
		seeds   []uint64
		sc      SampleConfig
		field   string
	}{
		{"empty prompt", [][]int{{}}, []uint64{0}, ok, "prompts[0]"},
		{"negative id", [][]int{{BOS, -1}}, []uint64{0}, ok, "prompts[0][1]"},
		{"id too big", [][]int{{BOS}, {BOS, ByteVocab}}, []uint64{0, 0}, ok, "prompts[1][1]"},
		{"prompt fills context", [][]int{make([]int, 24)}, []uint64{0}, ok, "prompts[0]"},
		{"seed count", [][]int{{BOS}}, nil, ok, "seeds"},
		{"temperature", [][]int{{BOS}}, []uint64{0}, SampleConfig{Temperature: -1, MaxNewTokens: 1}, "temperature"},
		{"temperature NaN", [][]int{{BOS}}, []uint64{0}, SampleConfig{Temperature: nan, MaxNewTokens: 1}, "temperature"},
		{"top_k", [][]int{{BOS}}, []uint64{0}, SampleConfig{TopK: -1, MaxNewTokens: 1}, "top_k"},
		{"top_p", [][]int{{BOS}}, []uint64{0}, SampleConfig{TopP: 1.5, MaxNewTokens: 1}, "top_p"},
		{"max_new_tokens", [][]int{{BOS}}, []uint64{0}, SampleConfig{}, "max_new_tokens"},
		{"batch", [][]int{{BOS}}, []uint64{0}, SampleConfig{MaxNewTokens: 1, Batch: -2}, "batch"},
	} {
		_, err := m.Generate(tc.prompts, tc.seeds, tc.sc)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: got %v, want an *InputError for %q", tc.name, err, tc.field)
		}
	}
	if out, err := m.Generate(nil, nil, ok); err != nil || len(out) != 0 {
		t.Errorf("no prompts: %v, %v", out, err)
	}
}

// TestSamplerDistribution checks the token picker alone: frequencies follow the softmax
// at the temperature, and top-k / top-p cut the support as documented.
func TestSamplerDistribution(t *testing.T) {
	lg := []float64{2, 1, 0, -1, 0.5}
	count := func(sc SampleConfig, n int) []float64 {
		s := newSampler(len(lg), sc)
		rng := newRowRNG(99)
		freq := make([]float64, len(lg))
		for range n {
			s.load(lg)
			freq[s.pick(rng)] += 1 / float64(n)
		}
		return freq
	}
	const n = 20000
	f := count(SampleConfig{Temperature: 2}, n)
	var z float64
	for _, v := range lg {
		z += math.Exp(v / 2)
	}
	for i, v := range lg {
		p := math.Exp(v/2) / z
		if math.Abs(f[i]-p) > 4*math.Sqrt(p*(1-p)/n) {
			t.Errorf("T=2: token %d frequency %.4f, softmax %.4f", i, f[i], p)
		}
	}
	// At T=1 the probabilities are 0.563, 0.207, 0.076, 0.028, 0.126: top-k 2 keeps ids 0
	// and 1; top-p 0.8 keeps ids 0, 1 and 4 (0.896 >= 0.8).
	if f := count(SampleConfig{Temperature: 1, TopK: 2}, 2000); f[2]+f[3]+f[4] != 0 {
		t.Errorf("top-k 2 sampled outside the top 2: %v", f)
	}
	if f := count(SampleConfig{Temperature: 1, TopP: 0.8}, 2000); f[2]+f[3] != 0 || f[4] == 0 {
		t.Errorf("top-p 0.8 support wrong: %v", f)
	}
}

// TestGenerateStream: GenerateStream returns what Generate returns, its callback sees every
// token of every prompt once, in order (over partial batches too), and an error from the
// callback stops generation and is returned as it is.
func TestGenerateStream(t *testing.T) {
	m := sampleTestModel(t, "float32", false)
	seeds := []uint64{11, 22, 33, 44}
	sc := SampleConfig{Temperature: 1, TopK: 50, MaxNewTokens: 12, Batch: 3} // 2 batches, one partial
	want, err := m.Generate(samplePrompts, seeds, sc)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([][]int, len(samplePrompts))
	got, err := m.GenerateStream(samplePrompts, seeds, sc, func(p, step, id int) error {
		if step != len(seen[p]) {
			t.Errorf("prompt %d: step %d after %d tokens", p, step, len(seen[p]))
		}
		seen[p] = append(seen[p], id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("GenerateStream %v != Generate %v", got, want)
	}
	if !slices.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("callback saw %v, responses %v", seen, want)
	}

	// Batch 1: each prompt's tokens come before the next prompt's.
	sc.Batch = 1
	var order []int
	if _, err := m.GenerateStream(samplePrompts, seeds, sc, func(p, _, _ int) error { order = append(order, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(order) {
		t.Errorf("batch 1: prompts reported out of order: %v", order)
	}

	if len(want[1]) < 3 {
		t.Fatalf("prompt 1 has %d tokens: the stop test needs 3", len(want[1]))
	}
	stop := errors.New("enough")
	calls := 0
	out, err := m.GenerateStream(samplePrompts, seeds, sc, func(p, step, _ int) error {
		calls++
		if p == 1 && step == 2 {
			return stop
		}
		return nil
	})
	if err != stop || out != nil {
		t.Errorf("callback error: got %v, %v; want the callback's error and no responses", out, err)
	}
	if want := len(want[0]) + 3; calls != want {
		t.Errorf("%d calls after the stop, want %d (none after it)", calls, want)
	}
}
