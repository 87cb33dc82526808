package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gradData makes n examples with ng synthetic responses each; opponent log-probs are the
// model's own minus offsets, so that rewards are r(real) = 2 and r(gen_j) = -1 - j/2
// (away from the hinge's kink and from zero gradients).
func gradData(t *testing.T, m *GPT, n, ng int) []Example {
	prompts := []string{"1+2=", "ab", "hello "}
	reals := []string{"3", "cd!", "world"}
	gens := []string{"4", "xyz", "w", "zz", "q7"}
	var data []Example
	for i := 0; i < n; i++ {
		s := mustSeq(t, m, prompts[i%3], reals[i%3])
		ex := Example{Prompt: s.Prompt, Real: s.Response}
		for j := 0; j < ng; j++ {
			g := mustSeq(t, m, prompts[i%3], gens[(i+j)%len(gens)])
			ex.Gen = append(ex.Gen, g.Response)
		}
		seqs := []Sequence{{ex.Prompt, ex.Real}}
		for _, g := range ex.Gen {
			seqs = append(seqs, Sequence{ex.Prompt, g})
		}
		lp, err := m.LogProbs(seqs, len(seqs))
		if err != nil {
			t.Fatal(err)
		}
		ex.RefReal = lp[0] - 2
		for j := range ex.Gen {
			ex.RefGen = append(ex.RefGen, lp[1+j]+1+float64(j)/2)
		}
		data = append(data, ex)
	}
	return data
}

// refBatchLoss is the batch loss from LogProbs and the scalar reference losses: an
// independent path (forward-only graph + LossConfig.BatchLoss) from the training graph.
func refBatchLoss(t *testing.T, m *GPT, data []Example, lc LossConfig) float64 {
	var ins []LossInputs
	for _, ex := range data {
		seqs := []Sequence{{ex.Prompt, ex.Real}}
		for _, g := range ex.Gen {
			seqs = append(seqs, Sequence{ex.Prompt, g})
		}
		lp, err := m.LogProbs(seqs, len(seqs))
		if err != nil {
			t.Fatal(err)
		}
		in := LossInputs{Real: lp[0], RefReal: ex.RefReal, RealLen: len(ex.Real)}
		for j, g := range ex.Gen {
			in.Gen = append(in.Gen, lp[1+j])
			in.RefGen = append(in.RefGen, ex.RefGen[j])
			in.GenLen = append(in.GenLen, len(g))
		}
		ins = append(ins, in)
	}
	return lc.BatchLoss(ins)
}

// TestGradientsFiniteDifference compares the training graph's analytic gradient (fused ops,
// gorgonia matmuls, loss op, micro-batch accumulation) with central differences of the
// reference loss, for a few random entries of every parameter tensor, for every loss.
func TestGradientsFiniteDifference(t *testing.T) {
	cases := []LossConfig{
		{Method: MethodSFT},
		{Method: MethodSFT, SFTNorm: SFTNormSequence},
		{Method: MethodSPIN, Mu: 1},
		{Method: MethodSPIN, Mu: 1, Hinge: true},
		{Method: MethodSPACE, Mu: 1},
		{Method: MethodSPACE, Mu: 3},
		{Method: MethodSIPO, Mu: 1},
		{Method: MethodSSimPO, Mu: 1, Gamma: 0.5},
		{Method: MethodPSFT, Mu: 2, Beta: 0.5},
	}
	for ci, lc := range cases {
		t.Run(fmt.Sprintf("%s%s_mu%d_hinge%v", lc.Method, lc.SFTNorm, lc.Mu, lc.Hinge), func(t *testing.T) {
			cfg := Config{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 2, Heads: 2, Context: 16}, TiedEmbeddings: ci%2 == 0, Seed: 3, DType: "float64"}
			m, err := New(cfg, NewByteTokenizer())
			if err != nil {
				t.Fatal(err)
			}
			randomize(m, 5)
			data := gradData(t, m, 3, lc.synthetic())
			tr, err := NewTrainer(m, data, TrainConfig{Loss: lc, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 1, BatchSize: 3, MicroBatch: 2}})
			if err != nil {
				t.Fatal(err)
			}
			var info StepInfo
			if err := tr.accumulate([]int{0, 1, 2}, &info); err != nil {
				t.Fatal(err)
			}
			// the batch's normaliser: 3 examples, or for sft "token" their response tokens
			norm := tr.normaliser([]int{0, 1, 2})
			if ref := refBatchLoss(t, m, data, lc); math.Abs(info.Loss/norm-ref) > 1e-10*math.Max(1, math.Abs(ref)) {
				t.Fatalf("graph loss %v, reference loss %v", info.Loss/norm, ref)
			}
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			const h = 1e-5
			worst := 0.0
			for pi, p := range m.Params {
				d := p.Value.Data().([]float64)
				for k := 0; k < 3; k++ {
					j := rng.IntN(len(d))
					if p.Name == "wte" { // rows of tokens that occur, where the gradient lives
						j = int("ab3"[k])*cfg.DModel + rng.IntN(cfg.DModel)
					}
					orig := d[j]
					d[j] = orig + h
					lp := refBatchLoss(t, m, data, lc)
					d[j] = orig - h
					lm := refBatchLoss(t, m, data, lc)
					d[j] = orig
					num := (lp - lm) / (2 * h)
					ana := tr.acc.f64[pi][j] / norm
					err := math.Abs(num - ana)
					scale := math.Max(math.Abs(num), math.Abs(ana))
					if err > 1e-4*scale+1e-8 {
						t.Errorf("%s[%d]: analytic %.8g, numeric %.8g", p.Name, j, ana, num)
					}
					if scale > 1e-6 {
						worst = math.Max(worst, err/scale)
					}
				}
			}
			t.Logf("worst relative error %.2e", worst)
			// gorgonia must not accumulate gradients across runs: a second pass gives the same.
			first := make([][]float64, len(tr.acc.f64))
			for i, a := range tr.acc.f64 {
				first[i] = append([]float64(nil), a...)
			}
			if err := tr.accumulate([]int{0, 1, 2}, &info); err != nil {
				t.Fatal(err)
			}
			for i, a := range tr.acc.f64 {
				for j := range a {
					if a[j] != first[i][j] {
						t.Fatalf("%s[%d]: second pass gradient %v, first %v", m.Params[i].Name, j, a[j], first[i][j])
					}
				}
			}
		})
	}
}
