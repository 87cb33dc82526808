package model

import (
	"math"
	"runtime"
	"testing"
)

// TestSameBitsAnyGOMAXPROCS: the fused ops, the optimizer and the sampler split their work
// over goroutines; the split is fixed (or every element is computed the same way in any
// chunk), so training and sampling give the same bits with one core or two.
func TestSameBitsAnyGOMAXPROCS(t *testing.T) {
	run := func(procs int) ([]float64, [][]int) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := New(Config{Shape: Shape{DModel: 64, Layers: 2, Heads: 4, Context: 32}, Seed: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var data []Example
		for i := 0; i < 8; i++ {
			data = append(data, Example{Prompt: benchPrompt(i), Real: benchResponse(20, i), Gen: [][]int{benchResponse(18, i+50)}, RefReal: -60, RefGen: []float64{-55}})
		}
		tr, err := NewTrainer(m, data, TrainConfig{Loss: LossConfig{Method: MethodSPACE, Mu: 1}, OptimConfig: OptimConfig{LR: 1e-3, Epochs: 2, BatchSize: 4, ClipNorm: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for !tr.Done() {
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		var w []float64
		for _, p := range m.Params {
			w = append(w, floats(p.Value)...)
		}
		var prompts [][]int
		var seeds []uint64
		for i := 0; i < 9; i++ { // 9 rows: the decode gemms are split in halves
			prompts, seeds = append(prompts, benchPrompt(i)), append(seeds, uint64(i))
		}
		out, err := m.Generate(prompts, seeds, SampleConfig{Temperature: 1, MaxNewTokens: 20})
		if err != nil {
			t.Fatal(err)
		}
		return w, out
	}
	w1, o1 := run(1)
	w2, o2 := run(2)
	for i := range w1 {
		if math.Float64bits(w1[i]) != math.Float64bits(w2[i]) {
			t.Fatalf("weight %d: %v with GOMAXPROCS 1, %v with 2", i, w1[i], w2[i])
		}
	}
	for i := range o1 {
		if len(o1[i]) != len(o2[i]) {
			t.Fatalf("sample %d: %v with GOMAXPROCS 1, %v with 2", i, o1[i], o2[i])
		}
		for j := range o1[i] {
			if o1[i][j] != o2[i][j] {
				t.Fatalf("sample %d: %v with GOMAXPROCS 1, %v with 2", i, o1[i], o2[i])
			}
		}
	}
}
