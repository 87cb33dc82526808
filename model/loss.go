package model

// Losses (method.md). All take log-probs log p(y|x) = sum over response tokens (incl. EOS)
// and, for the self-play methods, the opponent's log-probs of the same responses, so the
// reward of a response u is r(u) = log p_theta(u|x) - log p_opponent(u|x).
//
//	sft:    -log p(y|x), the batch normalised by its response tokens sum |y| (SFTNorm "token",
//	        the default: maximum likelihood, as TRL's SFT trainer); or -log p(y|x) / |y|, the
//	        token mean per sequence, the batch by its examples (SFTNorm "sequence", the loss of
//	        builds before sft_norm existed: its optimum is biased towards short responses,
//	        p proportional to p_data/|y|). |y| counts EOS.
//	space:  -logsigmoid(s r(y) - ln mu) - sum_{j=1..mu} logsigmoid(ln mu - s r(y'_j))
//	        (NCE with the opponent as noise, ratio mu; s = 1 unless Beta is set to another value)
//	spin:   mean_j l(beta (r(y) - r(y'_j))),  l(t) = log(1+exp(-t)) or hinge max(0, 1-t)
//	sipo:   mean_j (r(y) - r(y'_j) - 1/(2 beta))^2
//	ssimpo: mean_j -logsigmoid(beta/|y| log p(y) - beta/|y'_j| log p(y'_j) - gamma)
//
// The pairwise methods average over the Mu synthetic responses of an example (Mu = 1 is the
// papers' setting). The batch loss is the sum of the example losses over the sum of the
// examples' weights (BatchLoss): the mean of the example losses for every method but sft
// with SFTNorm "token", whose weight is the response's token count.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Method names a training objective.
type Method string

const (
	MethodSFT    Method = "sft"
	MethodSPIN   Method = "spin"
	MethodSPACE  Method = "space"
	MethodSIPO   Method = "sipo"
	MethodSSimPO Method = "ssimpo"
)

// LossConfig selects and parameterizes the loss. It is the one type for these settings:
// a run spec embeds it (its JSON fields inline), the Train activity passes it here as is,
// and Validate is the one check of mu, beta and the method.
//
// Mu is the SPACE noise ratio: the number of synthetic responses per prompt (1 to 1024;
// the paper's setting is 1). The pairwise methods average over them. It is unused by sft.
// Beta 0 means the method's default: 1 for space (the paper's loss has no beta: keep it
// at 1, a scale s of the reward otherwise), 0.1 for spin and sipo (uclaml/SPIN's
// default), 2.0 for ssimpo (SimPO's range 2-2.5); see BetaOrDefault. Gamma is used by
// ssimpo only (0 is allowed). Hinge selects the hinge variant of spin. SFTNorm is sft's
// normalisation (see SFTNorm), "" meaning the default "token"; sft only.
type LossConfig struct {
	Method  Method  `json:"method"`
	Mu      int     `json:"mu"`
	Beta    float64 `json:"beta"`
	Hinge   bool    `json:"hinge"`
	Gamma   float64 `json:"gamma"`
	SFTNorm SFTNorm `json:"sft_norm,omitempty"`
}

// SFTNorm is how sft normalises its loss.
//
// "token" (the default) is maximum likelihood: the batch loss is the sum of the responses'
// negative log-likelihoods over the batch's total response tokens (EOS included), the whole
// optimizer batch's, so micro-batching does not change it. Its expected gradient is zero at
// p_theta = p_data.
//
// "sequence" is the token mean within each response, -log p(y|x)/|y|, averaged over the
// batch's examples: every response weighs the same whatever its length, so a token of a
// short response weighs more, and the optimum is p proportional to p_data(y)/|y| (short
// responses favoured). It was the only sft loss before sft_norm existed, and is kept for
// comparisons with runs made then.
type SFTNorm string

const (
	SFTNormToken    SFTNorm = "token"
	SFTNormSequence SFTNorm = "sequence"
)

// SFTNormOrDefault is the normalisation sft actually uses ("" is "token").
func (c LossConfig) SFTNormOrDefault() SFTNorm {
	if c.SFTNorm == "" {
		return SFTNormToken
	}
	return c.SFTNorm
}

