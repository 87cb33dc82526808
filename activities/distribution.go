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

// distributionMetrics measures how far the model is from p_data on the held-out prompts
// (eval.KL, eval.GreedyValid, eval.SampleValid, and the mean lengths of the model's
// samples and of p_data's, eval.SampleChars and eval.DataChars). The p_data samples depend only on the run
// seed, so every round and every method of the same seed is measured on the same ones
// (paired). The sampled validity uses one unmodified (temperature 1) sample per prompt.
func (a *Activities) distributionMetrics(ctx context.Context, in EvaluateInput, m *model.GPT, d tasks.Distribution,
	test []dataset.Pair, greedy [][]int, v map[string]float64) error {
	rng := rand.New(rand.NewPCG(mix(in.Seed^0xd157), 0x6b6c))
	texts := make([]string, len(test))
	for i, p := range test {
		texts[i] = p.Prompt
	}
	ys, lpData := eval.KLDraws(d, texts, rng)
	seqs := make([]model.Sequence, len(ys))
	for i, y := range ys {
		p := texts[i/eval.KLSamples]
		s, err := m.Encode(p, y)
		if err != nil {
			return Invalid(fmt.Sprintf("p_data sample %q for prompt %q does not fit the model: %v", y, p, err))
		}
		seqs[i] = s
	}
	lp, err := a.logProbs(ctx, m, seqs, nil)
	if err != nil {
		return err
	}
	v[eval.KL] = eval.KLFrom(lpData, lp)
	v[eval.GreedyValid] = eval.ValidRate(d, texts, decodeAll(m, greedy))

	prompts := make([][]int, len(test))
	seeds := make([]uint64, len(test))
	for i := range test {
		prompts[i] = seqs[i*eval.KLSamples].Prompt
		seeds[i] = sampleSeed(in.Seed^0x5a4d, in.Round, i, 0)
	}
	maxNew := min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(prompts))
	var sampled []string
	for lo := 0; lo < len(prompts); lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+chunk, len(prompts))
		g, err := m.Generate(prompts[lo:hi], seeds[lo:hi], model.SampleConfig{Temperature: 1, MaxNewTokens: maxNew})
		if err != nil {
			return fmt.Errorf("sample held-out prompts: %w", err)
		}
		sampled = append(sampled, decodeAll(m, g)...)
	}
	v[eval.SampleValid] = eval.ValidRate(d, texts, sampled)
	v[eval.SampleChars], v[eval.DataChars] = eval.MeanChars(sampled), eval.MeanChars(ys)
	return nil
}

// decodeAll decodes generated token ids to text.
func decodeAll(m *model.GPT, outs [][]int) []string {
	texts := make([]string, len(outs))
	for i, o := range outs {
		texts[i] = m.Tok.Decode(o)
	}
	return texts
}
