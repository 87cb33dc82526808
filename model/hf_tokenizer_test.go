package model

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// mapFS turns tokenizer files by name into an fs.FS.
func mapFS(files map[string][]byte) fstest.MapFS {
	fsys := fstest.MapFS{}
	for n, b := range files {
		fsys[n] = &fstest.MapFile{Data: b}
	}
	return fsys
}

// byteTexts are texts the byte tokenizer encodes: ASCII, non-ASCII, every byte alone, the
// specials' names (ordinary text), invalid UTF-8 and random bytes.
func byteTexts() []string {
	texts := []string{"", "a", "hello world", "  two  spaces\n\ttab", "héllo wörld", "日本語 🙂", "x\x00y",
		"it's 12,345.6 'll 've", "<|eos|> <|bos|><|pad|><|sep|>", "\xff\xfe bad \xc3 utf8 \xed\xa0\x80"}
	for b := 0; b < 256; b++ {
		texts = append(texts, string([]byte{byte(b)}))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		texts = append(texts, string(b))
	}
	return texts
}

// The byte tokenizer's Hugging Face files are a byte-level BPE that tokenizes exactly like
// it: read back as BPE (from tokenizer.json, and from vocab.json + merges.txt) they give the
// byte tokenizer's ids for every text, framing included, and decode them to the same text;
// ReadHFTokenizerFiles gives the byte tokenizer itself back.
func TestHFFilesByteTokenizer(t *testing.T) {
	bt := NewByteTokenizer()
	files, err := bt.HFFiles(64)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := slices.Clone(HFTokenizerFileNames)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	back, err := ReadHFTokenizerFiles(mapFS(files))
	if err != nil || back.Kind != "byte" {
		t.Fatalf("read back: %v %+v", err, back)
	}

	fromJSON, err := ReadHFTokenizerJSON(bytes.NewReader(files["tokenizer.json"]), ByteSpecials)
	if err != nil {
		t.Fatal(err)
	}
	fromVM, err := ReadVocabMerges(bytes.NewReader(files["vocab.json"]), bytes.NewReader(files["merges.txt"]), ByteSpecials)
	if err != nil {
		t.Fatal(err)
	}
	for name, bpe := range map[string]*Tokenizer{"tokenizer.json": fromJSON, "vocab.json+merges.txt": fromVM} {
		if bpe.Kind != "bpe" || bpe.VocabSize() != ByteVocab || bpe.SpecialIDs() != bt.SpecialIDs() || len(bpe.Merges()) != 0 {
			t.Fatalf("%s: kind %s vocab %d specials %+v", name, bpe.Kind, bpe.VocabSize(), bpe.SpecialIDs())
		}
		for id := 0; id < ByteVocab; id++ {
			if bpe.IsSpecial(id) != bt.IsSpecial(id) {
				t.Fatalf("%s: IsSpecial(%d) differs", name, id)
			}
		}
		for _, s := range byteTexts() {
			if a, b := bt.Encode(s), bpe.Encode(s); !slices.Equal(a, b) {
				t.Fatalf("%s: Encode(%q) = %v, byte tokenizer %v", name, s, b, a)
			}
			a, aerr := bt.EncodePrompt(s)
			b, berr := bpe.EncodePrompt(s)
			if !slices.Equal(a, b) || (aerr == nil) != (berr == nil) {
				t.Fatalf("%s: EncodePrompt(%q) = %v %v, byte tokenizer %v %v", name, s, b, berr, a, aerr)
			}
			a, aerr = bt.EncodeResponse(s)
			b, berr = bpe.EncodeResponse(s)
			if !slices.Equal(a, b) || (aerr == nil) != (berr == nil) {
				t.Fatalf("%s: EncodeResponse(%q) = %v %v, byte tokenizer %v %v", name, s, b, berr, a, aerr)
			}
			ids := append(append([]int{BOS}, bt.Encode(s)...), SEP, 'x', EOS, 'y', PAD)
			if bt.Decode(ids) != bpe.Decode(ids) || bpe.Decode(bt.Encode(s)) != s {
				t.Fatalf("%s: Decode differs for %q", name, s)
			}
		}
	}
	// The HF config files name the specials and their roles.
	for _, want := range []string{`"bos_token": "<|bos|>"`, `"eos_token": "<|eos|>"`, `"pad_token": "<|pad|>"`, `"sep_token": "<|sep|>"`} {
		if !bytes.Contains(files["special_tokens_map.json"], []byte(want)) || !bytes.Contains(files["tokenizer_config.json"], []byte(want)) {
			t.Errorf("special_tokens_map.json / tokenizer_config.json lack %s", want)
		}
	}
	// WriteHF writes the same files.
	dir := t.TempDir()
	if err := bt.WriteHF(dir, 64); err != nil {
		t.Fatal(err)
	}
	for n, b := range files {
		got, err := os.ReadFile(dir + "/" + n)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("WriteHF %s differs from HFFiles: %v", n, err)
		}
	}
	if tok, err := LoadHFTokenizer(dir); err != nil || tok.Kind != "byte" {
		t.Fatalf("LoadHFTokenizer: %v %v", tok, err)
	}
}