// MaxMu is the largest noise ratio Validate accepts: every synthetic response is a row of
// the training graph, so mu sets the memory of a training step (1+mu rows per example).
const MaxMu = 1024

// DefaultLoss is the paper's setting: SPACE with one synthetic response per prompt.
func DefaultLoss() LossConfig { return LossConfig{Method: MethodSPACE, Mu: 1} }

// Methods lists the training objectives, in the order the documentation gives them.
var Methods = []Method{MethodSPACE, MethodSPIN, MethodSFT, MethodSIPO, MethodSSimPO}

// Validate reports the first problem as an *InputError.
func (c LossConfig) Validate() error {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: field, Problem: problem, Fix: fix}
	}
	if !slices.Contains(Methods, c.Method) {
		names := make([]string, len(Methods))
		for i, m := range Methods {
			names[i] = strconv.Quote(string(m))
		}
		return bad("method", fmt.Sprintf("%q is not a known method", c.Method), "use one of "+strings.Join(names, ", "))
	}
	if c.Method != MethodSFT && (c.Mu < 1 || c.Mu > MaxMu) {
		return bad("mu", fmt.Sprintf("is %d", c.Mu), fmt.Sprintf("use a number of synthetic responses per prompt between 1 and %d", MaxMu))
	}
	if c.Beta < 0 || math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) {
		return bad("beta", fmt.Sprintf("is %v", c.Beta), "use a positive finite beta, or 0 for the method's default")
	}
	if math.IsNaN(c.Gamma) || math.IsInf(c.Gamma, 0) {
		return bad("gamma", fmt.Sprintf("is %v", c.Gamma), "use a finite gamma (ssimpo only)")
	}
	if c.Hinge && c.Method != MethodSPIN {
		return bad("hinge", fmt.Sprintf("is set for method %q", c.Method), "hinge applies to spin only: unset it")
	}
	if c.SFTNorm != "" && c.SFTNorm != SFTNormToken && c.SFTNorm != SFTNormSequence {
		return bad("sft_norm", fmt.Sprintf("%q is not a known normalisation", c.SFTNorm), `use "token" (maximum likelihood, the default) or "sequence" (the token mean per response of older builds)`)
	}
	if c.SFTNorm != "" && c.Method != MethodSFT {
		return bad("sft_norm", fmt.Sprintf("is set for method %q", c.Method), "sft_norm applies to sft only: unset it")
	}
	return nil
}

// SelfPlay is true for the methods that train on synthetic responses (all but sft).
func (c LossConfig) SelfPlay() bool { return c.Method != MethodSFT }

// synthetic is the number of synthetic responses a training example carries: mu for the
// self-play methods, 0 for sft.
func (c LossConfig) synthetic() int {
	if !c.SelfPlay() {
		return 0
	}
	return c.Mu
}

// BetaOrDefault is the beta actually used (see LossConfig).
func (c LossConfig) BetaOrDefault() float64 {
	if c.Beta > 0 {
		return c.Beta
	}
	switch c.Method {
	case MethodSPIN, MethodSIPO:
		return 0.1
	case MethodSSimPO:
		return 2.0
	}
	return 1
}

// logSigmoid(z) = -log(1+exp(-z)), computed stably.
func logSigmoid(z float64) float64 {
	if z >= 0 {
		return -math.Log1p(math.Exp(-z))
	}
	return z - math.Log1p(math.Exp(z))
}

// sigmoid(z) = 1/(1+exp(-z)), stably.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// SFTLoss is -logp/n: the token-mean negative log-likelihood of a response of n tokens
// (sft's example loss with SFTNorm "sequence"; with "token" it is -logp, of weight n).
func SFTLoss(logp float64, n int) float64 { return -logp / float64(n) }

// weight is an example's share of its batch's normaliser (BatchLoss): its response's
// tokens for sft with SFTNorm "token", 1 otherwise. It depends on the lengths only, so a
// trainer sums it over the whole optimizer batch before the first micro-batch runs.
func (c LossConfig) weight(realLen int) float64 {
	if c.Method == MethodSFT && c.SFTNormOrDefault() == SFTNormToken {
		return float64(realLen)
	}
	return 1
}

