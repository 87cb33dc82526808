package model

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var gpt2Once struct {
	sync.Once
	tok *Tokenizer
	err error
}

func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gpt2Tokenizer is GPT-2's tokenizer from testdata/gpt2tok (vocab.json, merges.txt).
func gpt2Tokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	gpt2Once.Do(func() {
		v := gunzipFile(t, "testdata/gpt2tok/vocab.json.gz")
		m := gunzipFile(t, "testdata/gpt2tok/merges.txt.gz")
		gpt2Once.tok, gpt2Once.err = ReadVocabMerges(bytes.NewReader(v), bytes.NewReader(m), GPT2Specials)
	})
	if gpt2Once.err != nil {
		t.Fatal(gpt2Once.err)
	}
	return gpt2Once.tok
}

type gpt2Vector struct {
	Text       string `json:"text"`
	IDs        []int  `json:"ids"`
	IDsSpecial []int  `json:"ids_special"`
}

func gpt2Vectors(t testing.TB) []gpt2Vector {
	f, err := os.Open("testdata/gpt2tok/vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []gpt2Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v gpt2Vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGPT2Vocab(t *testing.T) {
	tok := gpt2Tokenizer(t)
	if tok.Kind != "bpe" || tok.VocabSize() != 50257 || len(tok.Merges()) != 50000 {
		t.Fatalf("kind %q vocab %d merges %d, want bpe 50257 50000", tok.Kind, tok.VocabSize(), len(tok.Merges()))
	}
	if sp := tok.SpecialIDs(); sp != (SpecialIDs{BOS: 50256, EOS: 50256, PAD: -1, SEP: -1}) {
		t.Fatalf("special ids %+v", sp)
	}
	if !tok.IsSpecial(50256) || tok.IsSpecial(50255) || !reflect.DeepEqual(tok.Specials(), []string{EndOfText}) {
		t.Fatal("specials wrong")
	}
}

// TestGPT2Vectors checks every vector of testdata/gpt2tok (js-tiktoken's "gpt2"): Encode
// (special text as text) and EncodeSpecial ("<|endoftext|>" = 50256) give the same ids,
// and decoding round-trips.
func TestGPT2Vectors(t *testing.T) {
	tok := gpt2Tokenizer(t)
	vs := gpt2Vectors(t)
	if len(vs) < 2000 {
		t.Fatalf("%d vectors, want >= 2000", len(vs))
	}
	bad, special := 0, 0
	for _, v := range vs {
		if got := tok.Encode(v.Text); !reflect.DeepEqual(got, v.IDs) && (len(got) > 0 || len(v.IDs) > 0) {
			if bad++; bad <= 10 {
				t.Errorf("Encode(%q) = %v, want %v", v.Text, got, v.IDs)
			}
		}
		if got := tok.DecodeAll(v.IDs); got != v.Text {
			t.Errorf("DecodeAll(%v) = %q, want %q", v.IDs, got, v.Text)
		}
		if got := tok.Decode(v.IDs); got != v.Text { // no special ids: Decode is the text
			t.Errorf("Decode(%v) = %q, want %q", v.IDs, got, v.Text)
		}
		want := v.IDs
		if v.IDsSpecial != nil {
			want = v.IDsSpecial
			special++
		}
		if got := tok.EncodeSpecial(v.Text); !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
			if bad++; bad <= 10 {
				t.Errorf("EncodeSpecial(%q) = %v, want %v", v.Text, got, want)
			}
		}
		if got := tok.DecodeAll(want); got != v.Text {
			t.Errorf("DecodeAll(%v) = %q, want %q", want, got, v.Text)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d vectors differ", bad, len(vs))
	}
	if special < 100 {
		t.Fatalf("only %d vectors with <|endoftext|>", special)
	}
	t.Logf("%d vectors (%d with <|endoftext|>) match", len(vs), special)
}

func pieces(s string) []string {
	var out []string
	splitGPT2(s, func(p string) { out = append(out, p) })
	return out
}

func TestGPT2PreTokenizer(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"hello   world", []string{"hello", "  ", " world"}},
		{"it's IT'S", []string{"it", "'s", " IT", "'", "S"}},
		{"we'll've 'd'x", []string{"we", "'ll", "'ve", " '", "d", "'", "x"}},
		{"a  \n\n b", []string{"a", "  \n\n", " b"}},
		{"end  ", []string{"end", "  "}},
		{" 123abc", []string{" 123", "abc"}},
		{"\t\tx", []string{"\t", "\t", "x"}},
		{"!!? ...", []string{"!!?", " ..."}},
		{"日本語 テスト", []string{"日本語", " テスト"}},
		{"a\u3000\u3000b", []string{"a", "\u3000", "\u3000", "b"}},         // U+3000 is \s but not the optional U+0020
		{"a\u0085b", []string{"a", "\u0085", "b"}},                         // NEL is White_Space (JavaScript's \s differs)
		{"a\ufeffb", []string{"a", "\ufeff", "b"}},                         // BOM is not White_Space (JavaScript's \s differs)
		{"x\xff\xfey", []string{"x", "\xff\xfe", "y"}},                     // invalid bytes are "other"
		{"<|endoftext|>", []string{"<|", "endoftext", "|>"}},               // specials are text to the regex
		{"👨‍👩‍👧", []string{"👨‍👩‍👧"}},                                       // ZWJ and emoji are all "other"
		{"x  \u00e9\u0301t", []string{"x", " ", " \u00e9", "\u0301", "t"}}, // combining marks are not \p{L}
	} {
		if got := pieces(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzBPERoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", "héllo  wörld\n", "日本語 🙂", "\xff it's", "<|endoftext|>x"} {
		f.Add(s)
	}
	tok := gpt2Tokenizer(f)
	f.Fuzz(func(t *testing.T, s string) {
		if got := tok.DecodeAll(tok.Encode(s)); got != s {
			t.Fatalf("Encode round trip of %q gave %q", s, got)
		}
		if got := tok.DecodeAll(tok.EncodeSpecial(s)); got != s {
			t.Fatalf("EncodeSpecial round trip of %q gave %q", s, got)
		}
		if strings.Join(pieces(s), "") != s {
			t.Fatalf("pieces of %q do not cover it", s)
		}
	})
}

