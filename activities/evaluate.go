package activities

import (
	"context"
	"fmt"
	"math"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// MetricsFile is runs/{run}/rounds/{r}/metrics.json.
type MetricsFile struct {
	Run        string             `json:"run"`
	Round      int                `json:"round"`
	Model      storage.Ref        `json:"model"`
	TaskMetric string             `json:"task_metric,omitempty"` // what task_score measures, e.g. "accuracy"
	Values     map[string]float64 `json:"values"`
	Samples    []Sample           `json:"samples"` // a few greedy outputs, for people
	// TrainSamples are the first train prompts of a self-play round, for people: the real
	// response, the synthetic ones the opponent wrote and this round's greedy output.
	TrainSamples []Sample `json:"train_samples,omitempty"`
}

// samples is how many greedy outputs a metrics file keeps, of held-out and of train prompts;
// a train prompt keeps at most synthShown of its mu synthetic responses.
const samples, synthShown = 8, 4

// Sample is one greedy output on a held-out (or, in TrainSamples, a train) prompt.
type Sample struct {
	Prompt    string   `json:"prompt"`
	Output    string   `json:"output"`
	Real      string   `json:"real"`
	Score     float64  `json:"score,omitempty"`
	Synthetic []string `json:"synthetic,omitempty"` // the opponent's first responses (TrainSamples)
}

// Evaluate scores a round's model: greedy decoding of held-out prompts (the task's metric,
// or on a user's data exact match and token F1 against the reference responses; the spec's
// scorer; distinct-2), held-out NLL per token, and, for self-play rounds, the rewards
// r = log p_theta - log p_opponent of the round's real and synthetic responses and the
// accuracy of the NCE classifier h = sigmoid(r - ln mu) (SPACE, method.md).
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (out EvaluateOutput, err error) {
	defer a.track(ctx, "evaluate", in.Run, in.Round)(&err)
	out, err = a.evaluate(ctx, in)
	return out, Classify(err)
}

func (a *Activities) evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	m, err := a.loadModel(ctx, in.Model)
	if err != nil {
		return EvaluateOutput{}, err
	}
	test, seqs, err := a.heldOutSet(ctx, in, m)
	if err != nil {
		return EvaluateOutput{}, err
	}
	task, err := evalTask(in.Task)
	if err != nil {
		return EvaluateOutput{}, err
	}
	hb := startHeartbeat(ctx, Heartbeat{Phase: "evaluate", Round: in.Round, Total: 2 * len(seqs)})
	defer hb.done()

	// The model's work on the held-out prompts: done here, or by EvaluateShard activities
	// whose parts are joined (the same values, bit for bit: see EvalSharding).
	var part EvalPart
	if len(in.Parts) > 0 {
		part, err = a.loadParts(ctx, in, len(seqs), task)
	} else {
		part, err = a.heldOut(ctx, in, m, task, test, seqs, 0, len(seqs), hb)
	}
	if err != nil {
		return EvaluateOutput{}, err
	}
	f := MetricsFile{Run: in.Run, Round: in.Round, Model: in.Model, Values: map[string]float64{}}
	if err := heldOutMetrics(in, m, task, test, seqs, part, &f); err != nil {
		return EvaluateOutput{}, err
	}

	if len(in.Shards) > 0 {
		if err := a.rewards(ctx, in, m, &f); err != nil {
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
	a.log().Info("evaluated", "run", in.Run, "round", in.Round, "parts", len(in.Parts), "metrics", f.Values)
	return EvaluateOutput{File: c, Values: f.Values}, nil
}

// heldOutSet loads the held-out pairs (at most MaxEval) and encodes them for m.
func (a *Activities) heldOutSet(ctx context.Context, in EvaluateInput, m *model.GPT) ([]dataset.Pair, []model.Sequence, error) {
	test, err := a.loadPairs(ctx, in.Test)
	if err != nil {
		return nil, nil, err
	}
	if in.MaxEval > 0 && len(test) > in.MaxEval {
		test = test[:in.MaxEval]
	}
	seqs, err := encodeAll(m, test)
	if err != nil {
		return nil, nil, err
	}
	return test, seqs, nil
}

// evalTask is the run's task, nil for a run on data.
func evalTask(name string) (tasks.Task, error) {
	if name == "" {
		return nil, nil
	}
	task, err := tasks.Get(name)
	if err != nil {
		return nil, Invalid("task: " + err.Error())
	}
	return task, nil
}

// heldOut runs the model on held-out prompts [lo, hi): the log-probs of the real
// responses, the greedy outputs and, for a task with a known p_data, the log-probs of its
// samples and one temperature-1 sample per prompt. Every value depends only on the prompt's
// global index and the batch of `chunk` prompts it is computed in, so shards that start at
// multiples of chunk give the values of one unsplit call.
func (a *Activities) heldOut(ctx context.Context, in EvaluateInput, m *model.GPT, task tasks.Task, test []dataset.Pair, seqs []model.Sequence, lo, hi int, hb *heartbeat) (EvalPart, error) {
	part := EvalPart{Run: in.Run, Round: in.Round, Model: in.Model, Lo: lo, Hi: hi}
	total := 2 * (hi - lo)
	beat := func(step int) { hb.set(Heartbeat{Phase: "evaluate", Round: in.Round, Step: step, Total: total}) }

	// Held-out log-probs of the real responses (NLL per token).
	lp, err := a.logProbs(ctx, m, seqs[lo:hi], beat)
	if err != nil {
		return EvalPart{}, err
	}
	part.LogProb = lp

	// Greedy outputs: task metric, answer scores and diversity.
	for c := lo; c < hi; c += chunk {
		if err := ctx.Err(); err != nil {
			return EvalPart{}, err
		}
		end := min(c+chunk, hi)
		prompts := make([][]int, 0, end-c)
		for _, s := range seqs[c:end] {
			prompts = append(prompts, s.Prompt)
		}
		g, err := m.Greedy(prompts, min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(prompts)))
		if err != nil {
			return EvalPart{}, fmt.Errorf("greedy decode: %w", err)
		}
		part.Greedy = append(part.Greedy, g...)
		beat(hi - lo + end - lo)
	}
	if d, ok := task.(tasks.Distribution); ok {
		if err := a.distributionPart(ctx, in, m, d, test, seqs, &part); err != nil {
			return EvalPart{}, err
		}
	}
	return part, nil
}

// heldOutMetrics turns the model's outputs on every held-out prompt (part, covering all of
// them) into the metrics, summing over the prompts in their order.
func heldOutMetrics(in EvaluateInput, m *model.GPT, task tasks.Task, test []dataset.Pair, seqs []model.Sequence, part EvalPart, f *MetricsFile) error {
	f.Values[eval.NLL] = eval.NLLPerToken(seqs, part.LogProb)
	if task != nil {
		f.TaskMetric = task.MetricName()
	}
	outs := part.Greedy
	var scoreSum, em, f1, pass float64
	var scorer func(output, reference string) bool
	if !in.Scorer.IsZero() {
		if err := in.Scorer.Validate(); err != nil { // the spec was validated: a run recorded by another build
			return Invalid("scorer: " + err.Error())
		}
		scorer = in.Scorer.Compile()
	}
	for i, o := range outs {
		text := m.Tok.Decode(o)
		var sc float64
		if task != nil {
			sc = task.Score(test[i].Prompt, text)
			scoreSum += sc
		} else {
			em += eval.ExactMatchScore(text, test[i].Response)
			f1 += eval.TokenF1(text, test[i].Response)
		}
		if scorer != nil && scorer(text, test[i].Response) {
			pass++
		}
		if i < samples {
			f.Samples = append(f.Samples, Sample{Prompt: test[i].Prompt, Output: text, Real: test[i].Response, Score: sc})
		}
	}
	if n := float64(len(outs)); task != nil {
		f.Values[eval.TaskScore] = scoreSum / n
	} else {
		f.Values[eval.ExactMatch], f.Values[eval.F1] = em/n, f1/n
	}
	if scorer != nil {
		f.Values[eval.ScorerPass] = pass / float64(len(outs))
	}
	f.Values[eval.Distinct2] = eval.DistinctBigrams(outs)
	if d, ok := task.(tasks.Distribution); ok {
		distributionMetrics(in, m, d, test, part, f.Values)
	}
	return nil
}

// rewards scores the round's own training data (real pairs and synthetic shards) with the
// trained model; eval.Rewards turns the log-probs into the reward metrics. It also keeps, in
// f.TrainSamples, the first train prompts with their real and synthetic responses and the
// model's greedy output.
func (a *Activities) rewards(ctx context.Context, in EvaluateInput, m *model.GPT, f *MetricsFile) error {
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
	for i, it := range items {
		for _, g := range it.Gen {
			all = append(all, model.Sequence{Prompt: seqs[i].Prompt, Response: g})
		}
	}
	lp, err := a.logProbs(ctx, m, all, nil)
	if err != nil {
		return err
	}
	ex := make([]eval.SelfPlayExample, len(items))
	k := len(items)
	for i, it := range items {
		ex[i] = eval.SelfPlayExample{LogpReal: lp[i], RefReal: it.RefReal, Gen: it.Gen, RefGen: it.RefGen, LogpGen: lp[k : k+len(it.Gen)]}
		k += len(it.Gen)
	}
	eval.Rewards(ex, in.Mu, f.Values)

	n := min(samples, len(pairs))
	prompts := make([][]int, n)
	for i := range prompts {
		prompts[i] = seqs[i].Prompt
	}
	outs, err := m.Greedy(prompts, min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(prompts)))
	if err != nil {
		return fmt.Errorf("greedy decode of train prompts: %w", err)
	}
	for i, o := range outs {
		f.TrainSamples = append(f.TrainSamples, Sample{Prompt: pairs[i].Prompt, Real: pairs[i].Response, Output: m.Tok.Decode(o), Synthetic: items[i].Text[:min(synthShown, len(items[i].Text))]})
	}
	return nil
}

func maxLen(xs [][]int) int {
	n := 0
	for _, x := range xs {
		n = max(n, len(x))
	}
	return n
}