// tiny_gpt2's tokenizer (transformers-saved vocab.json + merges.txt of 21 tokens, without
// the 256 byte tokens) reads with "<unk>" standing for the bytes it lacks, as transformers'
// GPT2Tokenizer encodes them; its HF files round-trip.
func TestHFTokenizerFilesTinyGPT2(t *testing.T) {
	tok, err := ReadHFTokenizerFiles(os.DirFS(hfFixtureBase))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Kind != "bpe" || tok.VocabSize() != 21 || tok.Roles() != (SpecialTokens{BOS: EndOfText, EOS: EndOfText, UNK: "<unk>"}) ||
		!slices.Equal(tok.Specials(), []string{"<unk>", EndOfText}) {
		t.Fatalf("tokenizer kind %s vocab %d roles %+v specials %v", tok.Kind, tok.VocabSize(), tok.Roles(), tok.Specials())
	}
	// Merges by rank ("Ġ l", "Ġl o", "Ġlo w", "e r"); bytes without a token are <unk> (19).
	for s, want := range map[string][]int{
		" low":    {14},
		" lowest": {14, 3, 5, 6},
		" lower":  {14, 15},
		"newer":   {9, 3, 2, 15},
		"hello":   {19, 3, 0, 0, 1},
		" wider!": {10, 2, 7, 8, 15, 19},
	} {
		if got := tok.Encode(s); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", s, got, want)
		}
	}
	if p, err := tok.EncodePrompt(" low"); err != nil || !slices.Equal(p, []int{20, 14}) {
		t.Errorf("EncodePrompt = %v %v", p, err)
	}
	if got := tok.Decode([]int{19, 3, 0, 0, 1, 20, 7}); got != "ello" {
		t.Errorf("Decode = %q", got)
	}

	ck, err := ImportHFDir(hfFixtureBase, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromCk, err := ck.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.Model(fromCk); err != nil {
		t.Fatal(err)
	}
	files, err := fromCk.HFFiles(1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() (*Tokenizer, error){
		"files": func() (*Tokenizer, error) { return ReadHFTokenizerFiles(mapFS(files)) },
		"vocab.json+merges.txt": func() (*Tokenizer, error) {
			f := cloneFiles(files)
			delete(f, "tokenizer.json")
			return ReadHFTokenizerFiles(mapFS(f))
		},
		"checkpoint": func() (*Tokenizer, error) { return tok, nil },
	} {
		got, err := read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got.Vocab(), tok.Vocab()) || !reflect.DeepEqual(got.Merges(), tok.Merges()) || got.Roles() != tok.Roles() || !reflect.DeepEqual(got.Specials(), tok.Specials()) {
			t.Fatalf("%s: tokenizer differs: roles %+v specials %v", name, got.Roles(), got.Specials())
		}
	}
	if !bytes.Contains(files["tokenizer.json"], []byte(`"unk_token": "<unk>"`)) || !bytes.Contains(files["special_tokens_map.json"], []byte(`"unk_token": "<unk>"`)) {
		t.Error("the unknown-byte token is not written")
	}
}

func cloneFiles(m map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestReadHFTokenizerFilesErrors(t *testing.T) {
	gpt2 := gpt2Tokenizer(t)
	files, err := gpt2.HFFiles(1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		files map[string][]byte
		want  []string
	}{
		"nothing":        {map[string][]byte{"config.json": []byte("{}")}, []string{"tokenizer.json", "vocab.json", "merges.txt", "save_pretrained"}},
		"vocab only":     {map[string][]byte{"vocab.json": files["vocab.json"]}, []string{"no merges.txt"}},
		"merges only":    {map[string][]byte{"merges.txt": files["merges.txt"]}, []string{"no vocab.json"}},
		"bad map":        {map[string][]byte{"tokenizer.json": files["tokenizer.json"], "special_tokens_map.json": []byte("[")}, []string{"special_tokens_map.json", "not a JSON object"}},
		"no byte tokens": {map[string][]byte{"vocab.json": []byte(`{"a":0,"b":1}`), "merges.txt": []byte("")}, []string{"vocab.json", "lacks the token", "unk_token"}},
	} {
		_, err := ReadHFTokenizerFiles(mapFS(c.files))
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: %v, want an *InputError", name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", name, err, w)
			}
		}
	}
	// Without special_tokens_map.json, GPT-2's vocabulary gets GPT2Specials either way; with
	// it (unk_token "<|endoftext|>"), the unknown-byte token is dropped: GPT-2 has every byte.
	for _, drop := range []string{"special_tokens_map.json", "tokenizer.json", ""} {
		f := cloneFiles(files)
		delete(f, drop)
		if drop == "tokenizer.json" {
			delete(f, "special_tokens_map.json")
		}
		got, err := ReadHFTokenizerFiles(mapFS(f))
		if err != nil || got.Roles() != GPT2Specials || got.VocabSize() != GPT2VocabSize {
			t.Fatalf("without %s: %v roles %+v", drop, err, got.Roles())
		}
	}
}
