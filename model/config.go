package model

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Shape is the architecture a user chooses for a model trained from scratch: width, depth,
// attention heads and context (positions). It is the one type for a model's shape: Config
// embeds it, and a run spec's base_model embeds it, so its defaults and its checks are
// written once, here.
type Shape struct {
	DModel  int `json:"d_model"`
	Layers  int `json:"layers"`
	Heads   int `json:"heads"`
	Context int `json:"context"` // max tokens of prompt+response (positions)
}

// DefaultShape is the shape of a model trained from scratch when a run does not say
// otherwise: small enough to train in seconds on a laptop CPU.
func DefaultShape() Shape { return Shape{DModel: 64, Layers: 2, Heads: 4, Context: 64} }

// Validate reports the first problem with s as an *InputError (a retry cannot fix it).
// Field names are prefixed with prefix (e.g. "base_model." in a run spec).
func (s Shape) Validate(prefix string) error {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: prefix + field, Problem: problem, Fix: fix}
	}
	switch {
	case s.DModel <= 0:
		return bad("d_model", fmt.Sprintf("is %d, must be positive", s.DModel), "use e.g. 64")
	case s.Heads <= 0:
		return bad("heads", fmt.Sprintf("is %d, must be positive", s.Heads), "use e.g. 4")
	case s.DModel%s.Heads != 0:
		return bad("heads", fmt.Sprintf("d_model %d is not divisible by heads %d", s.DModel, s.Heads), "pick heads dividing d_model")
	case s.Layers <= 0:
		return bad("layers", fmt.Sprintf("is %d, must be positive", s.Layers), "use e.g. 2")
	case s.Context < 2:
		return bad("context", fmt.Sprintf("is %d, must be at least 2", s.Context), "use e.g. 64 (prompt+response tokens)")
	}
	return nil
}

// Config describes a GPT: its shape, vocabulary, initialization seed and dtype. It is
// stored in every checkpoint's metadata (JSON, the Shape's fields inline).
type Config struct {
	VocabSize int `json:"vocab_size"`
	Shape
	TiedEmbeddings bool   `json:"tied_embeddings"`
	Seed           uint64 `json:"seed"`
	DType          string `json:"dtype"` // "float32" (default when empty) or "float64" (gradient checks)
}

// Validate reports the first problem with c as an *InputError (a retry cannot fix it).
func (c Config) Validate() error {
	if c.VocabSize <= 0 {
		return &InputError{Field: "config.vocab_size", Problem: fmt.Sprintf("is %d, must be positive", c.VocabSize),
			Fix: fmt.Sprintf("use the tokenizer's VocabSize() (%d for the byte tokenizer)", ByteVocab)}
	}
	if err := c.Shape.Validate("config."); err != nil {
		return err
	}
	switch c.DType {
	case "", "float32", "float64":
	default:
		return &InputError{Field: "config.dtype", Problem: fmt.Sprintf("%q is not supported", c.DType), Fix: `use "float32" (default) or "float64"`}
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
