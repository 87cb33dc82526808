package model

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Token ids: 0..255 are the bytes of the UTF-8 text, then the specials.
const (
	BOS       = 256 // begins every prompt
	EOS       = 257 // ends every response
	PAD       = 258 // fills a batch row after its sequence ends (never a target)
	SEP       = 259 // ends every prompt: the response starts after it
	ByteVocab = 260 // vocabulary size of the byte tokenizer
)

// InputError is bad input that a retry cannot fix: the caller must change the input.
// Activities mark it non-retryable.
type InputError struct {
	Field   string // what was wrong (e.g. "response", "config.heads")
	Problem string // what is wrong with it
	Fix     string // how to fix it
}

func (e *InputError) Error() string {
	return fmt.Sprintf("invalid %s: %s (fix: %s)", e.Field, e.Problem, e.Fix)
}

// Tokenizer maps text to token ids. Two kinds exist:
//
//   - "byte": ids 0..255 are the bytes of the UTF-8 text, then BOS, EOS, PAD, SEP (the
//     constants above); every string round-trips and there is nothing to train or store
//     beyond its kind (its JSON is exactly {"kind":"byte"}).
//   - "bpe": GPT-2's byte-level BPE (bpe.go): a vocabulary, ranked merges and special tokens,
//     from GPT-2's vocab.json and merges.txt (ReadVocabMerges), a Hugging Face tokenizer.json
//     (ReadHFTokenizerJSON), a model directory's tokenizer files (ReadHFTokenizerFiles) or
//     trained (TrainBPE). Its JSON holds all of it, so a checkpoint restores it. Its special
//     ids are those of its SpecialTokens roles (SpecialIDs).
//
// Both kinds are written as Hugging Face tokenizer files by HFFiles (the byte tokenizer as
// the byte-level BPE with the same ids).
//
// Framing (EncodePrompt, EncodeResponse): prompt = [BOS] text [SEP], response = text EOS,
// each role's token only where the tokenizer has one (see model/doc.go).
//
// A Tokenizer is immutable; make it with NewByteTokenizer, NewBPETokenizer, the readers or
// TrainBPE, and share it freely between goroutines.
type Tokenizer struct {
	Kind string // "byte" or "bpe"
	bpe  *bpeModel
}

// NewByteTokenizer returns the byte-level tokenizer (vocabulary ByteVocab).
func NewByteTokenizer() *Tokenizer { return &Tokenizer{Kind: "byte"} }

// VocabSize is the number of token ids.
func (t *Tokenizer) VocabSize() int {
	if t.bpe != nil {
		return len(t.bpe.vocab)
	}
	return ByteVocab
}

// SpecialIDs returns the ids of BOS, EOS, PAD and SEP (-1 where the tokenizer has none).
// For the byte tokenizer they are the constants BOS, EOS, PAD, SEP.
func (t *Tokenizer) SpecialIDs() SpecialIDs {
	if t.bpe != nil {
		return t.bpe.sp
	}
	return SpecialIDs{BOS: BOS, EOS: EOS, PAD: PAD, SEP: SEP}
}

// IsSpecial reports whether id is a special token (never produced by Encode; dropped by
// Decode).
func (t *Tokenizer) IsSpecial(id int) bool {
	if t.bpe != nil {
		return id >= 0 && id < len(t.bpe.vocab) && t.bpe.isSpecial[id]
	}
	return id >= 256 && id < ByteVocab
}

// padFill is the id that fills padding positions of a batch (weight 0, so any valid id
// gives the same results): PAD, else EOS, else 0.
func (t *Tokenizer) padFill() int {
	if t == nil {
		return PAD
	}
	sp := t.SpecialIDs()
	switch {
	case sp.PAD >= 0:
		return sp.PAD
	case sp.EOS >= 0:
		return sp.EOS
	}
	return 0
}

// eos is the id that ends generation (-1: none, generation stops at the token limit).
func (t *Tokenizer) eos() int {
	if t == nil {
		return EOS
	}
	return t.SpecialIDs().EOS
}

