package model

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Config describes the shape of a GPT. It is stored in every checkpoint's metadata.
type Config struct {
	VocabSize      int    `json:"vocab_size"`
	DModel         int    `json:"d_model"`
	Layers         int    `json:"layers"`
	Heads          int    `json:"heads"`
	Context        int    `json:"context"` // max tokens of prompt+response (positions)
	TiedEmbeddings bool   `json:"tied_embeddings"`
	Seed           uint64 `json:"seed"`
	DType          string `json:"dtype"` // "float32" (default when empty) or "float64" (gradient checks)
}

// Validate reports the first problem with c as an *InputError (a retry cannot fix it).
func (c Config) Validate() error {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: "config." + field, Problem: problem, Fix: fix}
	}
	switch {
	case c.VocabSize <= 0:
		return bad("vocab_size", fmt.Sprintf("is %d, must be positive", c.VocabSize), fmt.Sprintf("use the tokenizer's VocabSize() (%d for the byte tokenizer)", ByteVocab))
	case c.DModel <= 0:
		return bad("d_model", fmt.Sprintf("is %d, must be positive", c.DModel), "use e.g. 64")
	case c.Heads <= 0:
		return bad("heads", fmt.Sprintf("is %d, must be positive", c.Heads), "use e.g. 4")
	case c.DModel%c.Heads != 0:
		return bad("heads", fmt.Sprintf("d_model %d is not divisible by heads %d", c.DModel, c.Heads), "pick heads dividing d_model")
	case c.Layers <= 0:
		return bad("layers", fmt.Sprintf("is %d, must be positive", c.Layers), "use e.g. 2")
	case c.Context < 2:
		return bad("context", fmt.Sprintf("is %d, must be at least 2", c.Context), "use e.g. 64 (prompt+response tokens)")
	}
	switch c.DType {
	case "", "float32", "float64":
	default:
		return bad("dtype", fmt.Sprintf("%q is not supported", c.DType), `use "float32" (default) or "float64"`)
	}
	return nil
}

// dtype returns the tensor dtype of the parameters.
func (c Config) dtype() tensor.Dtype {
	if c.DType == "float64" {
		return tensor.Float64
	}
	return tensor.Float32
}

// HeadDim is DModel / Heads.
func (c Config) HeadDim() int { return c.DModel / c.Heads }
