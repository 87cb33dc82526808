package pipelinebench

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

// BenchmarkShardScoring reproduces the compute of BenchmarkPipelineRound's Generate shards
// without Temporal or S3: the round's d128 L4 model (untied head, byte vocabulary, context
// 64), 512 arith train prompts in 2 shards, one synthetic response per prompt (temperature
// 1, at most 24 new tokens), sampled and then scored (the real responses first, then the
// synthetic ones) in calls of 32 sequences as activities.Generate makes them. It reports
// process CPU seconds (all threads, OpenBLAS's included) per shard:
//
//	sample-cpu-s       sampling one shard alone
//	score-cpu-s        scoring one shard alone
//	score2-cpu-s       scoring, per shard, with the two shards scored side by side in one
//	                   process (each with its own model, as two activities on one worker)
//	side-by-side-x     score2-cpu-s / score-cpu-s
//	score-wall-s       wall time of scoring one shard alone (the model's ops use both cores)
//	score2-wall-s      wall time of scoring the two shards side by side
//	score-positions    positions the scoring forward pass computes (rows x padded length)
//	sample-positions   positions the sampler computes (prompt prefill + new tokens)
//
// CPU time, unlike wall time, does not count waiting for a core, so it can be compared
// across runs on a shared machine; a busy machine still slows the cores themselves.
//
//	OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX go test -tags openblas ./internal/pipelinebench -run '^$' -bench ShardScoring -benchtime 3x
func BenchmarkShardScoring(b *testing.B) {
	const shards, mu, chunk = 2, 1, 32
	task, err := tasks.Get("arith")
	if err != nil {
		b.Fatal(err)
	}
	pairs := task.Generate(1, 512)
	cfg := model.Config{VocabSize: model.ByteVocab, Shape: model.Shape{DModel: 128, Layers: 4, Heads: 4, Context: 64}, Seed: 1}
	newModel := func() *model.GPT {
		m, err := model.New(cfg, model.NewByteTokenizer())
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	type shard struct {
		m         *model.GPT
		real      []model.Sequence
		prompts   [][]int
		seeds     []uint64
		score     []model.Sequence
		sampled   int // positions
		positions int
	}
	mk := func(k int) *shard {
		s := &shard{m: newModel()}
		for i := k; i < len(pairs); i += shards {
			q, err := s.m.Encode(pairs[i].Prompt, pairs[i].Response)
			if err != nil {
				b.Fatal(err)
			}
			s.real = append(s.real, q)
			for j := 0; j < mu; j++ {
				s.prompts = append(s.prompts, q.Prompt)
				s.seeds = append(s.seeds, uint64(i*mu+j))
			}
		}
		return s
	}
	sample := func(s *shard) {
		s.score = append([]model.Sequence(nil), s.real...)
		s.sampled = 0
		for lo := 0; lo < len(s.prompts); lo += chunk {
			hi := min(lo+chunk, len(s.prompts))
			g, err := s.m.Generate(s.prompts[lo:hi], s.seeds[lo:hi], model.SampleConfig{Temperature: 1, TopP: 1, MaxNewTokens: 24})
			if err != nil {
				b.Fatal(err)
			}
			for k, r := range g {
				r = r[:min(len(r), cfg.Context-len(s.prompts[lo+k]))]
				s.score = append(s.score, model.Sequence{Prompt: s.prompts[lo+k], Response: r})
				s.sampled += len(s.prompts[lo+k]) + len(r)
			}
		}
	}
	scoreAll := func(s *shard) {
		s.positions = 0
		for lo := 0; lo < len(s.score); lo += chunk {
			hi := min(lo+chunk, len(s.score))
			if _, err := s.m.LogProbs(s.score[lo:hi], chunk); err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, q := range s.score[lo:hi] {
				n = max(n, q.Len())
			}
			s.positions += (hi - lo) * min((n-1+7)/8*8, cfg.Context)
		}
	}
	both := func(f func(*shard), ss ...*shard) {
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Go(func() { f(s) })
		}
		wg.Wait()
	}
	s0, s1 := mk(0), mk(1)
	both(sample, s0, s1)
	scoreAll(s0) // builds and caches the graphs of both models before any timing
	scoreAll(s1)
	var sampleCPU, scoreCPU, score2CPU, scoreWall, score2Wall float64
	b.ResetTimer()
	for range b.N {
		c0 := cpuSeconds()
		sample(s0)
		c1, t1 := cpuSeconds(), time.Now()
		scoreAll(s0)
		c2, t2 := cpuSeconds(), time.Now()
		both(scoreAll, s0, s1)
		c3, t3 := cpuSeconds(), time.Now()
		sampleCPU += c1 - c0
		scoreCPU += c2 - c1
		score2CPU += (c3 - c2) / 2
		scoreWall += t2.Sub(t1).Seconds()
		score2Wall += t3.Sub(t2).Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(sampleCPU/n, "sample-cpu-s")
	b.ReportMetric(scoreCPU/n, "score-cpu-s")
	b.ReportMetric(score2CPU/n, "score2-cpu-s")
	b.ReportMetric(score2CPU/scoreCPU, "side-by-side-x")
	b.ReportMetric(scoreWall/n, "score-wall-s")
	b.ReportMetric(score2Wall/n, "score2-wall-s")
	b.ReportMetric(float64(s0.positions), "score-positions")
	b.ReportMetric(float64(s0.sampled), "sample-positions")
}

// cpuSeconds is the process's user+system CPU time, all threads.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
