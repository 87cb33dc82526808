package model

// Throughput benchmarks. Run them (both backends) with `make bench`, or one backend:
//
//	go test ./model -run '^$' -bench . -benchtime 3x
//	OPENBLAS_NUM_THREADS=1 go test -tags openblas ./model -run '^$' -bench . -benchtime 3x
//
// Shapes: batch 16, byte vocabulary (260; Config requires VocabSize to match the
// tokenizer), "d64L2T32", "d128L4T64" (d_model 128, 4 layers, 4 heads, context 64, 0.86M
// parameters) and "d256L6T64" (4.8M parameters), the shapes of issue 5's llm.c comparison. Every sequence fills the context, so tokens per step are
// exact and no padding is counted.
//
// Metrics: tok/s counts every token of every sequence processed (prompt and response; for
// the training step the real and synthetic sequences, as StepInfo.Tokens does). GFLOP/s
// uses the usual estimate of training compute per token,
//
//	6 * params + 12 * layers * context * d_model
//
// (2 FLOPs per weight per token forward, twice that backward, plus the attention score and
// value products QK^T and AV: 2 * 2 * T * D per layer forward, x3 with the backward pass;
// Kaplan et al. 2020, Table 1). It counts the embedding tables as if they were multiplied
// and the full T for causal attention, so it overstates the work by a few percent; it is
// kept for comparison with the field notes and the usual MFU tables.

import (
	"fmt"
	"sync"
	"testing"
)

var backendOnce sync.Once

// sgemmReps is the number of 1024^3 products in one iteration of BenchmarkSgemm.
const sgemmReps = 10

// BenchmarkSgemm is the BLAS ceiling the training GFLOP/s are compared with: a 1024^3
// single-precision product through the same BLAS as the model (gonum, or OpenBLAS with one
// thread), once as one call ("1part") and once cut in two row halves run side by side as
// the fused ops do ("2parts", both cores).
func BenchmarkSgemm(b *testing.B) {
	const n = 1024
	a, w, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], w[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	backendOnce.Do(func() { fmt.Printf("backend: %s\n", BackendDetail()) }) // for cmd/benchtable
	for _, parts := range []int{1, 2} {
		b.Run(fmt.Sprintf("%d/%dpart", n, parts), func(b *testing.B) {
			mul := func() {
				if parts == 1 {
					gemm(false, false, n, n, n, 1, a, n, w, n, 0, c, n)
				} else {
					split2(n, func(lo, hi int) { gemm(false, false, hi-lo, n, n, 1, a[lo*n:], n, w, n, 0, c[lo*n:], n) })
				}
			}
			timeSgemm(b, 2*n*n*n, mul)
		})
	}
	// GPT-2 small's MLP up-projection at batch 4 x 256 tokens (1024 x 768 times 768 x 3072),
	// in two row halves as the fused ops run it: a product of the GPT-2 rows' own shape, to
	// set beside the 1024^3 ceiling (which GPT-2 steps can exceed on some hosts).
	b.Run("gpt2fc/2part", func(b *testing.B) {
		const m, k, nn = 1024, 768, 3072
		x, wt, y := make([]float32, m*k), make([]float32, k*nn), make([]float32, m*nn)
		for i := range x {
			x[i] = float32(i%7) * 0.1
		}
		for i := range wt {
			wt[i] = float32(i%5) * 0.1
		}
		timeSgemm(b, 2*m*k*nn, func() {
			split2(m, func(lo, hi int) { gemm(false, false, hi-lo, nn, k, 1, x[lo*k:], k, wt, nn, 0, y[lo*nn:], nn) })
		})
	})
}

