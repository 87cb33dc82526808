package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// EvalSharding says when a round's evaluation is split over parallel activities: a
// held-out set of more than EvalShardSize prompts is cut into shards of EvalShardSize
// consecutive prompts, each run by an EvaluateShard activity (on the generate task queue,
// so several workers share them), and Evaluate then joins their parts and computes the
// metrics. A run spec embeds it (its JSON field inline).
//
// The metrics are the same bits as an unsplit evaluation's: every model call (log-probs,
// greedy and sampled decoding) works on batches of `chunk` (32) consecutive prompts, and a
// shard size that is a multiple of it keeps every batch whole, so each prompt's values are
// computed in the same batch either way; the metrics then sum over the prompts in their
// order, in one place (heldOutMetrics).
type EvalSharding struct {
	EvalShardSize int `json:"eval_shard_size"` // held-out prompts per shard; 0 = never split
}

// EvalBatch is the number of prompts every evaluation model call handles at once; an
// evaluation shard size must be a multiple of it.
const EvalBatch = chunk

// DefaultEvalSharding splits held-out sets of more than 512 prompts (16 batches a shard).
func DefaultEvalSharding() EvalSharding { return EvalSharding{EvalShardSize: 512} }

// Validate reports a shard size that is negative or not a multiple of EvalBatch as a
// *model.InputError.
func (e EvalSharding) Validate() error {
	if e.EvalShardSize < 0 || e.EvalShardSize%EvalBatch != 0 {
		return &model.InputError{Field: "eval_shard_size", Problem: fmt.Sprintf("is %d", e.EvalShardSize),
			Fix: fmt.Sprintf("use 0 (never split the evaluation) or a multiple of %d (the batch of the evaluation's model calls, so that split and unsplit evaluations give the same metrics), e.g. %d",
				EvalBatch, DefaultEvalSharding().EvalShardSize)}
	}
	return nil
}

// Shards is the number of EvaluateShard activities for n held-out prompts; 1 means
// Evaluate does all the work itself.
func (e EvalSharding) Shards(n int) int {
	if e.EvalShardSize <= 0 || n <= e.EvalShardSize {
		return 1
	}
	return (n + e.EvalShardSize - 1) / e.EvalShardSize
}

// EvaluateShardInput asks for the model's outputs on held-out prompts
// [Shard*ShardSize, (Shard+1)*ShardSize) of the evaluation In describes.
type EvaluateShardInput struct {
	EvaluateInput
	Shard     int `json:"shard"`
	ShardSize int `json:"shard_size"`
}

// EvaluateShardOutput is the part file written by EvaluateShard.
type EvaluateShardOutput struct {
	Part    storage.Ref `json:"part"`
	Prompts int         `json:"prompts"`
}

// EvalPart is the model's outputs on held-out prompts [Lo, Hi), what the metrics are
// computed from: runs/{run}/rounds/{r}/eval/part-k.json for a shard. Log-probs keep every
// bit through JSON (exactFloats), NaN and Inf included.
type EvalPart struct {
	Run     string      `json:"run"`
	Round   int         `json:"round"`
	Model   storage.Ref `json:"model"`
	Lo      int         `json:"lo"`
	Hi      int         `json:"hi"`
	LogProb exactFloats `json:"logprob"` // log p(real response | prompt), per prompt
	Greedy  [][]int     `json:"greedy"`  // greedy output tokens, per prompt
	// A task with a known p_data: the model's log-probs of eval.KLSamples p_data draws per
	// prompt, and one temperature-1 sample per prompt.
	KLModel exactFloats `json:"kl_model,omitempty"`
	Sampled [][]int     `json:"sampled,omitempty"`
}

// EvaluateShard runs the model on one shard of the held-out prompts (EvalSharding) and
// writes its part; Evaluate with EvaluateInput.Parts computes the metrics from the parts.
func (a *Activities) EvaluateShard(ctx context.Context, in EvaluateShardInput) (out EvaluateShardOutput, err error) {
	defer a.track(ctx, "evaluate_shard", in.Run, in.Round)(&err)
	out, err = a.evaluateShard(ctx, in)
	return out, Classify(err)
}

