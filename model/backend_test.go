package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

// These tests run under every BLAS backend (`go test ./model` and
// `go test -tags openblas ./model`): they compare what the current backend computes
// against fullForwardRef, the plain float64 forward in sample_test.go that uses no BLAS.

// TestBackendSelected: Backend() names the BLAS that gorgonia actually uses.
func TestBackendSelected(t *testing.T) {
	impl := fmt.Sprintf("%T", G.WhichBLAS())
	want := map[string]string{"gonum": "gonum.Implementation", "openblas": "netlib.Implementation"}[Backend()]
	if want == "" || impl != want {
		t.Fatalf("Backend() = %q but gorgonia uses %s", Backend(), impl)
	}
	t.Logf("backend: %s", BackendDetail())
}

// TestBackendLogProbsMatchReference: LogProbs (gorgonia graph, current BLAS) equals the
// BLAS-free reference within 1e-4 relative in float32 and 1e-9 in float64, at a shape
// large enough for the BLAS to use its blocked kernels.
func TestBackendLogProbsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		dtype string
		tol   float64
	}{{"float32", 1e-4}, {"float64", 1e-9}} {
		m, err := New(Config{Shape: Shape{DModel: 64, Layers: 2, Heads: 4, Context: 32}, Seed: 3, DType: tc.dtype}, NewByteTokenizer())
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var seqs []Sequence
		for i := range 6 {
			p := strings.Repeat("ab", 1+i)
			r := make([]byte, 1+rng.IntN(32-len(p)-3))
			for j := range r {
				r[j] = byte('a' + rng.IntN(26))
			}
			s, err := m.Encode(p, string(r))
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, s)
		}
		got, err := m.LogProbs(seqs, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			full := append(append([]int{}, s.Prompt...), s.Response...)
			lg := fullForwardRef(m, full)
			var want float64
			for k, id := range s.Response {
				row := lg[len(s.Prompt)-1+k]
				mx := math.Inf(-1)
				for _, v := range row {
					mx = math.Max(mx, v)
				}
				var z float64
				for _, v := range row {
					z += math.Exp(v - mx)
				}
				want += row[id] - mx - math.Log(z)
			}
			if math.Abs(got[i]-want) > tc.tol*math.Max(1, math.Abs(want)) {
				t.Errorf("%s %s seq %d: LogProbs %.9g, reference %.9g", Backend(), tc.dtype, i, got[i], want)
			}
		}
	}
}

// TestBackendGradientsMatchReference: the training graph's gradient on the current backend
// (float64 model) equals central differences of an SFT loss computed with fullForwardRef
// (no BLAS, no gorgonia) within 1e-4 relative; and the float32 model's gradient, which goes
// through the backend's single-precision kernels, equals the float64 one within 1e-5 in
// global relative norm. Shape d64 L2 T32, like the small benchmark.
func TestBackendGradientsMatchReference(t *testing.T) {
	cfg := Config{Shape: Shape{DModel: 64, Layers: 2, Heads: 4, Context: 32}, Seed: 9, DType: "float64"}
	m, err := New(cfg, NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	var data []Example
	for _, pr := range [][2]string{{"1+2=", "3"}, {"hello ", "world, again"}, {"", "abcdefghijklmnopqrstuvwxyz"}} {
		s, err := m.Encode(pr[0], pr[1])
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, Example{Prompt: s.Prompt, Real: s.Response})
	}
	idx := []int{0, 1, 2}
	var n float64 // the batch's response tokens: the sft loss's normaliser
	for _, ex := range data {
		n += float64(len(ex.Real))
	}
	refLoss := func() float64 { // sum over examples of -log p(y|x) over their tokens (the sft loss)
		var total float64
		for _, ex := range data {
			lg := fullForwardRef(m, append(append([]int{}, ex.Prompt...), ex.Real...))
			var lp float64
			for k, id := range ex.Real {
				row := lg[len(ex.Prompt)-1+k]
				mx := math.Inf(-1)
				for _, v := range row {
					mx = math.Max(mx, v)
				}
				var z float64
				for _, v := range row {
					z += math.Exp(v - mx)
				}
				lp += row[id] - mx - math.Log(z)
			}
			total += -lp
		}
		return total / n
	}
	grads := func(m *GPT) ([][]float64, float64) {
		tr, err := NewTrainer(m, data, TrainConfig{Loss: LossConfig{Method: MethodSFT}, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 1, BatchSize: len(data)}})
		if err != nil {
			t.Fatal(err)
		}
		var info StepInfo
		if err := tr.accumulate(idx, &info); err != nil {
			t.Fatal(err)
		}
		g := make([][]float64, len(m.Params))
		for i := range g {
			g[i] = tr.acc.floats(i)
			for j := range g[i] {
				g[i][j] /= n
			}
		}
		return g, info.Loss / n
	}
	g64, loss := grads(m)
	if ref := refLoss(); math.Abs(loss-ref) > 1e-9*math.Max(1, math.Abs(ref)) {
		t.Fatalf("%s: graph loss %.12g, reference %.12g", Backend(), loss, ref)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	const h = 1e-5
	for pi, p := range m.Params {
		if !strings.Contains("wpe h0.attn.wqkv h0.attn.bqkv h1.attn.wo h0.ln2.g h1.mlp.wfc h1.mlp.wproj lnf.b lm_head", p.Name) {
			continue
		}
		d := p.Value.Data().([]float64)
		for range 2 {
			j := rng.IntN(len(d))
			if p.Name == "wpe" {
				j = rng.IntN(20 * cfg.DModel) // positions every example uses
			}
			orig := d[j]
			d[j] = orig + h
			lp := refLoss()
			d[j] = orig - h
			lm := refLoss()
			d[j] = orig
			num, ana := (lp-lm)/(2*h), g64[pi][j]
			if math.Abs(num-ana) > 1e-4*math.Max(math.Abs(num), math.Abs(ana))+1e-8 {
				t.Errorf("%s: %s[%d]: gradient %.8g, finite difference of the reference %.8g", Backend(), p.Name, j, ana, num)
			}
		}
	}
	// The same weights in float32.
	c32 := cfg
	c32.DType = "float32"
	m32, err := New(c32, NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m32.Params {
		d32, d64 := p.Value.Data().([]float32), m.Params[i].Value.Data().([]float64)
		for j := range d32 {
			d32[j] = float32(d64[j])
		}
	}
	g32, _ := grads(m32)
	var diff, norm float64
	for i := range g64 {
		for j := range g64[i] {
			diff += (g32[i][j] - g64[i][j]) * (g32[i][j] - g64[i][j])
			norm += g64[i][j] * g64[i][j]
		}
	}
	if rel := math.Sqrt(diff / norm); rel > 1e-5 {
		t.Errorf("%s: float32 gradient differs from float64 by %.3g (relative global norm)", Backend(), rel)
	} else {
		t.Logf("%s: float32 vs float64 gradient: %.3g relative", Backend(), rel)
	}
}
