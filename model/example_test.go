package model_test

import (
	"bytes"
	"fmt"

	"github.com/space-sft/space/model"
)

// Train a tiny model for a few SPACE steps on one example whose synthetic response and
// opponent log-probs come from the model itself (a self-play round in miniature), then
// checkpoint it and load it back.
func Example() {
	tok := model.NewByteTokenizer()
	m, err := model.New(model.Config{Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 16}, TiedEmbeddings: true, Seed: 1}, tok)
	if err != nil {
		panic(err)
	}
	real, _ := m.Encode("2+2=", "4")
	gen, _ := m.Encode("2+2=", "5")
	ref, _ := m.LogProbs([]model.Sequence{real, gen}, 2) // the opponent is the initial model
	data := []model.Example{{Prompt: real.Prompt, Real: real.Response, Gen: [][]int{gen.Response}, RefReal: ref[0], RefGen: ref[1:]}}

	tr, err := model.NewTrainer(m, data, model.TrainConfig{
		Loss: model.LossConfig{Method: model.MethodSPACE, Mu: 1}, OptimConfig: model.OptimConfig{Optimizer: "adam", LR: 1e-2, Epochs: 20, BatchSize: 1}})
	if err != nil {
		panic(err)
	}
	for !tr.Done() {
		if _, err := tr.Step(); err != nil {
			panic(err)
		}
	}
	after, _ := m.LogProbs([]model.Sequence{real, gen}, 2)
	fmt.Println("steps:", tr.StepCount())
	fmt.Println("real response more likely:", after[0] > ref[0])
	fmt.Println("synthetic response less likely:", after[1] < ref[1])

	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		panic(err)
	}
	loaded, err := model.Load(&buf)
	if err != nil {
		panic(err)
	}
	fmt.Println("parameters:", loaded.NumParams())
	// Output:
	// steps: 20
	// real response more likely: true
	// synthetic response less likely: true
	// parameters: 7728
}
