package activities

import (
	"context"
	"testing"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

func TestDistributionMetrics(t *testing.T) {
	task, _ := tasks.Get("markov")
	d := task.(tasks.Distribution)
	m, err := model.New(model.Config{Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 64}, Seed: 1}, model.NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	test := task.Generate(5, 6)
	var greedy [][]int
	var seqs []model.Sequence
	for _, p := range test {
		s, _ := m.Encode(p.Prompt, p.Response)
		seqs = append(seqs, s)
		greedy = append(greedy, s.Response) // the real responses: all valid
	}
	in := EvaluateInput{Seed: 3, Round: 1, Sampling: model.SampleConfig{MaxNewTokens: 20}}
	a := &Activities{}
	metrics := func() map[string]float64 {
		part := EvalPart{Lo: 0, Hi: len(test), Greedy: greedy}
		if err := a.distributionPart(context.Background(), in, m, d, test, seqs, &part); err != nil {
			t.Fatal(err)
		}
		v := map[string]float64{}
		distributionMetrics(in, m, d, test, part, v)
		return v
	}
	v := metrics()
	// An untrained byte model spreads its mass over 260 tokens: KL is many nats per response.
	if v[eval.KL] < 10 || v[eval.GreedyValid] != 1 || v[eval.SampleValid] < 0 || v[eval.SampleValid] > 0.5 {
		t.Fatalf("metrics %v", v)
	}
	// lengths: p_data's walks have 1 to 16 letters; the untrained model's samples are
	// measured too (their length is whatever it wrote, at most max_new_tokens)
	if v[eval.DataChars] < 1 || v[eval.DataChars] > 16 || v[eval.SampleChars] <= 0 || v[eval.SampleChars] > 20 {
		t.Fatalf("lengths: data %v, samples %v", v[eval.DataChars], v[eval.SampleChars])
	}
	w := metrics()
	if w[eval.KL] != v[eval.KL] || w[eval.DataChars] != v[eval.DataChars] {
		t.Fatalf("KL samples are not seeded: %v vs %v", w[eval.KL], v[eval.KL])
	}
}
