package activities

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

// distributionPart is the model's side of the distance to p_data (eval.KL,
// eval.SampleValid) for the held-out prompts [part.Lo, part.Hi): the model's log-probs of
// eval.KLSamples fresh p_data samples per prompt, and one unmodified (temperature 1) sample
// per prompt. The p_data samples depend only on the run seed, so every round and every
// method of the same seed is measured on the same ones (paired). They are drawn for every
// held-out prompt in order and the part's are kept, so a shard scores exactly the samples
// an unsplit evaluation scores, in the same batches.
func (a *Activities) distributionPart(ctx context.Context, in EvaluateInput, m *model.GPT, d tasks.Distribution,
	test []dataset.Pair, seqs []model.Sequence, part *EvalPart) error {
	lo, hi := part.Lo, part.Hi
	texts, ys, _ := klDraws(in, d, test)
	ys = ys[lo*eval.KLSamples : hi*eval.KLSamples]
	ks := make([]model.Sequence, len(ys))
	for k, y := range ys {
		p := texts[lo+k/eval.KLSamples]
		s, err := m.Encode(p, y)
		if err != nil {
			return Invalid(fmt.Sprintf("p_data sample %q for prompt %q does not fit the model: %v", y, p, err))
		}
		ks[k] = s
	}
	lp, err := a.logProbs(ctx, m, ks, nil)
	if err != nil {
		return err
	}
	part.KLModel = lp

	// Sampled validity: the longest held-out prompt bounds every sample's length, so a
	// shard decodes as many tokens as an unsplit evaluation.
	all := make([][]int, len(seqs))
	for i, s := range seqs {
		all[i] = s.Prompt
	}
	maxNew := min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(all))
	for c := lo; c < hi; c += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(c+chunk, hi)
		seeds := make([]uint64, 0, end-c)
		for i := c; i < end; i++ {
			seeds = append(seeds, sampleSeed(in.Seed^0x5a4d, in.Round, i, 0))
		}
		g, err := m.Generate(all[c:end], seeds, model.SampleConfig{Temperature: 1, MaxNewTokens: maxNew})
		if err != nil {
			return fmt.Errorf("sample held-out prompts: %w", err)
		}
		part.Sampled = append(part.Sampled, g...)
	}
	return nil
}

// klDraws draws eval.KLSamples responses from p_data for every held-out prompt, in order,
// from a generator seeded by the run seed alone: the prompts' texts, the responses and
// their log p_data.
func klDraws(in EvaluateInput, d tasks.Distribution, test []dataset.Pair) (texts, ys []string, lpData []float64) {
	texts = make([]string, len(test))
	for i, p := range test {
		texts[i] = p.Prompt
	}
	rng := rand.New(rand.NewPCG(mix(in.Seed^0xd157), 0x6b6c))
	ys, lpData = eval.KLDraws(d, texts, rng)
	return texts, ys, lpData
}

// distributionMetrics measures how far the model is from p_data on the held-out prompts
// (eval.KL, eval.GreedyValid, eval.SampleValid, and the mean lengths of the model's samples
// and of p_data's, eval.SampleChars and eval.DataChars), from the model's outputs on all of
// them (part) and the same p_data draws as distributionPart.
func distributionMetrics(in EvaluateInput, m *model.GPT, d tasks.Distribution, test []dataset.Pair, part EvalPart, v map[string]float64) {
	texts, ys, lpData := klDraws(in, d, test)
	sampled := decodeAll(m, part.Sampled)
	v[eval.KL] = eval.KLFrom(lpData, part.KLModel)
	v[eval.GreedyValid] = eval.ValidRate(d, texts, decodeAll(m, part.Greedy))
	v[eval.SampleValid] = eval.ValidRate(d, texts, sampled)
	v[eval.SampleChars], v[eval.DataChars] = eval.MeanChars(sampled), eval.MeanChars(ys)
}

// decodeAll decodes generated token ids to text.
func decodeAll(m *model.GPT, outs [][]int) []string {
	texts := make([]string, len(outs))
	for i, o := range outs {
		texts[i] = m.Tok.Decode(o)
	}
	return texts
}