// TestGPT2Framing: prompt = <|endoftext|> text, response = text <|endoftext|>; user text
// cannot inject the special token.
func TestGPT2Framing(t *testing.T) {
	tok := gpt2Tokenizer(t)
	p, err := tok.EncodePrompt("Hello")
	if err != nil || !reflect.DeepEqual(p, []int{50256, 15496}) {
		t.Fatalf("EncodePrompt = %v, %v", p, err)
	}
	r, err := tok.EncodeResponse(" world")
	if err != nil || !reflect.DeepEqual(r, []int{995, 50256}) {
		t.Fatalf("EncodeResponse = %v, %v", r, err)
	}
	if p, _ := tok.EncodePrompt(""); !reflect.DeepEqual(p, []int{50256}) {
		t.Fatalf("empty prompt = %v", p)
	}
	r, _ = tok.EncodeResponse("a<|endoftext|>b")
	if n := strings.Count(tok.DecodeAll(r), EndOfText); n != 2 || r[len(r)-1] != 50256 || tok.Decode(r) != "a<|endoftext|>b" {
		t.Fatalf("response with special text: %v", r)
	}
	for _, id := range r[:len(r)-1] {
		if tok.IsSpecial(id) {
			t.Fatalf("user text produced special id %d", id)
		}
	}
	if got := tok.Decode([]int{15496, 50256, 995}); got != "Hello" {
		t.Fatalf("Decode stops at EOS: got %q", got)
	}
	_, err = tok.EncodePrompt("bad \xff")
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("invalid UTF-8 prompt: %v", err)
	}
	noEOS, err := tok.WithRoles(SpecialTokens{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noEOS.EncodeResponse("x"); !errors.As(err, &ie) {
		t.Fatalf("no EOS: %v", err)
	}
	if p, _ := noEOS.EncodePrompt("x"); !reflect.DeepEqual(p, []int{87}) {
		t.Fatalf("no BOS prompt = %v", p)
	}
}

// tinyBPE trains a small tokenizer with "<|endoftext|>" as its last id.
func tinyBPE(t testing.TB) *Tokenizer {
	t.Helper()
	corpus := []string{"the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end of the story", "ünïcödé 日本 🙂"}
	tok, err := TrainBPE(corpus, 300, []string{EndOfText})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBPECheckpointRoundTrip(t *testing.T) {
	if b, _ := json.Marshal(NewByteTokenizer()); string(b) != `{"kind":"byte"}` {
		t.Fatalf("byte tokenizer JSON %s", b)
	}
	tok := tinyBPE(t)
	m, err := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 32}, Seed: 5}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != 300 {
		t.Fatalf("vocab %d", m.Config.VocabSize)
	}
	a := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	l, err := Load(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if l.Tok.Kind != "bpe" || !reflect.DeepEqual(l.Tok.Vocab(), tok.Vocab()) || !reflect.DeepEqual(l.Tok.Merges(), tok.Merges()) || l.Tok.Roles() != tok.Roles() || l.Tok.SpecialIDs() != tok.SpecialIDs() {
		t.Fatal("loaded tokenizer differs")
	}
	for _, s := range []string{"the cat sat on the log", "unseen wörds 🙂 <|endoftext|>", ""} {
		if a, b := tok.EncodeSpecial(s), l.Tok.EncodeSpecial(s); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: %v vs %v", s, a, b)
		}
		s1, err1 := m.Encode(s, "the mat")
		s2, err2 := l.Encode(s, "the mat")
		if err1 != nil || err2 != nil || !reflect.DeepEqual(s1, s2) {
			t.Fatalf("%q: %v %v / %v %v", s, s1, err1, s2, err2)
		}
	}
	if b := saveBytes(t, func(w *bytes.Buffer) error { return l.Clone().Save(w) }); !bytes.Equal(a, b) {
		t.Fatal("load+clone+save changed the file")
	}
	// The log-probs run with BPE ids (padding uses a valid id: EOS here, 299).
	s1, _ := m.Encode("the cat", " sat on the mat")
	s2, _ := m.Encode("a dog", " and")
	if lp, err := m.LogProbs([]Sequence{s1, s2}, 2); err != nil || len(lp) != 2 {
		t.Fatalf("LogProbs: %v %v", lp, err)
	}
}

