package activities

import (
	"context"
	"fmt"
	"math"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// MetricsFile is runs/{run}/rounds/{r}/metrics.json.
type MetricsFile struct {
	Run        string             `json:"run"`
	Round      int                `json:"round"`
	Model      Checkpoint         `json:"model"`
	TaskMetric string             `json:"task_metric,omitempty"` // what task_score measures, e.g. "accuracy"
	Values     map[string]float64 `json:"values"`
	Samples    []Sample           `json:"samples"` // a few greedy outputs, for people
}

// Sample is one greedy output on a held-out prompt.
type Sample struct {
	Prompt string  `json:"prompt"`
	Output string  `json:"output"`
	Real   string  `json:"real"`
	Score  float64 `json:"score,omitempty"`
}

// Evaluate scores a round's model: greedy decoding of held-out prompts (task metric,
// distinct-2), held-out NLL per token, and, for self-play rounds, the rewards
// r = log p_theta - log p_opponent of the round's real and synthetic responses and the
// accuracy of the NCE classifier h = sigmoid(r - ln mu) (SPACE, method.md).
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (out EvaluateOutput, err error) {
	defer a.Metrics.track(ctx, "evaluate", in.Run, in.Round)(&err)
	out, err = a.evaluate(ctx, in)
	return out, classify(err)
}

func (a *Activities) evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	m, err := a.loadModel(ctx, in.Model)
	if err != nil {
		return EvaluateOutput{}, err
	}
	test, err := a.loadPairs(ctx, in.Test)
	if err != nil {
		return EvaluateOutput{}, err
	}
	if in.MaxEval > 0 && len(test) > in.MaxEval {
		test = test[:in.MaxEval]
	}
	seqs, err := encodeAll(m, test)
	if err != nil {
		return EvaluateOutput{}, err
	}
	hb := startHeartbeat(ctx, Progress{Phase: "evaluate", Round: in.Round, Total: 2 * len(seqs)})
	defer hb.done()
	beat := func(step, total int) {
		hb.set(Progress{Phase: "evaluate", Round: in.Round, Step: step, Total: total})
	}
	f := MetricsFile{Run: in.Run, Round: in.Round, Model: in.Model, Values: map[string]float64{}}

	// Held-out NLL per token of the real responses.
	lp, err := a.logProbs(ctx, m, seqs, func(done int) { beat(done, 2*len(seqs)) })
	if err != nil {
		return EvaluateOutput{}, err
	}
	var nll float64
	var ntok int
	for i, s := range seqs {
		nll -= lp[i]
		ntok += len(s.Response)
	}
	f.Values[MetricNLL] = nll / float64(ntok)

	// Greedy outputs: task metric and diversity.
	var task tasks.Task
	if in.Task != "" {
		if task, err = tasks.Get(in.Task); err != nil {
			return EvaluateOutput{}, invalid("task: " + err.Error())
		}
		f.TaskMetric = task.MetricName()
	}
	var outs [][]int
	for lo := 0; lo < len(seqs); lo += chunk {
		if err := ctx.Err(); err != nil {
			return EvaluateOutput{}, err
		}
		hi := min(lo+chunk, len(seqs))
		prompts := make([][]int, 0, hi-lo)
		for _, s := range seqs[lo:hi] {
			prompts = append(prompts, s.Prompt)
		}
		g, err := m.Greedy(prompts, min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(prompts)))
		if err != nil {
			return EvaluateOutput{}, fmt.Errorf("greedy decode: %w", err)
		}
		outs = append(outs, g...)
		beat(len(seqs)+hi, 2*len(seqs))
	}
	var scoreSum float64
	for i, o := range outs {
		text := m.Tok.Decode(o)
		var sc float64
		if task != nil {
			sc = task.Score(test[i].Prompt, text)
			scoreSum += sc
		}
		if i < 8 {
			f.Samples = append(f.Samples, Sample{Prompt: test[i].Prompt, Output: text, Real: test[i].Response, Score: sc})
		}
	}
	if task != nil {
		f.Values[MetricTaskScore] = scoreSum / float64(len(outs))
	}
	f.Values[MetricDistinct2] = distinct2(outs)
	if d, ok := task.(tasks.Distribution); ok {
		if err := a.distributionMetrics(ctx, in, m, d, test, outs, f.Values); err != nil {
			return EvaluateOutput{}, err
		}
	}

	if len(in.Shards) > 0 {
		if err := a.rewards(ctx, in, m, f.Values); err != nil {
			return EvaluateOutput{}, err
		}
	}
	for k, v := range f.Values {
		// JSON (and so Temporal's payloads) cannot carry NaN or Inf; a diverged model's
		// metric is reported as absent rather than failing the round's bookkeeping.
		if math.IsNaN(v) || math.IsInf(v, 0) {
			a.log().Warn("non-finite metric dropped", "run", in.Run, "round", in.Round, "metric", k, "value", v)
			delete(f.Values, k)
		}
	}
	c, err := a.putJSON(ctx, storage.MetricsKey(in.Run, in.Round), f)
	if err != nil {
		return EvaluateOutput{}, err
	}
	a.log().Info("evaluated", "run", in.Run, "round", in.Round, "metrics", f.Values)
	return EvaluateOutput{Metrics: c, Values: f.Values}, nil
}

// rewards measures how the round moved the model relative to its opponent on the round's
// own training data: mean r on real and synthetic responses, their margin, the NCE
// classifier's accuracy (real: r > ln mu, synthetic: r < ln mu, i.e. h on the right side
// of 1/2) and the mean synthetic length.
func (a *Activities) rewards(ctx context.Context, in EvaluateInput, m *model.GPT, v map[string]float64) error {
	pairs, err := a.loadPairs(ctx, in.Train)
	if err != nil {
		return err
	}
	items, err := a.loadShards(ctx, in.Shards, len(pairs), in.Mu)
	if err != nil {
		return err
	}
	seqs, err := encodeAll(m, pairs)
	if err != nil {
		return err
	}
	all := append([]model.Sequence(nil), seqs...)
	var synthLen int
	var gens [][]int
	for i, it := range items {
		for _, g := range it.Gen {
			all = append(all, model.Sequence{Prompt: seqs[i].Prompt, Response: g})
			synthLen += len(g)
			gens = append(gens, g)
		}
	}
	v[MetricSynthDist2] = distinct2(gens)
	lp, err := a.logProbs(ctx, m, all, nil)
	if err != nil {
		return err
	}
	lnMu := math.Log(float64(in.Mu))
	var rReal, rSynth float64
	var right, nSynth int
	for i, it := range items {
		r := lp[i] - it.RefReal
		rReal += r
		if r > lnMu {
			right++
		}
	}
	k := len(items)
	for _, it := range items {
		for j := range it.Gen {
			r := lp[k] - it.RefGen[j]
			k++
			rSynth += r
			nSynth++
			if r < lnMu {
				right++
			}
		}
	}
	v[MetricRewardReal] = rReal / float64(len(items))
	v[MetricRewardSynth] = rSynth / float64(nSynth)
	v[MetricMargin] = v[MetricRewardReal] - v[MetricRewardSynth]
	v[MetricDiscAccuracy] = float64(right) / float64(len(items)+nSynth)
	v[MetricSynthLength] = float64(synthLen) / float64(nSynth)
	return nil
}

// distinct2 is the number of distinct token bigrams over all bigrams of the outputs: a
// cheap measure of whether the model collapsed to repeating itself.
func distinct2(outs [][]int) float64 {
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

func maxLen(xs [][]int) int {
	n := 0
	for _, x := range xs {
		n = max(n, len(x))
	}
	return n
}
