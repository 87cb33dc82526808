package activities

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

// Metrics of a task whose true conditional p_data(y|x) is known (tasks.Distribution).
const (
	MetricKL          = "kl"           // KL(p_data || p_theta) per response on held-out prompts (nats)
	MetricGreedyValid = "greedy_valid" // fraction of greedy outputs p_data allows
	MetricSampleValid = "sample_valid" // fraction of temperature-1 samples p_data allows
)

// KLSamples is the number of fresh p_data samples per held-out prompt behind MetricKL.
const KLSamples = 8

// distributionMetrics measures how far the model is from p_data on the held-out prompts:
//
//	KL(p_data || p_theta) = E_x E_{y ~ p_data(.|x)} [ log p_data(y|x) - log p_theta(y|x) ]
//
// estimated without bias from KLSamples fresh samples of p_data per prompt (log p_theta from
// model.LogProbs: the response tokens and EOS, which is p_data's stop). The samples depend
// only on the run seed, so every round and every method of the same seed is measured on the
// same ones (paired). Also the validity rate of the greedy outputs and of one unmodified
// (temperature 1) sample per prompt.
func (a *Activities) distributionMetrics(ctx context.Context, in EvaluateInput, m *model.GPT, d tasks.Distribution,
	test []dataset.Pair, greedy [][]int, v map[string]float64) error {
	rng := rand.New(rand.NewPCG(mix(in.Seed^0xd157), 0x6b6c))
	var seqs []model.Sequence
	var lpData []float64
	for _, p := range test {
		for range KLSamples {
			y := d.Sample(p.Prompt, rng)
			s, err := m.Encode(p.Prompt, y)
			if err != nil {
				return invalid(fmt.Sprintf("p_data sample %q for prompt %q does not fit the model: %v", y, p.Prompt, err))
			}
			seqs = append(seqs, s)
			lpData = append(lpData, d.LogProb(p.Prompt, y))
		}
	}
	lp, err := a.logProbs(ctx, m, seqs, nil)
	if err != nil {
		return err
	}
	var kl float64
	for i := range lp {
		kl += lpData[i] - lp[i]
	}
	v[MetricKL] = kl / float64(len(lp))

	valid := 0
	for i, o := range greedy {
		if d.Valid(test[i].Prompt, m.Tok.Decode(o)) {
			valid++
		}
	}
	v[MetricGreedyValid] = float64(valid) / float64(len(greedy))

	prompts := make([][]int, len(test))
	seeds := make([]uint64, len(test))
	for i := range test {
		prompts[i] = seqs[i*KLSamples].Prompt
		seeds[i] = sampleSeed(in.Seed^0x5a4d, in.Round, i, 0)
	}
	maxNew := min(in.Sampling.MaxNewTokens, m.Config.Context-maxLen(prompts))
	valid = 0
	for lo := 0; lo < len(prompts); lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+chunk, len(prompts))
		g, err := m.Generate(prompts[lo:hi], seeds[lo:hi], model.SampleConfig{Temperature: 1, MaxNewTokens: maxNew})
		if err != nil {
			return fmt.Errorf("sample held-out prompts: %w", err)
		}
		for k, o := range g {
			if d.Valid(test[lo+k].Prompt, m.Tok.Decode(o)) {
				valid++
			}
		}
	}
	v[MetricSampleValid] = float64(valid) / float64(len(prompts))
	return nil
}