// TestBPEGenerateStopsAtEOS: generation stops at the tokenizer's EOS, not the byte EOS.
func TestBPEGenerateStopsAtEOS(t *testing.T) {
	tok := tinyBPE(t)
	m, err := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 32}, Seed: 5}, tok)
	if err != nil {
		t.Fatal(err)
	}
	eos := tok.SpecialIDs().EOS
	if eos != 299 || m.Config.TiedEmbeddings {
		t.Fatalf("eos %d tied %v", eos, m.Config.TiedEmbeddings)
	}
	for _, p := range m.Params { // final hidden state all ones; only EOS has a logit
		switch p.Name {
		case "lnf.g", "lm_head":
			p.Value.Zero()
		case "lnf.b":
			_ = p.Value.Memset(float32(1))
		}
	}
	for _, p := range m.Params {
		if p.Name == "lm_head" {
			for d := 0; d < 8; d++ {
				_ = p.Value.SetAt(float32(1), d, eos)
			}
		}
	}
	prompt, _ := tok.EncodePrompt("the cat")
	out, err := m.Greedy([][]int{prompt}, 5)
	if err != nil || !reflect.DeepEqual(out[0], []int{eos}) {
		t.Fatalf("Greedy = %v, %v; want [%d]", out, err, eos)
	}
}

