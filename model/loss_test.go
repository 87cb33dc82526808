package model

import (
	"errors"
	"math"
	"testing"
)

// TestLossesByHand checks each loss against arithmetic done by hand (softplus(x) =
// log(1+exp(x)), -logsigmoid(z) = softplus(-z)).
func TestLossesByHand(t *testing.T) {
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: got %.12f, want %.12f", name, got, want)
		}
	}
	// Example: model log-probs real -10 (5 tokens), gen -9 (3 tokens); opponent real -12, gen -8.
	// Rewards: r(y) = -10 - (-12) = 2, r(y') = -9 - (-8) = -1.
	in := LossInputs{Real: -10, RefReal: -12, RealLen: 5, Gen: []float64{-9}, RefGen: []float64{-8}, GenLen: []int{3}}

	// SFT, maximum likelihood (the default, "token"): the example's loss is -(-10) = 10, of
	// weight 5 tokens; a batch of it alone is 10/5 = 2 per token.
	near("sft", LossConfig{Method: MethodSFT}.Loss(in), 10)
	near("sft token", LossConfig{Method: MethodSFT, SFTNorm: SFTNormToken}.Loss(in), 10)
	near("sft batch of one", LossConfig{Method: MethodSFT}.BatchLoss([]LossInputs{in}), 2)
	// SFT, token mean per sequence ("sequence"): -(-10)/5 = 2.
	near("sft sequence", LossConfig{Method: MethodSFT, SFTNorm: SFTNormSequence}.Loss(in), 2)
	near("SFTLoss", SFTLoss(-10, 5), 2)
	// A batch of responses of 5 and 1 tokens, log-probs -10 and -4: token norm
	// (10 + 4) / (5 + 1) = 2.333333; sequence norm (10/5 + 4/1) / 2 = 3.
	batch := []LossInputs{in, {Real: -4, RealLen: 1}}
	near("sft batch token", LossConfig{Method: MethodSFT}.BatchLoss(batch), 14.0/6)
	near("sft batch sequence", LossConfig{Method: MethodSFT, SFTNorm: SFTNormSequence}.BatchLoss(batch), 3)

	// SPIN logistic, beta 0.1: t = 0.1*(2-(-1)) = 0.3; log(1+e^-0.3) = log(1.740818) = 0.554355.
	near("spin", LossConfig{Method: MethodSPIN, Beta: 0.1}.Loss(in), 0.5543552444685271)
	near("spin default beta", LossConfig{Method: MethodSPIN, Mu: 1}.Loss(in), 0.5543552444685271)
	// SPIN hinge: max(0, 1 - 0.3) = 0.7.
	near("spin hinge", LossConfig{Method: MethodSPIN, Hinge: true}.Loss(in), 0.7)

	// S-IPO, beta 0.1: (2 - (-1) - 1/(2*0.1))^2 = (3-5)^2 = 4.
	near("sipo", LossConfig{Method: MethodSIPO, Beta: 0.1}.Loss(in), 4)

	// S-SimPO, beta 2, gamma 0.5: z = 2/5*(-10) - 2/3*(-9) - 0.5 = -4 + 6 - 0.5 = 1.5;
	// log(1+e^-1.5) = log(1.223130) = 0.201413.
	near("ssimpo", LossConfig{Method: MethodSSimPO, Beta: 2, Gamma: 0.5}.Loss(in), 0.2014132779827524)

	// SPACE, mu 1 (ln mu = 0): real reward 2, gen reward -1:
	// -logsig(2) - logsig(0 - (-1)) = log(1+e^-2) + log(1+e^-1) = 0.126928 + 0.313262 = 0.440190.
	near("space mu=1", LossConfig{Method: MethodSPACE, Mu: 1}.Loss(in), math.Log1p(math.Exp(-2))+math.Log1p(math.Exp(-1)))
	near("space mu=1 value", LossConfig{Method: MethodSPACE, Mu: 1}.Loss(in), 0.4401896985)
	// Direct: rReal 0.5, rGen -0.3: log(1+e^-0.5) + log(1+e^-0.3) = 0.474077 + 0.554355 = 1.028432.
	near("SPACELoss mu=1", SPACELoss(0.5, []float64{-0.3}, 1), 1.0284322286486338)
	// mu 3, ln 3 = 1.098612: rReal 1.0, rGen 0.2, -0.5, 1.5:
	//   real: -logsig(1 - 1.098612) = log(1+e^0.098612)                = 0.743668
	//   gen:  -logsig(1.098612 - 0.2)  = log(1+e^-0.898612)             = 0.341555
	//         -logsig(1.098612 + 0.5)  = log(1+e^-1.598612)             = 0.184134
	//         -logsig(1.098612 - 1.5)  = log(1+e^0.401388)              = 0.913846
	//   total 2.183204
	near("SPACELoss mu=3", SPACELoss(1.0, []float64{0.2, -0.5, 1.5}, 3), 2.1832038467843744)
	in3 := LossInputs{Real: -9, RefReal: -10, RealLen: 2, Gen: []float64{-4.8, -5.5, -3.5}, RefGen: []float64{-5, -5, -5}, GenLen: []int{1, 2, 3}}
	near("space mu=3", LossConfig{Method: MethodSPACE, Mu: 3}.Loss(in3), 2.1832038467843744)
	// Beta 1 and 0 are the same (the paper's loss has no scale).
	near("space beta=1", LossConfig{Method: MethodSPACE, Mu: 3, Beta: 1}.Loss(in3), 2.1832038467843744)
	// The pairwise methods average over several synthetic responses: SPIN hinge with gens
	// rewards -1 and 0 -> t = 0.3 and 0.2 -> (0.7 + 0.8)/2 = 0.75.
	in2 := LossInputs{Real: -10, RefReal: -12, RealLen: 5, Gen: []float64{-9, -8}, RefGen: []float64{-8, -8}, GenLen: []int{3, 3}}
	near("spin hinge mean", LossConfig{Method: MethodSPIN, Hinge: true, Mu: 2}.Loss(in2), 0.75)
}