func (a *Activities) evaluateShard(ctx context.Context, in EvaluateShardInput) (EvaluateShardOutput, error) {
	if in.ShardSize <= 0 || in.Shard < 0 {
		return EvaluateShardOutput{}, Invalid(fmt.Sprintf("evaluation shard %d of size %d", in.Shard, in.ShardSize))
	}
	m, err := a.loadModel(ctx, in.Model)
	if err != nil {
		return EvaluateShardOutput{}, err
	}
	test, seqs, err := a.heldOutSet(ctx, in.EvaluateInput, m)
	if err != nil {
		return EvaluateShardOutput{}, err
	}
	lo := in.Shard * in.ShardSize
	if lo >= len(seqs) {
		return EvaluateShardOutput{}, Invalid(fmt.Sprintf("evaluation shard %d of size %d starts past the %d held-out prompts", in.Shard, in.ShardSize, len(seqs)))
	}
	hi := min(lo+in.ShardSize, len(seqs))
	task, err := evalTask(in.Task)
	if err != nil {
		return EvaluateShardOutput{}, err
	}
	hb := startHeartbeat(ctx, Heartbeat{Phase: "evaluate", Round: in.Round, Total: 2 * (hi - lo)})
	defer hb.done()
	part, err := a.heldOut(ctx, in.EvaluateInput, m, task, test, seqs, lo, hi, hb)
	if err != nil {
		return EvaluateShardOutput{}, err
	}
	c, err := a.putJSON(ctx, storage.EvalPartKey(in.Run, in.Round, in.Shard), part)
	if err != nil {
		return EvaluateShardOutput{}, err
	}
	a.log().Info("evaluated shard", "run", in.Run, "round", in.Round, "shard", in.Shard, "prompts", hi-lo)
	return EvaluateShardOutput{Part: c, Prompts: hi - lo}, nil
}

// loadParts reads the parts of an evaluation (in.Parts, in order) and joins them into one
// covering all n held-out prompts, checking that they are the model's and leave no gap.
func (a *Activities) loadParts(ctx context.Context, in EvaluateInput, n int, task tasks.Task) (EvalPart, error) {
	_, dist := task.(tasks.Distribution)
	all := EvalPart{Run: in.Run, Round: in.Round, Model: in.Model}
	for _, c := range in.Parts {
		var p EvalPart
		data, err := a.read(ctx, c)
		if err == nil {
			err = json.Unmarshal(data, &p)
		}
		if err != nil {
			return EvalPart{}, fmt.Errorf("load evaluation part %s: %w", c.Key, err)
		}
		k := p.Hi - p.Lo
		ok := p.Run == in.Run && p.Round == in.Round && p.Model == in.Model && p.Lo == all.Hi && k > 0 && p.Hi <= n &&
			len(p.LogProb) == k && len(p.Greedy) == k
		if dist {
			ok = ok && len(p.KLModel) == k*eval.KLSamples && len(p.Sampled) == k
		}
		if !ok {
			return EvalPart{}, Invalid(fmt.Sprintf("evaluation part %s holds prompts [%d, %d) of run %q round %d, model %s (%d log-probs, %d outputs); want prompts from %d of run %q round %d, model %s: evaluate the round again",
				c.Key, p.Lo, p.Hi, p.Run, p.Round, p.Model.Key, len(p.LogProb), len(p.Greedy), all.Hi, in.Run, in.Round, in.Model.Key))
		}
		all.Hi = p.Hi
		all.LogProb = append(all.LogProb, p.LogProb...)
		all.Greedy = append(all.Greedy, p.Greedy...)
		all.KLModel = append(all.KLModel, p.KLModel...)
		all.Sampled = append(all.Sampled, p.Sampled...)
	}
	if all.Hi != n {
		return EvalPart{}, Invalid(fmt.Sprintf("the %d evaluation parts cover %d of the %d held-out prompts: evaluate the round again", len(in.Parts), all.Hi, n))
	}
	return all, nil
}

// exactFloats is a []float64 whose JSON keeps every value: finite ones as numbers (Go
// writes the shortest text that parses back to the same bits), NaN and ±Inf as the
// strings "NaN", "+Inf" and "-Inf", which JSON numbers cannot hold.
type exactFloats []float64

func (x exactFloats) MarshalJSON() ([]byte, error) {
	if x == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, v := range x {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = strconv.AppendQuote(b, strconv.FormatFloat(v, 'g', -1, 64))
		} else {
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	return append(b, ']'), nil
}

func (x *exactFloats) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*x = nil
		return nil
	}
	out := make(exactFloats, len(raw))
	for i, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("value %d: %w", i, err)
			}
			out[i] = v
			continue
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
	}
	*x = out
	return nil
}