// clone returns a copy sharing the immutable BPE tables.
func (t *Tokenizer) clone() *Tokenizer {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// Encode returns the ids of text with no framing. Special tokens' text (e.g.
// "<|endoftext|>") is ordinary text here, as in tiktoken's encode_ordinary: user text
// cannot inject a special token. For the byte tokenizer the ids are the bytes. Any byte
// string is encoded (invalid UTF-8 bytes as byte tokens); Decode restores it exactly.
func (t *Tokenizer) Encode(text string) []int { return t.appendEncoded(nil, text) }

// appendEncoded appends Encode(text) to ids.
func (t *Tokenizer) appendEncoded(ids []int, text string) []int {
	if t.bpe != nil {
		return t.bpe.encodeOrdinary(ids, text)
	}
	ids = slices.Grow(ids, len(text))
	for i := 0; i < len(text); i++ {
		ids = append(ids, int(text[i]))
	}
	return ids
}

// EncodeSpecial is Encode except that each occurrence of a special token's text becomes
// that token's single id (tiktoken's encode(text, allowed_special="all")). Use it only for
// trusted text. The byte tokenizer's specials have no text: it is Encode.
func (t *Tokenizer) EncodeSpecial(text string) []int {
	if t.bpe != nil {
		return t.bpe.encodeSpecial(nil, text)
	}
	return t.Encode(text)
}

func checkUTF8(field, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	off := 0
	for off < len(s) {
		r, n := utf8.DecodeRuneInString(s[off:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		off += n
	}
	return &InputError{Field: field, Problem: fmt.Sprintf("is not valid UTF-8 (bad byte 0x%02x at offset %d)", s[off], off),
		Fix: "send UTF-8 text (re-encode the source, or drop the record)"}
}

// EncodePrompt frames a prompt: BOS + Encode(s) + SEP, each special only where the
// tokenizer has it (byte: BOS bytes SEP; GPT-2 BPE: <|endoftext|> tokens). Invalid UTF-8
// gives an *InputError. An empty prompt is allowed (BOS SEP for the byte tokenizer).
func (t *Tokenizer) EncodePrompt(s string) ([]int, error) {
	if err := checkUTF8("prompt", s); err != nil {
		return nil, err
	}
	sp := t.SpecialIDs()
	ids := make([]int, 0, len(s)+2)
	if sp.BOS >= 0 {
		ids = append(ids, sp.BOS)
	}
	ids = t.appendEncoded(ids, s)
	if sp.SEP >= 0 {
		ids = append(ids, sp.SEP)
	}
	return ids, nil
}

// EncodeResponse returns Encode(s) + EOS. An empty response, invalid UTF-8 or a tokenizer
// without EOS gives an *InputError.
func (t *Tokenizer) EncodeResponse(s string) ([]int, error) {
	if s == "" {
		return nil, &InputError{Field: "response", Problem: "is empty", Fix: "give every example a non-empty response (or drop it)"}
	}
	if err := checkUTF8("response", s); err != nil {
		return nil, err
	}
	eos := t.SpecialIDs().EOS
	if eos < 0 {
		return nil, &InputError{Field: "tokenizer", Problem: "has no EOS token, so a response cannot be ended",
			Fix: "give the tokenizer an EOS role (SpecialTokens.EOS, e.g. GPT2Specials)"}
	}
	return append(t.appendEncoded(make([]int, 0, len(s)+1), s), eos), nil
}

// Decode turns ids back into text: tokens are kept, specials dropped, and decoding stops at
// the first EOS. Ids outside the vocabulary are skipped. Generated bytes need not form valid
// UTF-8; they are returned as they are.
func (t *Tokenizer) Decode(ids []int) string { return t.decode(ids, true) }

// DecodeAll turns every id into its text, special tokens included (as their text, e.g.
// "<|endoftext|>"; the byte tokenizer's specials have none), without stopping at EOS:
// DecodeAll(EncodeSpecial(s)) == s and DecodeAll(Encode(s)) == s.
func (t *Tokenizer) DecodeAll(ids []int) string { return t.decode(ids, false) }

// decode is Decode (stopAtEOS, specials dropped) or DecodeAll (neither).
func (t *Tokenizer) decode(ids []int, stopAtEOS bool) string {
	if t.bpe != nil {
		return t.bpe.decode(ids, stopAtEOS, !stopAtEOS)
	}
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if stopAtEOS && id == EOS {
			break
		}
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

// Sequence is one (prompt, response) pair of token ids, as made by the tokenizer:
// Prompt = BOS ... SEP, Response = ... EOS (for the byte tokenizer; see EncodePrompt). log p(y|x) is the sum over Response tokens.
type Sequence struct{ Prompt, Response []int }

// Len is the number of tokens of prompt and response together.
func (s Sequence) Len() int { return len(s.Prompt) + len(s.Response) }

// CheckSequence checks one sequence against the model: non-empty prompt and response, ids
// in the vocabulary, and the length policy len(prompt)+len(response) <= Context (never
// silent truncation). Errors are *InputError.
func (m *GPT) CheckSequence(s Sequence) error {
	promptFix, respFix, count := "encode prompts with Tokenizer.EncodePrompt (BOS ... SEP)", "encode responses with Tokenizer.EncodeResponse (... EOS)", "one token per byte, plus BOS, SEP, EOS"
	if m.Tok != nil && m.Tok.bpe != nil {
		promptFix, respFix, count = "encode prompts with Tokenizer.EncodePrompt (with a BOS role it always has a token)", "encode responses with Tokenizer.EncodeResponse (... EOS)", "tokens as counted by the model's BPE tokenizer, plus its BOS, SEP, EOS"
	}
	if len(s.Prompt) == 0 {
		return &InputError{Field: "prompt", Problem: "has no tokens", Fix: promptFix}
	}
	if len(s.Response) == 0 {
		return &InputError{Field: "response", Problem: "has no tokens", Fix: respFix}
	}
	if n := s.Len(); n > m.Config.Context {
		return &InputError{Field: "sequence", Problem: fmt.Sprintf("prompt (%d tokens) + response (%d tokens) = %d tokens exceeds the model's context limit of %d", len(s.Prompt), len(s.Response), n, m.Config.Context),
			Fix: fmt.Sprintf("shorten the prompt or response to at most %d tokens together (%s), or use a model with a larger Context", m.Config.Context, count)}
	}
	for _, part := range [2][]int{s.Prompt, s.Response} {
		for _, id := range part {
			if id < 0 || id >= m.Config.VocabSize {
				return &InputError{Field: "sequence", Problem: fmt.Sprintf("token id %d is outside the vocabulary [0,%d)", id, m.Config.VocabSize), Fix: "encode text with the model's tokenizer"}
			}
		}
	}
	return nil
}

// Encode tokenizes a (prompt, response) pair and checks it against the model's limits.
func (m *GPT) Encode(prompt, response string) (Sequence, error) {
	p, err := m.Tok.EncodePrompt(prompt)
	if err != nil {
		return Sequence{}, err
	}
	r, err := m.Tok.EncodeResponse(response)
	if err != nil {
		return Sequence{}, err
	}
	s := Sequence{Prompt: p, Response: r}
	return s, m.CheckSequence(s)
}
