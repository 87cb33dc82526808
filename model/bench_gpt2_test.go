package model

// BenchmarkGPT2Small: the GPT-2 small shape (d_model 768, 12 layers, 12 heads, 1024
// positions, GPT-2's vocabulary of 50257 ids, tied embeddings: 124.4M parameters) with
// random weights. It is slow (seconds to a minute per step): run it alone, e.g.
//
//	make bench-openblas BENCH='Sgemm|GPT2Small' BENCHTIME=2x
//
// Each sub-benchmark builds its own model (nothing else is held), and peak RSS is its own:
// the Go heap is returned to the system and Linux's peak resident set (VmHWM) reset before
// it starts (resetPeakRSS), then read after its steps.
//
//   - T256/TrainStep/{sft,space}: one optimizer step at batch 4, every sequence 256 tokens
//     (8 prompt + 248 response; SPACE with mu 1 adds 4 synthetic sequences), one
//     forward/backward per step. tok/s, GFLOP/s (the estimate at the top of bench_test.go,
//     with T = 256), peak-RSS-MB and B/param (peak RSS over the parameter count).
//   - T1024/TrainStep/{sft,space}: the same at 1024 tokens a sequence (8 + 1016), in
//     micro-batches of one example (same gradient; the activations of one example at a time,
//     so that the batch fits a machine's memory).
//   - Generate: 16 prompts of 8 tokens, 64 new tokens each with the KV cache, temperature 1.
//   - T256/LogProbs, T1024/LogProbs: the forward-only log-prob graph on 4 sequences of 256
//     (1024) tokens.

import (
	"fmt"
	"testing"
)

const (
	gpt2Batch   = 4
	gpt2GenRows = 16
	gpt2GenNew  = 64
)

func gpt2SmallModel(b *testing.B) *GPT {
	b.Helper()
	tok := gpt2Tokenizer(b)
	m, err := New(Config{VocabSize: tok.VocabSize(), Shape: Shape{DModel: 768, Layers: 12, Heads: 12, Context: 1024}, TiedEmbeddings: true, Seed: 1}, tok)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// gpt2Ids returns n deterministic token ids spread over GPT-2's ordinary tokens.
func gpt2Ids(n, salt int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*7919 + salt*104729) % 50000
	}
	return ids
}

func BenchmarkGPT2Small(b *testing.B) {
	eos := gpt2Tokenizer(b).SpecialIDs().EOS
	prompt := func(salt int) []int { return append([]int{eos}, gpt2Ids(7, salt)...) }
	response := func(n, salt int) []int { return append(gpt2Ids(n-9, salt+1), eos) }
	for _, T := range []int{256, 1024} {
		micro := 0 // one forward/backward a step
		if T > 256 {
			micro = 1
		}
		for _, method := range []Method{MethodSFT, MethodSPACE} {
			b.Run(fmt.Sprintf("T%d/TrainStep/%s", T, method), func(b *testing.B) {
				resetPeakRSS()
				m := gpt2SmallModel(b)
				data := make([]Example, gpt2Batch)
				for i := range data {
					data[i] = Example{Prompt: prompt(i), Real: response(T, i)}
					if method != MethodSFT {
						data[i].Gen = [][]int{response(T, i+100)}
						data[i].RefReal, data[i].RefGen = -float64(T)*10, []float64{-float64(T) * 10}
					}
				}
				tokens, sec := benchTrainStepsMicro(b, m, data, method, gpt2Batch, micro)
				flops := 6*float64(m.NumParams()) + 12*float64(m.Config.Layers*T*m.Config.DModel)
				b.ReportMetric(float64(tokens)*flops/sec/1e9, "GFLOP/s")
				rss := peakRSSBytes()
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
				b.ReportMetric(float64(rss)/float64(m.NumParams()), "B/param")
			})
		}
	}
	b.Run("Generate", func(b *testing.B) {
		m := gpt2SmallModel(b)
		prompts := make([][]int, gpt2GenRows)
		seeds := make([]uint64, gpt2GenRows)
		for i := range prompts {
			prompts[i], seeds[i] = prompt(i), uint64(i)
		}
		sc := SampleConfig{Temperature: 1, MaxNewTokens: gpt2GenNew, Batch: gpt2GenRows}
		tokens := 0
		b.ResetTimer()
		for range b.N {
			out, err := m.Generate(prompts, seeds, sc)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range out {
				tokens += len(r)
			}
		}
		b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
	})
	for _, T := range []int{256, 1024} {
		b.Run(fmt.Sprintf("T%d/LogProbs", T), func(b *testing.B) {
			m := gpt2SmallModel(b)
			seqs := make([]Sequence, gpt2Batch)
			for i := range seqs {
				seqs[i] = Sequence{Prompt: prompt(i), Response: response(T, i)}
			}
			if _, err := m.LogProbs(seqs, gpt2Batch); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.LogProbs(seqs, gpt2Batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*gpt2Batch*T)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
