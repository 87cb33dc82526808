// Command arithprobe trains an arith base model from scratch on a pre-training corpus and
// prints, every -every optimizer steps, its greedy accuracy on held-out target problems
// (two-digit operands) and on held-out source problems: the exploration behind the arith
// defaults of `space compare` (docs/compare.md). Single process, no stack:
//
//	go run -tags openblas ./cmd/arithprobe -d 128 -layers 4 -n 16000 -epochs 2 -mix 0.5
//
// -mix is the fraction of the corpus drawn from tasks.Arith's carry-free family
// (carry-free two-digit problems, tasks.Arith.Mix); 0 is the plain source family. With -sft M the pre-trained model is
// then fine-tuned with SFT on M target pairs (seed 1000, as the paper preset's TargetSFT)
// for -sft-epochs epochs, evaluated the same way: does target data lift the accuracy?
// -out saves the final model, -init starts from a saved one instead of a fresh one.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

func main() {
	d := flag.Int("d", 128, "d_model")
	layers := flag.Int("layers", 4, "layers")
	heads := flag.Int("heads", 4, "heads")
	n := flag.Int("n", 8000, "pre-training pairs")
	epochs := flag.Int("epochs", 2, "pre-training epochs")
	lr := flag.Float64("lr", 3e-3, "adam peak learning rate (10% warm-up, linear decay)")
	batch := flag.Int("batch", 32, "batch size")
	mix := flag.Float64("mix", 0, "fraction of the corpus from the carry-free two-digit family (0: source family only)")
	every := flag.Int("every", 200, "evaluate every this many steps")
	nEval := flag.Int("eval", 200, "held-out problems per evaluation")
	seed := flag.Uint64("seed", 7, "seed of the corpus and the initial weights")
	sftN := flag.Int("sft", 0, "then SFT on this many target pairs (0: no SFT phase)")
	sftEpochs := flag.Int("sft-epochs", 4, "epochs of the SFT phase")
	sftLR := flag.Float64("sft-lr", 1e-3, "adam peak learning rate of the SFT phase")
	initFile := flag.String("init", "", "start from this checkpoint instead of fresh weights (and skip pre-training when -n is 0)")
	outFile := flag.String("out", "", "save the final model here")
	flag.Parse()

	ar := tasks.Arith{Digits: 2, Mix: *mix}
	corpus := ar.Pretrain(*seed, *n)
	target := ar.Generate(12345, *nEval)
	source := tasks.Arith{Digits: 2}.Pretrain(54321, *nEval)
	tok := model.NewByteTokenizer()
	var m *model.GPT
	var err error
	if *initFile != "" {
		f, ferr := os.Open(*initFile)
		if ferr != nil {
			log.Fatal(ferr)
		}
		m, err = model.Load(f)
		f.Close()
	} else {
		m, err = model.New(model.Config{VocabSize: tok.VocabSize(), Shape: model.Shape{DModel: *d, Layers: *layers, Heads: *heads, Context: 64}, Seed: *seed}, tok)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("d%d L%d, %d params, accuracy on %d target / %d source problems\n", m.Config.DModel, m.Config.Layers, m.NumParams(), len(target), len(source))
	eval := func(phase string, s int, secs, loss float64) {
		fmt.Printf("%s step %5d  %5.0fs  loss %.4f  target acc %.3f  source acc %.3f\n", phase, s, secs, loss,
			accuracy(m, tok, ar, target), accuracy(m, tok, ar, source))
		os.Stdout.Sync()
	}
	if *n > 0 {
		fmt.Printf("pre-train: %d pairs (mix %g) x %d epochs, batch %d, adam lr %g\n", *n, *mix, *epochs, *batch, *lr)
		train(m, tok, corpus, *epochs, *batch, *lr, *seed, *every, func(s int, secs, loss float64) { eval("pretrain", s, secs, loss) })
	}
	if *sftN > 0 {
		pairs := ar.Generate(1000, *sftN)
		fmt.Printf("SFT: %d target pairs (seed 1000) x %d epochs, batch %d, adam lr %g\n", *sftN, *sftEpochs, *batch, *sftLR)
		eval("sft", 0, 0, 0)
		train(m, tok, pairs, *sftEpochs, *batch, *sftLR, *seed, *every, func(s int, secs, loss float64) { eval("sft", s, secs, loss) })
	}
	if *outFile != "" {
		f, err := os.Create(*outFile)
		if err == nil {
			err = m.Save(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			log.Fatal(err)
		}
	}
}

// train runs SFT with Adam (5 % warm-up, linear decay, clip 1) on pairs, calling report
// every `every` steps and at the end.
func train(m *model.GPT, tok *model.Tokenizer, pairs []dataset.Pair, epochs, batch int, lr float64, seed uint64, every int, report func(step int, secs, loss float64)) {
	data := make([]model.Example, len(pairs))
	for i, p := range pairs {
		data[i] = example(tok, p)
	}
	tc := model.TrainConfig{Loss: model.LossConfig{Method: model.MethodSFT},
		OptimConfig: model.OptimConfig{Optimizer: "adam", LR: lr, WarmupFrac: 0.05, Epochs: epochs, BatchSize: batch, ClipNorm: 1}, Seed: seed}
	tr, err := model.NewTrainer(m, data, tc)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	for !tr.Done() {
		info, err := tr.Step()
		if err != nil {
			log.Fatal(err)
		}
		if s := tr.StepCount(); s%every == 0 || tr.Done() {
			report(s, time.Since(start).Seconds(), info.Loss)
		}
	}
}

func example(tok *model.Tokenizer, p dataset.Pair) model.Example {
	pr, err := tok.EncodePrompt(p.Prompt)
	if err != nil {
		log.Fatal(err)
	}
	re, err := tok.EncodeResponse(p.Response)
	if err != nil {
		log.Fatal(err)
	}
	return model.Example{Prompt: pr, Real: re}
}

// accuracy is the mean task score of greedy outputs.
func accuracy(m *model.GPT, tok *model.Tokenizer, t tasks.Arith, pairs []dataset.Pair) float64 {
	prompts := make([][]int, len(pairs))
	for i, p := range pairs {
		prompts[i] = example(tok, p).Prompt
	}
	outs, err := m.Greedy(prompts, 28)
	if err != nil {
		log.Fatal(err)
	}
	s := 0.0
	for i, o := range outs {
		s += t.Score(pairs[i].Prompt, tok.Decode(o))
	}
	return s / float64(len(pairs))
}
