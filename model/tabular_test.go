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
		draw := func(p []float64) int {
			u := rng.Float64()
			for k, v := range p {
				if u < v {
					return k
				}
				u -= v
			}
			return len(p) - 1
		}
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
