package model

import (
	"errors"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"
)

func TestTokenizerRoundTrip(t *testing.T) {
	tok := NewByteTokenizer()
	f := func(s string) bool {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "?")
		}
		p, err := tok.EncodePrompt(s)
		if err != nil || p[0] != BOS || p[len(p)-1] != SEP || tok.Decode(p) != s {
			return false
		}
		if s == "" {
			return true
		}
		r, err := tok.EncodeResponse(s)
		return err == nil && r[len(r)-1] == EOS && tok.Decode(r) == s && tok.Decode(append(r, 'x')) == s
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"héllo wörld", "日本語", "emoji 🙂 and \x00 nul", "a\nb\tc"} {
		if !f(s) {
			t.Errorf("round trip failed for %q", s)
		}
	}
}

func FuzzTokenizerRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", "héllo", "日本語 🙂", "\xff"} {
		f.Add(s)
	}
	tok := NewByteTokenizer()
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tok.EncodePrompt(s)
		if !utf8.ValidString(s) {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("invalid UTF-8 %q: got %v, want *InputError", s, err)
			}
			return
		}
		if err != nil || tok.Decode(p) != s {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

func TestTokenizerBadInput(t *testing.T) {
	tok := NewByteTokenizer()
	check := func(name string, err error, want ...string) {
		t.Helper()
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: got %v, want *InputError", name, err)
		}
		if ie.Field == "" || ie.Problem == "" || ie.Fix == "" {
			t.Fatalf("%s: incomplete InputError %+v", name, ie)
		}
		msg := err.Error()
		for _, w := range append(want, ie.Field, ie.Problem, ie.Fix) {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", name, msg, w)
			}
		}
	}
	_, err := tok.EncodePrompt("ok \xc3\x28 bad")
	check("invalid prompt", err, "UTF-8", "offset 3")
	_, err = tok.EncodeResponse("\xff")
	check("invalid response", err, "UTF-8")
	_, err = tok.EncodeResponse("")
	check("empty response", err, "empty")

	m, err := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 1, Context: 10}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Encode("12345", "678") // 7 + 4 = 11 tokens > 10
	check("over-long", err, "context limit of 10", "11 tokens")
	if _, err := m.Encode("1234", "567"); err != nil { // 6 + 4 = 10 tokens: fits exactly
		t.Fatalf("sequence of exactly Context tokens: %v", err)
	}
	_, err = m.LogProbs([]Sequence{{Prompt: []int{BOS, SEP}, Response: nil}}, 1)
	check("empty response ids", err, "response")
	_, err = m.LogProbs([]Sequence{{Prompt: make([]int, 8), Response: make([]int, 3)}}, 1)
	check("over-long ids", err, "context limit of 10")
	if got := tok.Decode([]int{BOS, 'h', 'i', SEP, PAD, 'x', EOS, 'y'}); got != "hix" {
		t.Fatalf("Decode = %q, want %q", got, "hix")
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 8}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Config{
		{VocabSize: ByteVocab, Shape: Shape{DModel: 15, Layers: 1, Heads: 2, Context: 8}},
		{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 0, Heads: 2, Context: 8}},
		{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 1}},
		{VocabSize: ByteVocab, Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 8}, DType: "float16"},
	} {
		var ie *InputError
		if err := bad.Validate(); !errors.As(err, &ie) {
			t.Errorf("%+v: got %v, want *InputError", bad, err)
		}
	}
	if _, err := New(Config{VocabSize: 100, Shape: Shape{DModel: 16, Layers: 1, Heads: 2, Context: 8}}, NewByteTokenizer()); err == nil {
		t.Error("vocab mismatch with the tokenizer accepted")
	}
}
