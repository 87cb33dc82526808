// Package eval is the math of evaluation: the metrics a round is judged by, computed from
// log-probs, generated token ids, a task's scorer, and generated answers against reference
// responses (exact match, token F1, the run's own Scorer: answer.go). It holds the metric names (the keys of
// a round's metric map everywhere: metrics.json, the workflow's results, reports and the
// CLI) and pure functions over numbers.
//
// It knows model/ (sequences, token ids) and tasks/ (scorers, known distributions); it
// must not know Temporal or S3. activities/ loads the inputs, runs the model (in chunks,
// heartbeating) and calls these functions.
package eval

import (
	"math"
	"math/rand/v2"
	"unicode/utf8"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

// Metric names. TaskScore is present only when the run uses a task; the distribution
// metrics (KL, GreedyValid, SampleValid) only when the task knows p_data; the reward
// metrics only for self-play rounds.
const (
	TaskScore    = "task_score"      // mean tasks.Task.Score of greedy outputs on test prompts
	NLL          = "test_nll"        // held-out NLL per token of real test responses
	RewardReal   = "reward_real"     // mean r = log p_theta - log p_opponent, real
	RewardSynth  = "reward_synth"    // same on synthetic responses
	Margin       = "reward_margin"   // reward_real - reward_synth
	DiscAccuracy = "disc_accuracy"   // h = sigmoid(r - ln mu) on the right side of 1/2
	SynthLength  = "synth_length"    // mean synthetic response length (tokens)
	Distinct2    = "distinct2"       // distinct bigrams / bigrams of greedy test outputs
	SynthDist2   = "synth_distinct2" // the same over the round's synthetic samples
	TrainLoss    = "train_loss"      // last step's loss (from Train, added by the workflow)

	KL          = "kl"           // KL(p_data || p_theta) per response on held-out prompts (nats)
	GreedyValid = "greedy_valid" // fraction of greedy outputs p_data allows
	SampleValid = "sample_valid" // fraction of temperature-1 samples p_data allows
	SampleChars = "sample_chars" // mean length (characters) of the temperature-1 samples
	DataChars   = "data_chars"   // mean length (characters) of p_data's samples on the same prompts
)

// NLLPerToken is the negative log-likelihood per response token (EOS included) of
// sequences whose log-probs log p(y|x) (sums over the response) are lp.
func NLLPerToken(seqs []model.Sequence, lp []float64) float64 {
	var nll float64
	var ntok int
	for i, s := range seqs {
		nll -= lp[i]
		ntok += len(s.Response)
	}
	return nll / float64(ntok)
}

// DistinctBigrams is the number of distinct token bigrams over all bigrams of the outputs: a
// cheap measure of whether the model collapsed to repeating itself (0 when there is none).
func DistinctBigrams(outs [][]int) float64 {
	seen := map[[2]int]bool{}
	n := 0
	for _, o := range outs {
		for i := 0; i+1 < len(o); i++ {
			seen[[2]int{o[i], o[i+1]}] = true
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(len(seen)) / float64(n)
}

// SelfPlayExample is one real training pair of a round with its synthetic responses, as
// the round trained on them: the opponent's log-probs of each (RefReal, RefGen) and the
// trained model's (LogpReal, LogpGen).
type SelfPlayExample struct {
	LogpReal, RefReal float64
	Gen               [][]int
	LogpGen, RefGen   []float64
}

// Rewards measures how a round moved the model relative to its opponent on the round's own
// training data (SPACE, method.md): the mean reward r = log p_theta - log p_opponent on real
// and on synthetic responses, their margin, the accuracy of the NCE classifier
// h = sigmoid(r - ln mu) (real: r > ln mu, synthetic: r < ln mu, i.e. h on the right side of
// 1/2), the mean synthetic length and the synthetic responses' distinct bigrams. The values
// are added to v.
func Rewards(ex []SelfPlayExample, mu int, v map[string]float64) {
	lnMu := math.Log(float64(mu))
	var rReal, rSynth float64
	var right, nSynth, synthLen int
	var gens [][]int
	for _, e := range ex {
		for _, g := range e.Gen {
			synthLen += len(g)
			gens = append(gens, g)
		}
	}
	v[SynthDist2] = DistinctBigrams(gens)
	for _, e := range ex {
		r := e.LogpReal - e.RefReal
		rReal += r
		if r > lnMu {
			right++
		}
	}
	for _, e := range ex {
		for j := range e.Gen {
			r := e.LogpGen[j] - e.RefGen[j]
			rSynth += r
			nSynth++
			if r < lnMu {
				right++
			}
		}
	}
	v[RewardReal] = rReal / float64(len(ex))
	v[RewardSynth] = rSynth / float64(nSynth)
	v[Margin] = v[RewardReal] - v[RewardSynth]
	v[DiscAccuracy] = float64(right) / float64(len(ex)+nSynth)
	v[SynthLength] = float64(synthLen) / float64(nSynth)
}

// KLSamples is the number of fresh p_data samples per held-out prompt behind KL.
const KLSamples = 8

// KLDraws draws KLSamples responses per prompt from p_data, in order (prompt 0's samples
// first), with their log p_data. The caller scores them with the model and calls KLFrom.
func KLDraws(d tasks.Distribution, prompts []string, rng *rand.Rand) (responses []string, lpData []float64) {
	for _, p := range prompts {
		for range KLSamples {
			y := d.Sample(p, rng)
			responses = append(responses, y)
			lpData = append(lpData, d.LogProb(p, y))
		}
	}
	return responses, lpData
}

// KLFrom estimates KL(p_data || p_theta) = E_x E_{y ~ p_data(.|x)} [log p_data(y|x) -
// log p_theta(y|x)] per response, without bias, from samples of p_data (KLDraws) and the
// model's log-probs of the same samples (response tokens and EOS, which is p_data's stop).
func KLFrom(lpData, lpModel []float64) float64 {
	var kl float64
	for i := range lpModel {
		kl += lpData[i] - lpModel[i]
	}
	return kl / float64(len(lpModel))
}

// MeanChars is the mean length of texts in characters (Unicode code points): with
// DataChars beside SampleChars, it shows whether a model's responses are as long as
// p_data's (the sequence-normalised SFT loss favours short ones, model.SFTNorm).
func MeanChars(texts []string) float64 {
	n := 0
	for _, t := range texts {
		n += utf8.RuneCountInString(t)
	}
	return float64(n) / float64(len(texts))
}

// ValidRate is the fraction of outputs (decoded text) that p_data allows for their prompt.
func ValidRate(d tasks.Distribution, prompts, outputs []string) float64 {
	valid := 0
	for i, o := range outputs {
		if d.Valid(prompts[i], o) {
			valid++
		}
	}
	return float64(valid) / float64(len(outputs))
}
