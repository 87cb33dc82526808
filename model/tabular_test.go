package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A tabular model of responses: one prompt, K possible responses, p_theta = softmax(theta).
// It goes through the same loss code (LossConfig.lossGrad) as the GPT's training graph; the
// chain rule to theta is d log p(k) / d theta = onehot(k) - p.

func softmax(th []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range th {
		mx = math.Max(mx, v)
	}
	p := make([]float64, len(th))
	var z float64
	for i, v := range th {
		p[i] = math.Exp(v - mx)
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

func kl(p, q []float64) float64 {
	var s float64
	for i := range p {
		if p[i] > 0 {
			s += p[i] * math.Log(p[i]/q[i])
		}
	}
	return s
}

// addExampleGrad adds w * dL/dtheta of one example (real response y, synthetic ys) to g.
func addExampleGrad(g []float64, lc LossConfig, p, q []float64, y int, ys []int, w float64) {
	in := LossInputs{Real: math.Log(p[y]), RefReal: math.Log(q[y]), RealLen: 1}
	for _, k := range ys {
		in.Gen = append(in.Gen, math.Log(p[k]))
		in.RefGen = append(in.RefGen, math.Log(q[k]))
		in.GenLen = append(in.GenLen, 1)
	}
	_, dr, dg := lc.lossGrad(in)
	add := func(k int, d float64) {
		for i := range g {
			g[i] -= w * d * p[i]
		}
		g[k] += w * d
	}
	add(y, dr)
	for j, k := range ys {
		add(k, dg[j])
	}
}

// expectedGrad is E_{y~pdata, y'_1..mu ~ q} dL/dtheta, exactly. For SPACE dReal depends on y
// only and dGen_j on y'_j only, so the mu-sample expectation equals the enumeration of
// (y, y') pairs with y' repeated mu times.
func expectedGrad(lc LossConfig, theta, pdata, q []float64) []float64 {
	p := softmax(theta)
	g := make([]float64, len(theta))
	mu := lc.Mu
	for y := range pdata {
		for k := range q {
			ys := make([]int, mu)
			for j := range ys {
				ys[j] = k
			}
			addExampleGrad(g, lc, p, q, y, ys, pdata[y]*q[k])
		}
	}
	return g
}

var pData = []float64{0.4, 0.25, 0.15, 0.1, 0.06, 0.04}

// drawFrom samples an index from the distribution p.
func drawFrom(rng *rand.Rand, p []float64) int {
	u := rng.Float64()
	for k, v := range p {
		if u < v {
			return k
		}
		u -= v
	}
	return len(p) - 1
}

// TestSPACEStationaryAtData: at p_theta = p_data the expected SPACE gradient is zero, with
// the opponent at p_data and also with any other opponent (NCE's consistency, Theorem 2/3:
// the optimum does not depend on the noise distribution).
func TestSPACEStationaryAtData(t *testing.T) {
	theta := make([]float64, len(pData))
	for i, v := range pData {
		theta[i] = math.Log(v)
	}
	uniform := softmax(make([]float64, len(pData)))
	skewed := softmax([]float64{-1, 0.5, 1, 0, 2, -0.3})
	for _, mu := range []int{1, 3} {
		for name, q := range map[string][]float64{"p_data": pData, "uniform": uniform, "skewed": skewed} {
			g := expectedGrad(LossConfig{Method: MethodSPACE, Mu: mu}, theta, pData, q)
			for i, v := range g {
				if math.Abs(v) > 1e-12 {
					t.Errorf("mu %d, opponent %s: expected gradient[%d] = %g, want 0", mu, name, i, v)
				}
			}
		}
		// away from p_data the gradient is not zero (the test can fail)
		g := expectedGrad(LossConfig{Method: MethodSPACE, Mu: mu}, make([]float64, len(pData)), pData, uniform)
		if math.Abs(g[0]) < 1e-3 {
			t.Errorf("mu %d: gradient at uniform is %v, expected clearly nonzero", mu, g)
		}
	}
}

// TestSPACESelfPlayConverges: self-play rounds (opponent = previous model, synthetic
// responses sampled from it, real ones from p_data) with SPACE move p_theta to p_data.
func TestSPACESelfPlayConverges(t *testing.T) {
	for _, mu := range []int{1, 3} {
		lc := LossConfig{Method: MethodSPACE, Mu: mu}
		rng := rand.New(rand.NewPCG(42, uint64(mu)))
		draw := func(p []float64) int { return drawFrom(rng, p) }
		theta := []float64{1.5, -1, 0.5, 0, 1, -0.5} // far from p_data
		kl0 := kl(pData, softmax(theta))
		const rounds, steps, batch, lr = 5, 60, 256, 1.0
		for r := 0; r < rounds; r++ {
			q := softmax(theta) // the opponent: frozen for the round
			for s := 0; s < steps; s++ {
				p := softmax(theta)
				g := make([]float64, len(theta))
				for e := 0; e < batch; e++ {
					ys := make([]int, mu)
					for j := range ys {
						ys[j] = draw(q)
					}
					addExampleGrad(g, lc, p, q, draw(pData), ys, 1/float64(batch))
				}
				for i := range theta {
					theta[i] -= lr * g[i]
				}
			}
			t.Logf("mu %d round %d: KL(p_data || p_theta) = %.5f", mu, r, kl(pData, softmax(theta)))
		}
		kl1 := kl(pData, softmax(theta))
		t.Logf("mu %d: KL %.4f -> %.5f", mu, kl0, kl1)
		if kl1 > kl0/50 {
			t.Errorf("mu %d: KL went from %.4f to %.4f, want a reduction by 50x", mu, kl0, kl1)
		}
	}
}

// Responses of different lengths for the SFT tests: response k of the tabular model has
// sftLens[k] tokens (EOS included), and p_data is pData.
var sftLens = []int{1, 2, 3, 4, 6, 8}

// sftGrad is dL/dtheta of a batch of real responses ys (weights w: counts or
// probabilities), normalised as a Trainer normalises a step: the sum of the example
// gradients over the sum of the example weights (LossConfig.weight).
func sftGrad(lc LossConfig, theta []float64, ys []int, w []float64) []float64 {
	p := softmax(theta)
	g := make([]float64, len(theta))
	var norm float64
	for e, y := range ys {
		addExampleGradLen(g, lc, p, y, sftLens[y], w[e])
		norm += w[e] * lc.weight(sftLens[y])
	}
	for i := range g {
		g[i] /= norm
	}
	return g
}

// addExampleGradLen adds w * dL/dtheta of one sft example (response y of n tokens) to g.
func addExampleGradLen(g []float64, lc LossConfig, p []float64, y, n int, w float64) {
	_, dr, _ := lc.lossGrad(LossInputs{Real: math.Log(p[y]), RealLen: n})
	for i := range g {
		g[i] -= w * dr * p[i]
	}
	g[y] += w * dr
}

// sftBiased is the optimum of the sequence-normalised SFT loss E[-log p(y)/|y|]:
// p proportional to p_data(y)/|y|.
func sftBiased() []float64 {
	q := make([]float64, len(pData))
	var z float64
	for k, v := range pData {
		q[k] = v / float64(sftLens[k])
		z += q[k]
	}
	for k := range q {
		q[k] /= z
	}
	return q
}

func meanLen(p []float64) float64 {
	var m float64
	for k, v := range p {
		m += v * float64(sftLens[k])
	}
	return m
}

// TestSFTMaximumLikelihood: SFT (token normalisation, the default) on responses of
// different lengths has its optimum at p_data, while the sequence normalisation of older
// builds has it at p proportional to p_data/|y|, shorter on average. Gradient descent on the
// exact expected loss reaches each optimum.
func TestSFTMaximumLikelihood(t *testing.T) {
	all := make([]int, len(pData))
	for k := range all {
		all[k] = k
	}
	atData := make([]float64, len(pData))
	for k, v := range pData {
		atData[k] = math.Log(v)
	}
	biased := sftBiased()
	for _, c := range []struct {
		norm SFTNorm
		want []float64
	}{{"", pData}, {SFTNormToken, pData}, {SFTNormSequence, biased}} {
		lc := LossConfig{Method: MethodSFT, SFTNorm: c.norm}
		// the expected gradient is zero at the optimum and not at p_data for "sequence"
		g := sftGrad(lc, atData, all, pData)
		gnorm := 0.0
		for _, v := range g {
			gnorm = math.Max(gnorm, math.Abs(v))
		}
		if (gnorm < 1e-12) != (c.norm != SFTNormSequence) {
			t.Errorf("sft_norm %q: expected gradient at p_data has max |g| %g", c.norm, gnorm)
		}
		theta := make([]float64, len(pData)) // uniform start
		for s := 0; s < 20000; s++ {
			g := sftGrad(lc, theta, all, pData)
			for i := range theta {
				theta[i] -= 2 * g[i]
			}
		}
		p := softmax(theta)
		t.Logf("sft_norm %q: KL(p_data || p) = %.5f, mean length %.3f (p_data %.3f)", c.norm, kl(pData, p), meanLen(p), meanLen(pData))
		for k := range p {
			if math.Abs(p[k]-c.want[k]) > 1e-6 {
				t.Errorf("sft_norm %q: p = %.5f, want %.5f", c.norm, p, c.want)
				break
			}
		}
	}
	// the bias is large: a KL floor of 0.18 nats, and responses 35% shorter
	if b := kl(pData, biased); b < 0.1 {
		t.Errorf("KL(p_data || p_data/|y|) = %.4f, want a clear bias", b)
	}
	if meanLen(biased) > 0.8*meanLen(pData) {
		t.Errorf("biased mean length %.3f, p_data's %.3f", meanLen(biased), meanLen(pData))
	}
}

// TestSFTSampledBatches: SFT from sampled batches of real responses, each batch normalised
// by its own tokens as a Trainer step is, ends near p_data; the sequence normalisation
// ends near p_data/|y|.
func TestSFTSampledBatches(t *testing.T) {
	for _, norm := range []SFTNorm{SFTNormToken, SFTNormSequence} {
		lc := LossConfig{Method: MethodSFT, SFTNorm: norm}
		rng := rand.New(rand.NewPCG(7, 1))
		draw := func() int { return drawFrom(rng, pData) }
		theta := make([]float64, len(pData))
		const steps, batch = 4000, 64
		ys, w := make([]int, batch), make([]float64, batch)
		avg := make([]float64, len(pData)) // mean of p over the second half of training
		for s := 0; s < steps; s++ {
			for e := range ys {
				ys[e], w[e] = draw(), 1
			}
			g := sftGrad(lc, theta, ys, w)
			lr := 2 / (1 + float64(s)/500)
			for i := range theta {
				theta[i] -= lr * g[i]
			}
			if s >= steps/2 {
				for k, v := range softmax(theta) {
					avg[k] += v / (steps / 2)
				}
			}
		}
		toData, toBiased := kl(pData, avg), kl(sftBiased(), avg)
		t.Logf("sft_norm %q: KL(p_data || p) = %.5f, KL(p_data/|y| || p) = %.5f, mean length %.3f", norm, toData, toBiased, meanLen(avg))
		near, far := toData, toBiased
		if norm == SFTNormSequence {
			near, far = toBiased, toData
		}
		if near > 0.005 || far < 0.1 {
			t.Errorf("sft_norm %q: KL to its optimum %.5f (want < 0.005), to the other %.5f (want > 0.1)", norm, near, far)
		}
	}
}