// BatchLoss is the loss of a batch (the scalar float64 reference of a training step's):
// the sum of the example losses over the sum of their weights, i.e. the mean example loss,
// or for sft with SFTNorm "token" the batch's negative log-likelihood per response token.
func (c LossConfig) BatchLoss(ins []LossInputs) float64 {
	var l, w float64
	for _, in := range ins {
		l += c.Loss(in)
		w += c.weight(in.RealLen)
	}
	return l / w
}

// SPACELoss is the SPACE (NCE) loss of one prompt: rReal = r(x,y) of the real response,
// rGen the rewards of the mu synthetic ones (already scaled, if a scale is used).
//
//	L = -logsigmoid(rReal - ln mu) - sum_j logsigmoid(ln mu - rGen_j)
func SPACELoss(rReal float64, rGen []float64, mu int) float64 {
	lm := math.Log(float64(mu))
	l := -logSigmoid(rReal - lm)
	for _, r := range rGen {
		l -= logSigmoid(lm - r)
	}
	return l
}

// SPINLoss is l(beta*(rReal - rGen)), l logistic log(1+exp(-t)) or hinge max(0, 1-t).
func SPINLoss(rReal, rGen, beta float64, hinge bool) float64 {
	t := beta * (rReal - rGen)
	if hinge {
		return math.Max(0, 1-t)
	}
	return -logSigmoid(t)
}

// SIPOLoss is (rReal - rGen - 1/(2 beta))^2.
func SIPOLoss(rReal, rGen, beta float64) float64 {
	d := rReal - rGen - 1/(2*beta)
	return d * d
}

// SSimPOLoss is -logsigmoid(beta/nReal*logpReal - beta/nGen*logpGen - gamma) (no opponent).
func SSimPOLoss(logpReal float64, nReal int, logpGen float64, nGen int, beta, gamma float64) float64 {
	return -logSigmoid(beta/float64(nReal)*logpReal - beta/float64(nGen)*logpGen - gamma)
}

// LossInputs are the log-probs of one example: the model's (Real, Gen) and the opponent's
// (RefReal, RefGen), and the response lengths in tokens (incl. EOS).
type LossInputs struct {
	Real, RefReal float64
	RealLen       int
	Gen, RefGen   []float64
	GenLen        []int
}

// Loss is the loss of one example (the scalar float64 reference), before the batch's
// normalisation (BatchLoss).
func (c LossConfig) Loss(in LossInputs) float64 {
	l, _, _ := c.lossGrad(in)
	return l
}

// lossGrad returns the loss of one example and its derivatives with respect to the model's
// log-probs Real and Gen[j]. The training graph's loss op calls this, so the graph and the
// reference compute the same numbers.
func (c LossConfig) lossGrad(in LossInputs) (l, dReal float64, dGen []float64) {
	dGen = make([]float64, len(in.Gen))
	beta := c.BetaOrDefault()
	switch c.Method {
	case MethodSFT:
		if c.SFTNormOrDefault() == SFTNormToken {
			return -in.Real, -1, dGen
		}
		n := float64(in.RealLen)
		return SFTLoss(in.Real, in.RealLen), -1 / n, dGen
	case MethodSPACE:
		s := beta // 1 by default
		lm := math.Log(float64(c.Mu))
		rR := s * (in.Real - in.RefReal)
		rG := make([]float64, len(in.Gen))
		for j := range in.Gen {
			rG[j] = s * (in.Gen[j] - in.RefGen[j])
			// d/dr [-logsigmoid(lm - r)] = sigmoid(r - lm)
			dGen[j] = s * sigmoid(rG[j]-lm)
		}
		// d/dr [-logsigmoid(r - lm)] = -sigmoid(lm - r)
		return SPACELoss(rR, rG, c.Mu), -s * sigmoid(lm-rR), dGen
	}
	k := float64(len(in.Gen))
	for j := range in.Gen {
		var lj, d float64 // d = dlj / d(first argument difference)
		switch c.Method {
		case MethodSPIN:
			rR, rG := in.Real-in.RefReal, in.Gen[j]-in.RefGen[j]
			lj = SPINLoss(rR, rG, beta, c.Hinge)
			t := beta * (rR - rG)
			if c.Hinge {
				if t < 1 {
					d = -beta
				}
			} else {
				d = -beta * sigmoid(-t)
			}
			dReal += d / k
			dGen[j] = -d / k
		case MethodSIPO:
			rR, rG := in.Real-in.RefReal, in.Gen[j]-in.RefGen[j]
			lj = SIPOLoss(rR, rG, beta)
			d = 2 * (rR - rG - 1/(2*beta))
			dReal += d / k
			dGen[j] = -d / k
		case MethodSSimPO:
			a, b := beta/float64(in.RealLen), beta/float64(in.GenLen[j])
			lj = SSimPOLoss(in.Real, in.RealLen, in.Gen[j], in.GenLen[j], beta, c.Gamma)
			d = -sigmoid(-(a*in.Real - b*in.Gen[j] - c.Gamma))
			dReal += a * d / k
			dGen[j] = -b * d / k
		}
		l += lj / k
	}
	return l, dReal, dGen
}

