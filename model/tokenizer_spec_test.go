package model

import (
	"bytes"
	"strings"
	"testing"
)

func TestTokenizerSpecBuild(t *testing.T) {
	texts := []string{"the cat sat on the mat", "the dog sat on the log", "a cat and a dog"}
	bt, err := DefaultTokenizer().Build(texts)
	if err != nil || bt.Kind != "byte" {
		t.Fatalf("default: %v %v", bt, err)
	}
	spec := TokenizerSpec{Kind: "bpe", VocabSize: 270}
	tok, err := spec.Build(texts)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 270 {
		t.Errorf("vocab %d, want 270", tok.VocabSize())
	}
	sp := tok.SpecialIDs()
	if sp.BOS != sp.EOS || sp.BOS < 0 || sp.SEP < 0 || sp.SEP == sp.EOS {
		t.Errorf("special ids %+v: want <|endoftext|> as BOS and EOS and <|sep|> as SEP", sp)
	}
	p, _ := tok.EncodePrompt("the cat")
	r, _ := tok.EncodeResponse(" sat")
	if p[0] != sp.BOS || p[len(p)-1] != sp.SEP || r[len(r)-1] != sp.EOS {
		t.Errorf("framing: prompt %v response %v, want BOS..SEP and ..EOS", p, r)
	}
	if got := tok.Decode(append(p[1:len(p)-1:len(p)-1], r...)); got != "the cat sat" {
		t.Errorf("decode %q", got)
	}
	// Order of the texts does not matter.
	again, err := spec.Build([]string{texts[2], texts[0], texts[1]})
	if err != nil || strings.Join(again.Merges(), "|") != strings.Join(tok.Merges(), "|") {
		t.Errorf("a reordered corpus gives other merges (%v)", err)
	}
	for _, bad := range []TokenizerSpec{{Kind: "bpe", VocabSize: 100}, {Kind: "byte", VocabSize: 300}, {Kind: "sentencepiece"}, {Kind: "bpe", VocabSize: MaxBPEVocab + 1}} {
		if err := bad.Validate("base_model.tokenizer."); err == nil || !strings.Contains(err.Error(), "base_model.tokenizer.") {
			t.Errorf("%+v: %v, want an error naming the field", bad, err)
		}
	}
	if _, err := (TokenizerSpec{Kind: "bpe", VocabSize: 5000}).Build(texts); err == nil || !strings.Contains(err.Error(), "corpus allows") {
		t.Errorf("a vocabulary larger than the corpus allows: %v", err)
	}
}

// ReadInfo reads a checkpoint's config and tokenizer from its first bytes only.
func TestReadInfo(t *testing.T) {
	tok, err := TokenizerSpec{Kind: "bpe", VocabSize: 262}.Build([]string{"abc abc abd"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{VocabSize: tok.VocabSize(), Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 16}, Seed: 1}, tok)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	hl := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	cfg, got, err := ReadInfo(bytes.NewReader(b[:8+hl])) // the tensors are not needed
	if err != nil {
		t.Fatal(err)
	}
	if cfg != m.Config || got.VocabSize() != 262 || strings.Join(got.Merges(), "|") != strings.Join(tok.Merges(), "|") {
		t.Errorf("ReadInfo: %+v %d merges %v, want %+v and the model's tokenizer", cfg, got.VocabSize(), got.Merges(), m.Config)
	}
	if _, _, err := ReadInfo(strings.NewReader(`{"model_type": "gpt2"}`)); err == nil || !strings.Contains(err.Error(), "not a safetensors file") {
		t.Errorf("ReadInfo of JSON: %v", err)
	}
}
