package model

import "fmt"

// TokenizerSpec chooses the tokenizer of a model trained from scratch (a run spec's
// base_model.tokenizer). A model that is imported keeps the tokenizer it was trained with.
type TokenizerSpec struct {
	// Kind is "byte" (ids = UTF-8 bytes plus 4 specials; vocabulary 260; "" means it too) or "bpe": a
	// byte-level BPE of VocabSize ids trained on the run's own train pairs (TrainBPE).
	Kind string `json:"kind"`
	// VocabSize is the number of ids of a "bpe" tokenizer, the 256 bytes and the 2 specials
	// (BPESpecials) included. Unused for "byte".
	VocabSize int `json:"vocab_size,omitempty"`
}

// BPESpecials are the special tokens of a BPE trained by TokenizerSpec.Build:
// "<|endoftext|>" begins every prompt and ends every response (GPT-2's use of it) and
// "<|sep|>" ends every prompt, so that the model sees where the response starts as the byte
// tokenizer's models do. Their roles are BPERoles.
var BPESpecials = []string{EndOfText, "<|sep|>"}

// BPERoles are the framing roles of BPESpecials.
var BPERoles = SpecialTokens{BOS: EndOfText, EOS: EndOfText, SEP: "<|sep|>"}

// MaxBPEVocab bounds TokenizerSpec.VocabSize (GPT-2's own vocabulary has 50257 ids).
const MaxBPEVocab = 1 << 17

// DefaultTokenizer is the byte tokenizer.
func DefaultTokenizer() TokenizerSpec { return TokenizerSpec{Kind: "byte"} }

// Validate reports the first problem as an *InputError. Field names are prefixed with
// prefix (e.g. "base_model.tokenizer.").
func (s TokenizerSpec) Validate(prefix string) error {
	least := 256 + len(BPESpecials)
	switch {
	case (s.Kind == "byte" || s.Kind == "") && s.VocabSize != 0:
		return &InputError{Field: prefix + "vocab_size", Problem: fmt.Sprintf("is %d but the byte tokenizer has %d ids", s.VocabSize, ByteVocab),
			Fix: `omit vocab_size, or use kind "bpe" to train a vocabulary of that size`}
	case s.Kind == "byte" || s.Kind == "":
	case s.Kind == "bpe" && (s.VocabSize < least || s.VocabSize > MaxBPEVocab):
		return &InputError{Field: prefix + "vocab_size", Problem: fmt.Sprintf("is %d", s.VocabSize),
			Fix: fmt.Sprintf("use between %d (the 256 bytes and %d specials) and %d ids, e.g. 512 for a small dataset", least, len(BPESpecials), MaxBPEVocab)}
	case s.Kind == "bpe":
	default:
		return &InputError{Field: prefix + "kind", Problem: fmt.Sprintf("unknown tokenizer kind %q", s.Kind), Fix: `use "byte" or "bpe"`}
	}
	return nil
}

// Build returns the tokenizer: the byte tokenizer, or a BPE trained on texts (a run's train
// prompts and responses) with BPESpecials in BPERoles. The same texts (in any order) give
// the same tokenizer. A corpus too small for VocabSize is an *InputError saying so.
func (s TokenizerSpec) Build(texts []string) (*Tokenizer, error) {
	if err := s.Validate(""); err != nil {
		return nil, err
	}
	if s.Kind != "bpe" {
		return NewByteTokenizer(), nil
	}
	t, err := TrainBPE(texts, s.VocabSize, BPESpecials)
	if err != nil {
		return nil, err
	}
	return t.WithRoles(BPERoles)
}