// timeSgemm times mul, a product of flop floating-point operations, warm: one untimed call
// first (first touch of the output, BLAS buffers), then sgemmReps calls per iteration, so
// that even -benchtime 1x (the GPT-2 rows' setting) times about 0.1-0.3 s, not one 10 ms
// product; it reports GFLOP/s.
func timeSgemm(b *testing.B, flop float64, mul func()) {
	mul()
	b.ResetTimer()
	for range b.N {
		for range sgemmReps {
			mul()
		}
	}
	b.ReportMetric(flop*float64(b.N*sgemmReps)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

type benchShape struct {
	name                    string
	dModel, layers, context int
}

var benchShapes = []benchShape{{"d64L2T32", 64, 2, 32}, {"d128L4T64", 128, 4, 64}, {"d256L6T64", 256, 6, 64}}

const benchBatch = 16

func benchModel(b *testing.B, s benchShape) *GPT {
	b.Helper()
	m, err := New(Config{VocabSize: ByteVocab, Shape: Shape{DModel: s.dModel, Layers: s.layers, Heads: 4, Context: s.context}, Seed: 1}, NewByteTokenizer())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchText returns n deterministic printable bytes as token ids.
func benchText(n, salt int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = 'a' + (i*7+salt*13)%26
	}
	return ids
}

// benchPrompt is BOS + 6 bytes + SEP (8 tokens); benchResponse fills the rest of the
// context: n-1 bytes + EOS.
func benchPrompt(salt int) []int      { return append(append([]int{BOS}, benchText(6, salt)...), SEP) }
func benchResponse(n, salt int) []int { return append(benchText(n-1, salt+1), EOS) }

// reportCPU reports tok/cpu-s: tokens per second of the process's CPU time (all threads).
// On a machine shared with other jobs wall-clock tok/s swings with their load; CPU time
// much less (it still grows when the cores' caches and sibling threads are contended).
// Twice tok/cpu-s bounds what both cores of an idle 2-core machine would give.
func reportCPU(b *testing.B, tokens int, cpu float64) {
	if cpu > 0 {
		b.ReportMetric(float64(tokens)/cpu, "tok/cpu-s")
	}
}

// trainFLOPsPerToken is the estimate described at the top of this file.
func trainFLOPsPerToken(m *GPT) float64 {
	c := m.Config
	return 6*float64(m.NumParams()) + 12*float64(c.Layers*c.Context*c.DModel)
}

// benchTrainSteps times b.N optimizer steps of a trainer on data (batch examples a step)
// after a warm-up step, reports tok/s and tok/cpu-s, and returns the tokens and seconds.
func benchTrainSteps(b *testing.B, m *GPT, data []Example, method Method, batch int) (tokens int, sec float64) {
	return benchTrainStepsMicro(b, m, data, method, batch, 0)
}

// benchTrainStepsMicro is benchTrainSteps with micro-batches of micro examples (0: none).
func benchTrainStepsMicro(b *testing.B, m *GPT, data []Example, method Method, batch, micro int) (tokens int, sec float64) {
	tr, err := NewTrainer(m, data, TrainConfig{Loss: LossConfig{Method: method, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-4, Epochs: b.N + 1, BatchSize: batch, MicroBatch: micro}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Step(); err != nil { // warm-up: the ops' buffers are sized on the first run
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		info, err := tr.Step()
		if err != nil {
			b.Fatal(err)
		}
		tokens += info.Tokens
	}
	sec = b.Elapsed().Seconds()
	reportCPU(b, tokens, cpuSeconds()-cpu0)
	b.ReportMetric(float64(tokens)/sec, "tok/s")
	return tokens, sec
}

// BenchmarkTrainStep: one optimizer step (forward, backward, RMSProp update) on 16
// examples, for SFT (16 sequences) and SPACE with mu = 1 (16 real + 16 synthetic).
func BenchmarkTrainStep(b *testing.B) {
	for _, s := range benchShapes {
		for _, method := range []Method{MethodSFT, MethodSPACE} {
			b.Run(fmt.Sprintf("%s/%s", s.name, method), func(b *testing.B) {
				m := benchModel(b, s)
				resp := s.context - 8
				data := make([]Example, benchBatch)
				for i := range data {
					data[i] = Example{Prompt: benchPrompt(i), Real: benchResponse(resp, i)}
					if method != MethodSFT {
						data[i].Gen = [][]int{benchResponse(resp, i+100)}
						data[i].RefReal, data[i].RefGen = -float64(resp)*5.5, []float64{-float64(resp) * 5.5}
					}
				}
				tokens, sec := benchTrainSteps(b, m, data, method, benchBatch)
				b.ReportMetric(float64(tokens)*trainFLOPsPerToken(m)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkGenerate: sampling (temperature 1) 16 prompts of 8 tokens until the context is
// full, with the KV cache. tok/s counts new tokens only (the prefill is included in the
// time); a random-init model rarely emits EOS, so rows run close to the full length.
func BenchmarkGenerate(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s)
			prompts := make([][]int, benchBatch)
			seeds := make([]uint64, benchBatch)
			for i := range prompts {
				prompts[i], seeds[i] = benchPrompt(i), uint64(i)
			}
			sc := SampleConfig{Temperature: 1, MaxNewTokens: s.context - 8, Batch: benchBatch}
			tokens := 0
			b.ResetTimer()
			cpu0 := cpuSeconds()
			defer func() { reportCPU(b, tokens, cpuSeconds()-cpu0) }()
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
	}
}

// BenchmarkLogProbs: the forward-only log-prob graph on 16 full-context sequences (what
// the opponent's reference log-probs cost per round).
func BenchmarkLogProbs(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s)
			seqs := make([]Sequence, benchBatch)
			for i := range seqs {
				seqs[i] = Sequence{Prompt: benchPrompt(i), Response: benchResponse(s.context-8, i)}
			}
			if _, err := m.LogProbs(seqs, benchBatch); err != nil { // builds the graph
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.LogProbs(seqs, benchBatch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch*s.context)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