// TestLossDerivatives: lossGrad's derivatives (used by the graph's backward pass) match
// central differences of the loss, for every method.
func TestLossDerivatives(t *testing.T) {
	in := LossInputs{Real: -7.3, RefReal: -8.1, RealLen: 4, Gen: []float64{-6.2, -9.5, -7.7}, RefGen: []float64{-6.0, -9.0, -8.4}, GenLen: []int{2, 5, 3}}
	for _, c := range []LossConfig{{Method: MethodSFT}, {Method: MethodSFT, SFTNorm: SFTNormSequence}, {Method: MethodSPIN, Mu: 3}, {Method: MethodSPIN, Mu: 3, Hinge: true}, {Method: MethodSPACE, Mu: 3}, {Method: MethodSPACE, Mu: 3, Beta: 0.5}, {Method: MethodSIPO, Mu: 3}, {Method: MethodSSimPO, Mu: 3, Gamma: 0.3}} {
		x := in
		if c.Method == MethodSFT {
			x.Gen, x.RefGen, x.GenLen = nil, nil, nil
		}
		_, dr, dg := c.lossGrad(x)
		const h = 1e-6
		num := func(set func(float64)) float64 {
			set(h)
			lp := c.Loss(x)
			set(-2 * h)
			lm := c.Loss(x)
			set(h)
			return (lp - lm) / (2 * h)
		}
		if n := num(func(d float64) { x.Real += d }); math.Abs(n-dr) > 1e-6 {
			t.Errorf("%+v: dL/dReal %v, numeric %v", c, dr, n)
		}
		gen := append([]float64(nil), x.Gen...)
		x.Gen = gen
		for j := range gen {
			if n := num(func(d float64) { gen[j] += d }); math.Abs(n-dg[j]) > 1e-6 {
				t.Errorf("%+v: dL/dGen[%d] %v, numeric %v", c, j, dg[j], n)
			}
		}
	}
}

func TestLossConfigValidate(t *testing.T) {
	for _, c := range []LossConfig{{Method: "dpo"}, {Method: MethodSPACE, Mu: -1}, {Method: MethodSPACE, Mu: 0}, {Method: MethodSPACE, Mu: MaxMu + 1}, {Method: MethodSPIN, Mu: 1, Beta: -1}, {Method: MethodSPACE, Mu: 1, Hinge: true}, {Method: MethodSSimPO, Mu: 1, Gamma: math.NaN()},
		{Method: MethodSFT, SFTNorm: "mean"}, {Method: MethodSPACE, Mu: 1, SFTNorm: SFTNormToken}} {
		var ie *InputError
		if err := c.Validate(); !errors.As(err, &ie) {
			t.Errorf("%+v: got %v, want *InputError", c, err)
		}
	}
	for _, c := range []LossConfig{{Method: MethodSPACE, Mu: 1}, {Method: MethodSPACE, Mu: 7}, {Method: MethodSPIN, Mu: 1, Hinge: true}, {Method: MethodSPACE, Mu: MaxMu}, {Method: MethodSFT},
		{Method: MethodSFT, SFTNorm: SFTNormToken}, {Method: MethodSFT, SFTNorm: SFTNormSequence}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
