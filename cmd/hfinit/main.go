// Command hfinit writes a randomly initialized GPT-2-family checkpoint in the Hugging Face
// layout (config.json, generation_config.json, model.safetensors, and GPT-2's own tokenizer
// files: tokenizer.json, vocab.json, merges.txt, ...), as transformers' save_pretrained of a
// GPT2LMHeadModel writes it. It stands in for a downloaded GPT-2 where none can be
// downloaded (this project's machines have no access to the Hugging Face Hub): same shapes,
// same tensor names, same tokenizer, random weights. `make gpt2-small` uses it.
//
//	go run ./cmd/hfinit --out DIR [--shape gpt2-small|gpt2-tiny] [--seed N]
//
// The tokenizer is read from model/testdata/gpt2tok (GPT-2's vocab.json and merges.txt,
// gzipped); run it from the repository root or give --tokenizer.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/space-sft/space/model"
)

var shapes = map[string]model.Shape{
	"gpt2-small": {DModel: 768, Layers: 12, Heads: 12, Context: 1024}, // 124M parameters
	"gpt2-tiny":  {DModel: 64, Layers: 2, Heads: 4, Context: 1024},    // 3.3M, almost all embeddings
}

func main() {
	out := flag.String("out", "", "output folder (required)")
	shape := flag.String("shape", "gpt2-small", "gpt2-small (d768, 12 layers, 12 heads, 1024 positions) or gpt2-tiny (d64, 2 layers)")
	seed := flag.Uint64("seed", 1, "initialization seed")
	tokDir := flag.String("tokenizer", "model/testdata/gpt2tok", "folder with GPT-2's vocab.json.gz and merges.txt.gz")
	flag.Parse()
	if err := run(*out, *shape, *seed, *tokDir); err != nil {
		fmt.Fprintln(os.Stderr, "hfinit:", err)
		os.Exit(1)
	}
}

func run(out, shape string, seed uint64, tokDir string) error {
	s, ok := shapes[shape]
	if out == "" || !ok {
		return fmt.Errorf("give --out DIR and --shape gpt2-small or gpt2-tiny")
	}
	vocab, err := gunzip(filepath.Join(tokDir, "vocab.json.gz"))
	if err != nil {
		return err
	}
	merges, err := gunzip(filepath.Join(tokDir, "merges.txt.gz"))
	if err != nil {
		return err
	}
	tok, err := model.ReadVocabMerges(bytes.NewReader(vocab), bytes.NewReader(merges), model.GPT2Specials)
	if err != nil {
		return err
	}
	m, err := model.New(model.Config{VocabSize: tok.VocabSize(), Shape: s, TiedEmbeddings: true, Seed: seed}, tok)
	if err != nil {
		return err
	}
	if err := model.ExportHFDir(m, out, model.HFExportOptions{}); err != nil {
		return err
	}
	if err := tok.WriteHF(out, s.Context); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s, %d parameters, vocabulary %d, random weights (seed %d)\n", out, shape, m.NumParams(), tok.VocabSize(), seed)
	return nil
}

func gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository root, or give --tokenizer)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return io.ReadAll(zr)
}
