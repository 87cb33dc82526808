package compare

import (
	"bytes"
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/tasks"
)

// Activities are the comparison's own steps (the base's pre-training and the report); the
// arms run as SelfPlay children on the run's activities. Registered beside those.
type Activities struct {
	Run *activities.Activities // the run's activities: storage, metrics, training
}

// PretrainInput trains the base model of a comparison on a task's pretrain corpus.
type PretrainInput struct {
	Run        string                `json:"run"` // the comparison's name: runs/{run}/base/model.safetensors
	Task       string                `json:"task"`
	N          int                   `json:"n"`
	Seed       uint64                `json:"seed"`
	Shape      model.Shape           `json:"shape"`
	Optim      model.OptimConfig     `json:"optim"`
	Durability activities.Durability `json:"durability"`
}

// PretrainBase trains a fresh model with SFT on the task's Pretrain corpus (a broad related
// distribution, shifted from the target): the base every arm of a comparison starts from,
// which has never seen the target's real pairs. The corpus is kept as inputs/pretrain.jsonl.
func (a *Activities) PretrainBase(ctx context.Context, in PretrainInput) (out activities.TrainOutput, err error) {
	defer activities.Track(ctx, a.Run, "pretrain", in.Run, 0)(&err)
	out, err = a.pretrainBase(ctx, in)
	return out, activities.Classify(err)
}

func (a *Activities) pretrainBase(ctx context.Context, in PretrainInput) (activities.TrainOutput, error) {
	t, err := tasks.Get(in.Task)
	if err != nil {
		return activities.TrainOutput{}, activities.Invalid("task: " + err.Error())
	}
	pt, ok := t.(tasks.Pretrainer)
	if !ok {
		return activities.TrainOutput{}, activities.Invalid(fmt.Sprintf("task %q has no pretrain corpus; compare needs one of the tasks with it (arith, markov, wordnet)", in.Task))
	}
	if in.N <= 0 {
		return activities.TrainOutput{}, activities.Invalid("pretrain n must be positive")
	}
	if c, ok := t.(tasks.Corpus); ok { // data files: fail here, not in Pretrain, when they cannot be read
		info, err := c.Load()
		if err != nil {
			return activities.TrainOutput{}, activities.Invalid(err.Error())
		}
		activity.GetLogger(ctx).Info("task data", "task", in.Task, "source", info.Source)
	}
	pairs := pt.Pretrain(in.Seed, in.N)
	if err := activities.CheckContext(model.NewByteTokenizer(), pairs, in.Shape.Context, "pretrain corpus of "+in.Task); err != nil {
		return activities.TrainOutput{}, err
	}
	var buf bytes.Buffer
	if err := dataset.WriteJSONL(&buf, pairs); err != nil {
		return activities.TrainOutput{}, err
	}
	if _, err := activities.Put(ctx, a.Run, storage.InputKey(in.Run, "pretrain.jsonl"), buf.Bytes()); err != nil {
		return activities.TrainOutput{}, err
	}
	return activities.TrainFresh(ctx, a.Run, in.Run, "pretrain", in.Shape, model.NewByteTokenizer(), in.Seed, in.Optim, in.Durability, pairs)
}

// SourceNLL is the forgetting metric's name: held-out NLL per token of the pre-training
// corpus's family (the source), lower is better; its rise over the rounds is how much a
// method forgets of what the base knew.
const SourceNLL = "source_nll"

// SourceNLLInput names one final run's models (one per round) and the held-out source
// pairs: N pairs of the task's Pretrain corpus drawn with Seed (not the base's seed).
type SourceNLLInput struct {
	Run    string        `json:"run"`
	Task   string        `json:"task"`
	Seed   uint64        `json:"seed"`
	N      int           `json:"n"`
	Models []storage.Ref `json:"models"`
}

// SourceNLL measures the forgetting metric of every model of a run: the NLL per token of
// the real responses of N held-out pairs of the task's pre-training corpus, one value per
// model, in order. A model that is the one before (round 0 of every arm is the same base)
// is not measured twice.
func (a *Activities) SourceNLL(ctx context.Context, in SourceNLLInput) (out []float64, err error) {
	defer activities.Track(ctx, a.Run, "source_nll", in.Run, 0)(&err)
	out, err = a.sourceNLL(ctx, in)
	return out, activities.Classify(err)
}

func (a *Activities) sourceNLL(ctx context.Context, in SourceNLLInput) ([]float64, error) {
	t, err := tasks.Get(in.Task)
	if err != nil {
		return nil, activities.Invalid("task: " + err.Error())
	}
	pt, ok := t.(tasks.Pretrainer)
	if !ok || in.N <= 0 {
		return nil, activities.Invalid(fmt.Sprintf("source_nll needs a task with a pretrain corpus (arith, markov) and n > 0; got task %q, n %d", in.Task, in.N))
	}
	pairs := pt.Pretrain(in.Seed, in.N)
	done := map[string]float64{}
	out := make([]float64, len(in.Models))
	for i, ref := range in.Models {
		if v, ok := done[ref.SHA256]; ok && ref.SHA256 != "" {
			out[i] = v
			continue
		}
		m, err := activities.LoadModel(ctx, a.Run, ref)
		if err != nil {
			return nil, err
		}
		seqs, err := activities.EncodePairs(m, pairs)
		if err != nil {
			return nil, activities.Invalid("source pairs: " + err.Error())
		}
		lp, err := m.LogProbs(seqs, 32)
		if err != nil {
			return nil, err
		}
		out[i] = eval.NLLPerToken(seqs, lp)
		done[ref.SHA256] = out[i]
		activity.RecordHeartbeat(ctx, i+1)
	}
	return out, nil
}

// CompareReport writes runs/{name}/report/compare.md (tables of mean ± std over seeds per
// round and method, the search, paired differences with standard errors), results.json
// (the raw numbers) and compare_{metric}.png (each metric against the round, one line per
// method, error bars ± std over seeds).
func (a *Activities) CompareReport(ctx context.Context, in ReportInput) (out ReportOutput, err error) {
	defer activities.Track(ctx, a.Run, "report", in.Name, 0)(&err)
	out, err = a.compareReport(ctx, in)
	return out, activities.Classify(err)
}

func (a *Activities) compareReport(ctx context.Context, in ReportInput) (ReportOutput, error) {
	var out ReportOutput
	var err error
	if t, _ := tasks.Get(in.Task); t != nil {
		if c, ok := t.(tasks.Corpus); ok { // say which data files the task read: the sample or the full data
			info, err := c.Load()
			if err != nil {
				return out, activities.Invalid(err.Error())
			}
			in.Pretrain += "; task data: " + info.Source
		}
	}
	in.Backend = model.BackendDetail() // the bits depend on it: the report says which
	if out.Results, err = activities.PutJSON(ctx, a.Run, storage.ReportKey(in.Name, "results.json"), in); err != nil {
		return out, err
	}
	md, figs := RenderMarkdown(in)
	for _, f := range figs {
		png, err := DrawMetric(in, f)
		if err != nil {
			return out, fmt.Errorf("plot %s: %w", f, err)
		}
		c, err := activities.Put(ctx, a.Run, storage.ReportKey(in.Name, "compare_"+f+".png"), png)
		if err != nil {
			return out, err
		}
		out.Plots = append(out.Plots, c)
	}
	out.Report, err = activities.Put(ctx, a.Run, storage.ReportKey(in.Name, "compare.md"), []byte(md))
	return out, err
}
