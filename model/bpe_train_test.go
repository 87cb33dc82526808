package model

import (
	"reflect"
	"strings"
	"testing"
)

var trainCorpus = []string{
	"the quick brown fox jumps over the lazy dog",
	"the lazy dog sleeps; the quick fox runs",
	"a fox, a dog and the cat: it's the cat's day",
	"Ünïcödé wörds, 日本語のテキスト, emoji 🙂🙂 and numbers 12345 67890",
	"  indented\n\tcode(x) { return x + 1; }\n",
}

func TestTrainBPE(t *testing.T) {
	tok, err := TrainBPE(trainCorpus, 380, []string{EndOfText, "<|pad|>"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 380 || len(tok.Merges()) != 380-256-2 {
		t.Fatalf("vocab %d merges %d", tok.VocabSize(), len(tok.Merges()))
	}
	if sp := tok.SpecialIDs(); sp != (SpecialIDs{BOS: 378, EOS: 378, PAD: -1, SEP: -1}) || !tok.IsSpecial(379) {
		t.Fatalf("special ids %+v", sp)
	}
	for b := 0; b < 256; b++ { // byte tokens first, id = byte
		if got := tok.Encode(string([]byte{byte(b)})); !reflect.DeepEqual(got, []int{b}) && b < 0x80 {
			t.Fatalf("byte %d encodes as %v", b, got)
		}
	}
	// Deterministic, whatever the order of the texts.
	rev := append([]string(nil), trainCorpus...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	again, err := TrainBPE(rev, 380, []string{EndOfText, "<|pad|>"})
	if err != nil || !reflect.DeepEqual(again.Vocab(), tok.Vocab()) || !reflect.DeepEqual(again.Merges(), tok.Merges()) {
		t.Fatal("training is not deterministic")
	}
	// Round trips, seen and unseen text; frequent words compress.
	for _, s := range append(trainCorpus, "unseen Zebras 🦓 <|endoftext|> \xff\xfe", "") {
		if got := tok.DecodeAll(tok.Encode(s)); got != s {
			t.Fatalf("round trip %q -> %q", s, got)
		}
		if got := tok.DecodeAll(tok.EncodeSpecial(s)); got != s {
			t.Fatalf("special round trip %q -> %q", s, got)
		}
	}
	if ids := tok.Encode(" the"); len(ids) != 1 {
		t.Fatalf("frequent word \" the\" is %v, want one token", ids)
	}
	if ids := tok.EncodeSpecial("a<|pad|>"); len(ids) != 2 || ids[1] != 379 {
		t.Fatalf("EncodeSpecial with a second special: %v", ids)
	}
	// No merge crosses a pre-token boundary: no token has a letter followed by a space.
	for _, v := range tok.Vocab()[256:378] {
		b, _ := tokenToBytes(v)
		if i := strings.IndexByte(string(b), ' '); i > 0 && strings.TrimSpace(string(b[:i])) != "" {
			t.Fatalf("token %q crosses a piece boundary", b)
		}
	}
}

// TestTrainBPEOrder: the most frequent pair is merged first; ties go to the smaller ids.
func TestTrainBPEOrder(t *testing.T) {
	tok, err := TrainBPE([]string{"ab ab ab cd cd xy"}, 256+4, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Pieces: "ab" x1, " ab" x2, " cd" x2, " xy" x1. Pair counts: (a,b) 3, (space,a) 2,
	// (space,c) 2, (c,d) 2, ... First (a,b) -> 256; then the ties at 2 by smallest ids:
	// (space=32,c=99) -> 257 before (32,256) -> 258, then (257,d) -> 259.
	want := []string{"a b", "Ġ c", "Ġ ab", "Ġc d"}
	if got := tok.Merges(); !reflect.DeepEqual(got, want) {
		t.Fatalf("merges %q, want %q", got, want)
	}
	if got := tok.Encode("ab ab cd"); !reflect.DeepEqual(got, []int{256, 258, 259}) {
		t.Fatalf("Encode = %v", got)
	}
	if _, err := TrainBPE([]string{"ab"}, 258, []string{"x", "x"}); err == nil {
		t.Fatal("repeated special accepted")
	}
	if _, err := TrainBPE(nil, 255, nil); err == nil {
		t.Fatal("vocab below 256 accepted")
	}
}
