package activities

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// chunk is how many sequences one sampling or log-prob call handles between heartbeats.
const chunk = 32

// Generate samples Mu synthetic responses from the opponent for the train prompts of one
// shard (prompt i belongs to shard i % Shards), scores the real and synthetic responses
// under the opponent, and writes the shard file. Sample j of prompt i uses the seed
// sampleSeed(seed, round, i, j), so results do not depend on the shard layout.
func (a *Activities) Generate(ctx context.Context, in GenerateInput) (out GenerateOutput, err error) {
	defer a.track(ctx, "generate", in.Run, in.Round)(&err)
	out, err = a.generate(ctx, in)
	return out, Classify(err)
}

func (a *Activities) generate(ctx context.Context, in GenerateInput) (GenerateOutput, error) {
	if in.Shards <= 0 || in.Shard < 0 || in.Shard >= in.Shards || in.Mu <= 0 {
		return GenerateOutput{}, Invalid(fmt.Sprintf("shard %d of %d with mu %d", in.Shard, in.Shards, in.Mu))
	}
	opp, err := a.loadModel(ctx, in.Opponent)
	if err != nil {
		return GenerateOutput{}, err
	}
	pairs, err := a.loadPairs(ctx, in.Train)
	if err != nil {
		return GenerateOutput{}, err
	}
	seqs, err := encodeAll(opp, pairs)
	if err != nil {
		return GenerateOutput{}, err
	}
	var idx []int
	for i := in.Shard; i < len(pairs); i += in.Shards {
		idx = append(idx, i)
	}
	// Flatten (prompt, j) so one batched call serves all Mu samples of many prompts.
	var prompts [][]int
	var seeds []uint64
	for _, i := range idx {
		for j := 0; j < in.Mu; j++ {
			prompts = append(prompts, seqs[i].Prompt)
			seeds = append(seeds, sampleSeed(in.Seed, in.Round, i, j))
		}
	}
	sc := model.SampleConfig{Temperature: in.Sampling.Temperature, TopK: in.Sampling.TopK, TopP: in.Sampling.TopP, MaxNewTokens: in.Sampling.MaxNewTokens}
	total := 2 * len(prompts) // sampling, then scoring
	hb := startHeartbeat(ctx, Heartbeat{Phase: "generate", Round: in.Round, Total: total})
	defer hb.done()
	gens := make([][]int, 0, len(prompts))
	tokens := 0
	phase(ctx, "generate", in.Run, in.Round, "sample")
	sampleStart := time.Now()
	for lo := 0; lo < len(prompts); lo += chunk {
		if err := ctx.Err(); err != nil {
			return GenerateOutput{}, err
		}
		hi := min(lo+chunk, len(prompts))
		t0 := time.Now()
		g, err := opp.Generate(prompts[lo:hi], seeds[lo:hi], sc)
		if err != nil {
			return GenerateOutput{}, fmt.Errorf("sample round %d shard %d: %w", in.Round, in.Shard, err)
		}
		n := 0
		for k, r := range g {
			// The length policy holds for synthetic responses too: never longer than the
			// context leaves after the prompt.
			if room := opp.Config.Context - len(prompts[lo+k]); len(r) > room {
				r = r[:room]
			}
			gens = append(gens, r)
			n += len(r)
		}
		tokens += n
		tokS := float64(n) / max(time.Since(t0).Seconds(), 1e-9)
		hb.set(Heartbeat{Phase: "generate", Round: in.Round, Step: hi, Total: total, TokS: tokS})
		a.Telemetry.step("generate", in.Run, 0, tokS)
	}

	// Opponent log-probs: the real response once per prompt, then every synthetic one.
	sampleSec := time.Since(sampleStart).Seconds()
	phase(ctx, "generate", in.Run, in.Round, "score")
	scoreStart := time.Now()
	score := make([]model.Sequence, 0, len(idx)+len(gens))
	for _, i := range idx {
		score = append(score, seqs[i])
	}
	for k, g := range gens {
		score = append(score, model.Sequence{Prompt: prompts[k], Response: g})
	}
	lps, err := a.logProbs(ctx, opp, score, func(done int) {
		hb.set(Heartbeat{Phase: "generate", Round: in.Round, Step: len(prompts) + done*len(prompts)/len(score), Total: total})
	})
	if err != nil {
		return GenerateOutput{}, err
	}

	scoreSec := time.Since(scoreStart).Seconds()
	f := ShardFile{Run: in.Run, Round: in.Round, Shard: in.Shard, Shards: in.Shards, Mu: in.Mu}
	for n, i := range idx {
		it := ShardItem{Index: i, RefReal: lps[n]}
		for j := 0; j < in.Mu; j++ {
			k := n*in.Mu + j
			it.Gen = append(it.Gen, gens[k])
			it.Text = append(it.Text, opp.Tok.Decode(gens[k]))
			it.RefGen = append(it.RefGen, lps[len(idx)+k])
		}
		f.Items = append(f.Items, it)
	}
	c, err := a.putJSON(ctx, storage.ShardKey(in.Run, in.Round, in.Shard), f)
	if err != nil {
		return GenerateOutput{}, err
	}
	a.log().Info("generated shard", "run", in.Run, "round", in.Round, "shard", in.Shard, "prompts", len(idx), "tokens", tokens,
		"sample_s", round3(sampleSec), "sample_tok_s", round3(float64(tokens)/max(sampleSec, 1e-9)), "score_s", round3(scoreSec))
	return GenerateOutput{Shard: c, Prompts: len(idx), Tokens: tokens}, nil
}

// logProbs scores sequences in chunks, calling progress between chunks (for heartbeats).
func (a *Activities) logProbs(ctx context.Context, m *model.GPT, seqs []model.Sequence, progress func(done int)) ([]float64, error) {
	out := make([]float64, 0, len(seqs))
	for lo := 0; lo < len(seqs); lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+chunk, len(seqs))
		lp, err := m.LogProbs(seqs[lo:hi], chunk)
		if err != nil {
			return nil, fmt.Errorf("log-probs: %w", err)
		}
		out = append(out, lp...)
		if progress != nil {
			progress(hi)
		}
	}
	return out, nil
}

// round3 keeps 3 decimals, for log fields.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