func TestBPEHFRoundTrip(t *testing.T) {
	for name, tok := range map[string]*Tokenizer{"gpt2": gpt2Tokenizer(t), "tiny": tinyBPE(t)} {
		dir := t.TempDir()
		if err := tok.WriteHF(dir, 1024); err != nil {
			t.Fatal(err)
		}
		same := func(how string, got *Tokenizer) {
			t.Helper()
			if !reflect.DeepEqual(got.Vocab(), tok.Vocab()) || !reflect.DeepEqual(got.Merges(), tok.Merges()) || got.Roles() != tok.Roles() || !reflect.DeepEqual(got.Specials(), tok.Specials()) {
				t.Fatalf("%s %s: tokenizer differs (roles %+v vs %+v)", name, how, got.Roles(), tok.Roles())
			}
		}
		hf, err := LoadHFTokenizer(dir)
		if err != nil {
			t.Fatal(err)
		}
		same("tokenizer.json", hf)
		vm, err := LoadVocabMerges(dir, tok.Roles())
		if err != nil {
			t.Fatal(err)
		}
		same("vocab.json+merges.txt", vm)
		if name != "gpt2" {
			continue
		}
		// Structure of GPT-2's tokenizer.json, and the files next to it.
		b, _ := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		var h map[string]any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		md := h["model"].(map[string]any)
		added := h["added_tokens"].([]any)[0].(map[string]any)
		if h["version"] != "1.0" || h["truncation"] != nil || h["normalizer"] != nil || md["type"] != "BPE" || md["dropout"] != nil ||
			md["continuing_subword_prefix"] != "" || len(md["vocab"].(map[string]any)) != 50257 || len(md["merges"].([]any)) != 50000 ||
			added["content"] != EndOfText || added["id"] != 50256.0 || added["special"] != true ||
			h["pre_tokenizer"].(map[string]any)["type"] != "ByteLevel" || h["pre_tokenizer"].(map[string]any)["add_prefix_space"] != false {
			t.Fatalf("tokenizer.json structure: %.400s", b)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, b)
		if !bytes.Contains(compact.Bytes(), []byte(`"vocab":{"!":0,"\"":1,`)) || !bytes.Contains(compact.Bytes(), []byte(`"<|endoftext|>":50256}`)) {
			t.Fatal("vocab not in id order")
		}
		// vocab.json and merges.txt are GPT-2's files, byte for byte.
		for file, gz := range map[string]string{"vocab.json": "vocab.json.gz", "merges.txt": "merges.txt.gz"} {
			got, _ := os.ReadFile(filepath.Join(dir, file))
			want := gunzipFile(t, "testdata/gpt2tok/"+gz)
			if file == "vocab.json" { // encoder.json has ", " and ": " separators
				var g, w map[string]int
				_ = json.Unmarshal(got, &g)
				_ = json.Unmarshal(want, &w)
				if !reflect.DeepEqual(g, w) {
					t.Fatal("vocab.json differs from GPT-2's")
				}
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from GPT-2's", file)
			}
		}
		var stm, cfg map[string]any
		b, _ = os.ReadFile(filepath.Join(dir, "special_tokens_map.json"))
		_ = json.Unmarshal(b, &stm)
		b, _ = os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
		_ = json.Unmarshal(b, &cfg)
		if !reflect.DeepEqual(stm, map[string]any{"bos_token": EndOfText, "eos_token": EndOfText, "unk_token": EndOfText}) ||
			cfg["tokenizer_class"] != "GPT2Tokenizer" || cfg["model_max_length"] != 1024.0 || cfg["add_bos_token"] != false {
			t.Fatalf("special_tokens_map %v, config %v", stm, cfg)
		}
	}
}

// TestLoadHFTokenizerSlowFiles: without tokenizer.json, LoadHFTokenizer reads vocab.json and
// merges.txt (roles from special_tokens_map.json, else GPT2Specials when the vocabulary has
// "<|endoftext|>"); without either, an *InputError says what is missing.
func TestLoadHFTokenizerSlowFiles(t *testing.T) {
	tok := tinyBPE(t)
	dir := t.TempDir()
	if err := tok.WriteHF(dir, 64); err != nil {
		t.Fatal(err)
	}
	for _, remove := range []string{"tokenizer.json", "special_tokens_map.json"} {
		if err := os.Remove(filepath.Join(dir, remove)); err != nil {
			t.Fatal(err)
		}
		got, err := LoadHFTokenizer(dir)
		if err != nil {
			t.Fatalf("without %s: %v", remove, err)
		}
		if !reflect.DeepEqual(got.Vocab(), tok.Vocab()) || !reflect.DeepEqual(got.Merges(), tok.Merges()) || got.Roles() != tok.Roles() || !reflect.DeepEqual(got.Specials(), tok.Specials()) {
			t.Fatalf("without %s: tokenizer differs (roles %+v vs %+v)", remove, got.Roles(), tok.Roles())
		}
	}
	if err := os.Remove(filepath.Join(dir, "vocab.json")); err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if _, err := LoadHFTokenizer(dir); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no vocab.json") {
		t.Errorf("no tokenizer files: %v", err)
	}
	// The tiny_gpt2 fixture's 21 tokens have no token per byte: bytes without one encode
	// as its unk_token, as transformers' GPT2Tokenizer does.
	if tiny, err := LoadHFTokenizer(hfFixtureBase); err != nil || tiny.VocabSize() != 21 {
		t.Errorf("tiny_gpt2: %v", err)
	}
}