// lossState is the per-run data of the loss op: E examples of 1+mu rows each (row
// e*(1+mu) is the real response, the next mu rows the synthetic ones).
type lossState struct {
	cfg    LossConfig
	E, mu  int
	active []bool    // [E] false for padding examples (loss and gradient 0)
	ref    []float64 // [E*(1+mu)] opponent log-probs
	lens   []int     // [E*(1+mu)] response lengths
	last   []float64 // [E] losses of the last forward (float64)
	lastLP []float64 // [E*(1+mu)] log-probs of the last forward
}

func newLossState(cfg LossConfig, E int) *lossState {
	mu := cfg.synthetic()
	R := E * (1 + mu)
	return &lossState{cfg: cfg, E: E, mu: mu, active: make([]bool, E), ref: make([]float64, R), lens: make([]int, R), last: make([]float64, E), lastLP: make([]float64, R)}
}

func (s *lossState) inputs(e int, lp []float64) LossInputs {
	r := e * (1 + s.mu)
	in := LossInputs{Real: lp[r], RefReal: s.ref[r], RealLen: s.lens[r]}
	for j := 0; j < s.mu; j++ {
		in.Gen = append(in.Gen, lp[r+1+j])
		in.RefGen = append(in.RefGen, s.ref[r+1+j])
		in.GenLen = append(in.GenLen, s.lens[r+1+j])
	}
	return in
}

// lossOp: per-row log-probs [E*(1+mu)] -> per-example losses [E].
type lossOp struct {
	opBase
	s *lossState
}

func newLossOp(s *lossState) *lossOp { return &lossOp{opBase{"Loss", 0, []int{1, 1}}, s} }

func (o *lossOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return tensor.Shape{o.s.E}, nil }

func (o *lossOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	lp := floats(x)
	copy(o.s.lastLP, lp)
	vals := make([]float64, o.s.E)
	for e := range vals {
		if o.s.active[e] {
			vals[e], _, _ = o.s.cfg.lossGrad(o.s.inputs(e, lp))
		}
	}
	copy(o.s.last, vals)
	return newDense(x.Dtype(), []int{o.s.E}, vals), nil
}

func (o *lossOp) DiffWRT(n int) []bool { return allTrue(n) }
func (o *lossOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&lossGradOp{opBase{"LossGrad", 0, []int{1, 1, 1}}, o.s}, in[0], grad)
	return G.Nodes{d}, err
}

// lossGradOp: (logp, grad [E]) -> dlogp [E*(1+mu)].
type lossGradOp struct {
	opBase
	s *lossState
}

func (o *lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (o *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	lp, g := floats(x), floats(dense(in[1]))
	d := make([]float64, len(lp))
	for e := 0; e < o.s.E; e++ {
		if !o.s.active[e] {
			continue
		}
		_, dr, dg := o.s.cfg.lossGrad(o.s.inputs(e, lp))
		r := e * (1 + o.s.mu)
		d[r] = g[e] * dr
		for j, v := range dg {
			d[r+1+j] = g[e] * v
		}
	}
	return newDense(x.Dtype(), []int{len(d)}, d), nil
}