func TestBPEBadInput(t *testing.T) {
	tok := tinyBPE(t)
	var tj bytes.Buffer
	if err := tok.WriteHFTokenizerJSON(&tj); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(h map[string]any)) string {
		var h map[string]any
		if err := json.Unmarshal(tj.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		f(h)
		b, _ := json.Marshal(h)
		return string(b)
	}
	model := func(h map[string]any) map[string]any { return h["model"].(map[string]any) }
	merges := func(h map[string]any) []any { return model(h)["merges"].([]any) }
	vocabMap := map[string]int{}
	for id, s := range tok.Vocab() {
		vocabMap[s] = id
	}
	vj, _ := json.Marshal(vocabMap)
	mt := "#version: 0.2\n" + strings.Join(tok.Merges(), "\n") + "\n"
	for _, c := range []struct {
		name string
		err  func() error
		want []string
	}{
		{"wordpiece", func() error {
			return hfErr(edit(func(h map[string]any) { model(h)["type"] = "WordPiece" }))
		}, []string{"tokenizer.json model.type", "WordPiece"}},
		{"no merges", func() error { return hfErr(edit(func(h map[string]any) { delete(model(h), "merges") })) }, []string{"model.merges", "missing"}},
		{"unknown merge token", func() error {
			return hfErr(edit(func(h map[string]any) { model(h)["merges"] = append(merges(h), "zz qq") }))
		}, []string{"merges", `"zz" is not a token`}},
		{"merged token missing", func() error {
			return hfErr(edit(func(h map[string]any) { model(h)["merges"] = append(merges(h), "q z") }))
		}, []string{"merges", `merged token "qz"`}},
		{"duplicate merge", func() error {
			return hfErr(edit(func(h map[string]any) { model(h)["merges"] = append(merges(h), merges(h)[0]) }))
		}, []string{"merges", "twice"}},
		{"normalizer", func() error {
			return hfErr(edit(func(h map[string]any) { h["normalizer"] = map[string]any{"type": "NFC"} }))
		}, []string{"normalizer"}},
		{"prefix space", func() error {
			return hfErr(edit(func(h map[string]any) { h["pre_tokenizer"].(map[string]any)["add_prefix_space"] = true }))
		}, []string{"pre_tokenizer", "add_prefix_space"}},
		{"metaspace", func() error {
			return hfErr(edit(func(h map[string]any) { h["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }))
		}, []string{"pre_tokenizer", "not ByteLevel"}},
		{"byte fallback", func() error { return hfErr(edit(func(h map[string]any) { model(h)["byte_fallback"] = true })) }, []string{"byte_fallback"}},
		{"vocab gap", func() error {
			return hfErr(edit(func(h map[string]any) { delete(model(h)["vocab"].(map[string]any), tok.Vocab()[280]) }))
		}, []string{"model.vocab", "no token with id"}},
		{"missing byte", func() error {
			return hfErr(edit(func(h map[string]any) {
				v := model(h)["vocab"].(map[string]any)
				delete(v, "!")
				v["!!!"] = 33.0
				model(h)["merges"] = []any{}
			}))
		}, []string{"lacks the token", "0x21"}},
		{"added token clash", func() error {
			return hfErr(edit(func(h map[string]any) {
				h["added_tokens"] = append(h["added_tokens"].([]any), map[string]any{"id": 5.0, "content": "<pad>"})
			}))
		}, []string{"added_tokens", "id 5"}},
		{"not json", func() error { return hfErr("{") }, []string{"tokenizer.json", "not a tokenizer.json"}},
		{"vocab.json", func() error {
			_, err := ReadVocabMerges(strings.NewReader("[1]"), strings.NewReader(mt), SpecialTokens{})
			return err
		}, []string{"vocab.json", "JSON object"}},
		{"merges.txt line", func() error {
			_, err := ReadVocabMerges(bytes.NewReader(vj), strings.NewReader(mt+"a b c\n"), SpecialTokens{})
			return err
		}, []string{"merges.txt line", "two tokens"}},
		{"merges.txt unknown", func() error {
			_, err := ReadVocabMerges(bytes.NewReader(vj), strings.NewReader(mt+"zz qq\n"), SpecialTokens{})
			return err
		}, []string{"vocab.json/merges.txt merges", `"zz"`}},
		{"role", func() error {
			_, err := ReadVocabMerges(bytes.NewReader(vj), strings.NewReader(mt), SpecialTokens{EOS: "</s>"})
			return err
		}, []string{"special token eos", "</s>"}},
		{"train size", func() error { _, err := TrainBPE([]string{"ab"}, 300, nil); return err }, []string{"vocab_size", "at most 257"}},
		{"checkpoint json", func() error {
			return json.Unmarshal([]byte(`{"kind":"bpe","vocab":["a"]}`), &Tokenizer{})
		}, []string{"tokenizer vocab", "lacks the token"}},
	} {
		err := c.err()
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field == "" || ie.Problem == "" || ie.Fix == "" {
			t.Errorf("%s: got %v, want a complete *InputError", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
	}
	if err := json.Unmarshal([]byte(`{"kind":"wordpiece"}`), &Tokenizer{}); err == nil || !strings.Contains(err.Error(), "wordpiece") {
		t.Errorf("unknown kind: %v", err)
	}
}

func hfErr(s string) error {
	_, err := ReadHFTokenizerJSON(strings.NewReader(s), SpecialTokens{})
	return err
}

// BenchmarkBPEEncode encodes realistic mixed text (this package's Go sources: English
// comments and code) with GPT-2's tokenizer; b.SetBytes makes it report MB/s.
func BenchmarkBPEEncode(b *testing.B) {
	tok := gpt2Tokenizer(b)
	var text strings.Builder
	for _, f := range []string{"doc.go", "gpt.go", "train.go", "loss.go", "sample.go"} {
		s, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		text.Write(s)
	}
	s := text.String()
	if !utf8.ValidString(s) {
		b.Fatal("not UTF-8")
	}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		n = len(tok.Encode(s))
	}
	b.ReportMetric(float64(len(s))/float64(n), "bytes/token")
}

// TestWriteHFForCheck writes GPT-2's and a trained tokenizer in Hugging Face's layout, with
// the ids EncodeSpecial gives for every vector text, into $SPACE_HF_CHECK_DIR/{gpt2,tiny}
// for testdata/gpt2tok/hfcheck.mjs (Hugging Face's tokenizers.js). Skipped when unset.
func TestWriteHFForCheck(t *testing.T) {
	out := os.Getenv("SPACE_HF_CHECK_DIR")
	if out == "" {
		t.Skip("SPACE_HF_CHECK_DIR not set")
	}
	tiny, err := TrainBPE(trainCorpus, 380, []string{EndOfText, "<|pad|>"})
	if err != nil {
		t.Fatal(err)
	}
	texts := append([]string(nil), trainCorpus...)
	for _, v := range gpt2Vectors(t) {
		texts = append(texts, v.Text)
	}
	for name, tok := range map[string]*Tokenizer{"gpt2": gpt2Tokenizer(t), "tiny": tiny} {
		d := filepath.Join(out, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tok.WriteHF(d, 1024); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, s := range texts {
			line, _ := json.Marshal(gpt2Vector{Text: s, IDs: tok.EncodeSpecial(s)})
			b.Write(append(line, '\n'))
		}
		if err := os.WriteFile(filepath.Join(d, "expect.jsonl"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBPEMergeLongMatches: the heap merge of long pieces gives encoder.py's loop's ids.
func TestBPEMergeLongMatches(t *testing.T) {
	rng := uint64(7)
	rnd := func(n int) int { rng = rng*6364136223846793005 + 1442695040888963407; return int(rng>>33) % n }
	alpha := []string{"a", "b", "e", "r", "s", "t", "th", "in", "é", "日", "🙂", "'", "-"}
	var texts []string
	for _, v := range gpt2Vectors(t) {
		texts = append(texts, v.Text)
	}
	for i := 0; i < 300; i++ {
		var b strings.Builder
		for n := 1 + rnd(120); n > 0; n-- {
			b.WriteString(alpha[rnd(len(alpha))])
		}
		texts = append(texts, b.String(), strings.Repeat("a", rnd(200)), strings.Repeat("ab", rnd(100)))
	}
	long := 0
	for _, tok := range []*Tokenizer{gpt2Tokenizer(t), tinyBPE(t)} {
		for _, s := range texts {
			for _, p := range []string{s, " " + s} {
				a, b := tok.bpe.mergeShort(p), tok.bpe.mergeLong(p)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%q: short %v long %v", p, a, b)
				}
				if len(p) > bpeLongPiece {
					long++
				}
			}
		}
	}
	t.Logf("%d long pieces", long)
}
