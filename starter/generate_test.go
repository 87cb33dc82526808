package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// generate runs `space generate args` with in as stdin and returns what it printed.
func generate(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	stdout, stderr, stdin = &out, &errOut, strings.NewReader(in)
	defer func() { stdout, stderr, stdin = os.Stdout, os.Stderr, os.Stdin }()
	err := cmdGenerate(context.Background(), args)
	return out.String(), err
}

// mustGenerate is generate that fails the test on an error.
func mustGenerate(t *testing.T, in string, args ...string) string {
	t.Helper()
	out, err := generate(t, in, args...)
	if err != nil {
		t.Fatalf("generate %q: %v\n%s", args, err, out)
	}
	return out
}

// wantError checks that generate fails with a message containing every part.
func wantError(t *testing.T, in string, args []string, parts ...string) {
	t.Helper()
	_, err := generate(t, in, args...)
	if err == nil {
		t.Fatalf("generate %q: no error, want one with %q", args, parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("generate %q: error %q lacks %q", args, err, p)
		}
	}
}

// genModel is a small random model (its samples vary with the seed and rarely end early).
func genModel(t *testing.T, tok *model.Tokenizer, tied bool) *model.GPT {
	t.Helper()
	m, err := model.New(model.Config{Shape: model.Shape{DModel: 16, Layers: 1, Heads: 2, Context: 32}, TiedEmbeddings: tied, Seed: 1}, tok)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hfFolder writes m as `space export --format hf` would: ExportHF, plus the Hugging Face
// tokenizer files of a BPE tokenizer (a byte-level model has none).
func hfFolder(t *testing.T, m *model.GPT) string {
	t.Helper()
	dir := t.TempDir()
	if err := model.ExportHFDir(m, dir, model.HFExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if m.Tok.Kind == "bpe" {
		if err := m.Tok.WriteHF(dir, m.Config.Context); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func decodeLines(t *testing.T, out string) []generated {
	t.Helper()
	var lines []generated
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var g generated
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, g)
	}
	return lines
}

// plainBlock is one prompt's part of the plain output.
type plainBlock struct{ header, prompt, completion, footer string }

// parsePlain splits the plain output into its blocks:
// "=== prompt I (seed S)\nPROMPT\n--- completion\nTEXT\n--- FINISH, N tokens\n\n".
func parsePlain(t *testing.T, out string, prompts []string) []plainBlock {
	t.Helper()
	var blocks []plainBlock
	for i, p := range prompts {
		header, rest, ok := strings.Cut(out, "\n")
		if !ok || !strings.HasPrefix(header, "=== prompt ") {
			t.Fatalf("block %d: no header in %q", i, out)
		}
		rest, ok = strings.CutPrefix(rest, p+"\n--- completion\n")
		if !ok {
			t.Fatalf("block %d: prompt %q not echoed in %q", i, p, rest)
		}
		k := strings.LastIndex(rest, "\n--- ") // the completion may contain anything but this footer
		if next := strings.Index(rest, "\n\n=== prompt "); next >= 0 {
			k = strings.LastIndex(rest[:next], "\n--- ")
		}
		footer, after, _ := strings.Cut(rest[k+1:], "\n\n")
		blocks = append(blocks, plainBlock{header, p, rest[:k], footer})
		out = after
	}
	if out != "" {
		t.Fatalf("left over: %q", out)
	}
	return blocks
}

// asJSONString is s after a round trip through a JSON string (each byte that is not valid
// UTF-8 becomes U+FFFD).
func asJSONString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// TestGenerateHF samples from a byte-level model exported with model.ExportHFDir (no
// tokenizer files): the JSON lines are Generate's samples with seeds --seed+i, the same
// seed gives the same output, a prompt alone with its printed seed reproduces its line,
// --batch changes nothing, and the streamed plain text equals the final decode.
func TestGenerateHF(t *testing.T) {
	m := genModel(t, model.NewByteTokenizer(), true)
	dir := hfFolder(t, m)
	prompts := []string{"1+2=", "hello", "ünï 日本"}
	args := []string{"--hf", dir, "--seed", "5", "--max-new-tokens", "12", "--top-k", "100"}
	for _, p := range prompts {
		args = append(args, "--prompt", p)
	}
	out := mustGenerate(t, "", append(args, "--json")...)
	lines := decodeLines(t, out)
	if len(lines) != len(prompts) {
		t.Fatalf("%d lines for %d prompts:\n%s", len(lines), len(prompts), out)
	}
	sc := model.SampleConfig{Temperature: 1, TopK: 100, TopP: 1, MaxNewTokens: 12}
	want := make([]string, len(prompts)) // Decode of Generate's sample
	for i, g := range lines {
		ids, _ := m.Tok.EncodePrompt(prompts[i])
		r, err := m.Generate([][]int{ids}, []uint64{5 + uint64(i)}, sc)
		if err != nil {
			t.Fatal(err)
		}
		finish := "length"
		if r[0][len(r[0])-1] == model.EOS {
			finish = "eos"
		}
		want[i] = m.Tok.Decode(r[0])
		w := generated{Index: i, Prompt: prompts[i], Completion: asJSONString(want[i]), PromptTokens: len(ids),
			CompletionTokens: len(r[0]), FinishReason: finish, Seed: 5 + uint64(i)}
		if g != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if again := mustGenerate(t, "", append(args, "--json")...); again != out {
		t.Errorf("same seed, different output:\n%s\n%s", out, again)
	}
	if other := mustGenerate(t, "", append(args, "--json", "--seed", "6")...); other == out {
		t.Errorf("seeds 5 and 6 gave the same output")
	}
	if b1 := mustGenerate(t, "", append(args, "--json", "--batch", "1")...); b1 != out {
		t.Errorf("--batch 1 changed the output:\n%s\n%s", out, b1)
	}
	alone := decodeLines(t, mustGenerate(t, "", "--hf", dir, "--seed", "6", "--max-new-tokens", "12", "--top-k", "100", "--json", "--prompt", prompts[1]))
	if len(alone) != 1 || alone[0].Completion != lines[1].Completion || alone[0].Seed != 6 {
		t.Errorf("prompt 1 alone with seed 6: %+v, in the list: %+v", alone, lines[1])
	}

	// Plain output: each prompt's streamed text is the final decode.
	for i, b := range parsePlain(t, mustGenerate(t, "", args...), prompts) {
		if h := fmt.Sprintf("=== prompt %d (seed %d)", i, 5+i); b.header != h {
			t.Errorf("block %d header %q, want %q", i, b.header, h)
		}
		if b.completion != want[i] {
			t.Errorf("block %d streamed %q, decode %q", i, b.completion, want[i])
		}
		if f := fmt.Sprintf("--- %s, %d tokens", lines[i].FinishReason, lines[i].CompletionTokens); b.footer != f {
			t.Errorf("block %d footer %q, want %q", i, b.footer, f)
		}
	}
}

// TestGenerateTextStream: pieces end on whole characters, an invalid byte is not held
// back, and the pieces (plus rest) add up to Decode, for byte and BPE tokens.
func TestGenerateTextStream(t *testing.T) {
	byteTok := model.NewByteTokenizer()
	s := &textStream{tok: byteTok}
	var pieces []string
	for _, id := range []int{'a', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff, model.EOS} { // a é € \xff EOS
		pieces = append(pieces, s.add(id))
	}
	if want := []string{"a", "", "é", "", "", "€", "\xff", ""}; !reflect.DeepEqual(pieces, want) {
		t.Errorf("byte pieces %q, want %q", pieces, want)
	}
	s = &textStream{tok: byteTok}
	if p := s.add(0xe2) + s.add(0x82); p != "" || s.rest() != "\xe2\x82" {
		t.Errorf("unfinished character: %q then rest", p)
	}

	corpus := []string{"ünïcödé 日本語のテキスト 🙂🙃", "the cat sat on the mat", "naïve café 日本 🙂"}
	tok, err := model.TrainBPE(corpus, 300, []string{model.EndOfText})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range corpus {
		s := &textStream{tok: tok}
		var got strings.Builder
		for _, id := range tok.Encode(text) {
			p := s.add(id)
			if !utf8.ValidString(p) {
				t.Errorf("%q: piece %q is not valid UTF-8", text, p)
			}
			got.WriteString(p)
		}
		got.WriteString(s.rest())
		if got.String() != text {
			t.Errorf("pieces add up to %q, want %q", got.String(), text)
		}
	}
}

// TestGenerateBPE samples from a BPE model exported as a Hugging Face folder (ExportHFDir
// plus the tokenizer's WriteHF files): plain output streams the decode of Generate's sample.
func TestGenerateBPE(t *testing.T) {
	tok, err := model.TrainBPE([]string{"the cat sat on the mat", "ünïcödé 日本 🙂", "1+2=3"}, 270, []string{model.EndOfText})
	if err != nil {
		t.Fatal(err)
	}
	m := genModel(t, tok, false)
	dir := hfFolder(t, m)
	prompts := []string{"the cat", "日本"}
	out := mustGenerate(t, "", "--hf", dir, "--prompt", prompts[0], "--prompt", prompts[1], "--seed", "3", "--max-new-tokens", "10")
	sc := model.DefaultSampling()
	sc.MaxNewTokens = 10
	for i, b := range parsePlain(t, out, prompts) {
		ids, _ := tok.EncodePrompt(prompts[i])
		r, err := m.Generate([][]int{ids}, []uint64{3 + uint64(i)}, sc)
		if err != nil {
			t.Fatal(err)
		}
		if b.completion != tok.Decode(r[0]) {
			t.Errorf("prompt %d: streamed %q, decode %q", i, b.completion, tok.Decode(r[0]))
		}
	}
}

// TestGenerateTinyGPT2 uses the transformers-saved fixture (GPT2Model layout, 21 ids, a
// vocab.json without a token per byte: those bytes are its unk_token): it samples from it,
// the same text for the same seed; without its tokenizer files the error says those are
// missing.
func TestGenerateTinyGPT2(t *testing.T) {
	fixture := filepath.Join("..", "model", "testdata", "hf", "tiny_gpt2")
	args := []string{"--hf", fixture, "--prompt", "low", "--max-new-tokens", "5", "--json"}
	a, b := mustGenerate(t, "", args...), mustGenerate(t, "", args...)
	if g := decodeLines(t, a); len(g) != 1 || g[0].CompletionTokens == 0 || string(a) != string(b) {
		t.Errorf("tiny_gpt2: %s then %s", a, b)
	}
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(fixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantError(t, "", []string{"--hf", dir, "--prompt", "low"}, "no tokenizer files", "vocab_size 21")
}

// TestGeneratePrompts: prompts from flags, a file, stdin, JSON Lines; blank lines skipped,
// CRLF handled; flags first, then the file.
func TestGeneratePrompts(t *testing.T) {
	dir := hfFolder(t, genModel(t, model.NewByteTokenizer(), true))
	prompts := func(in string, args ...string) []string {
		t.Helper()
		var ps []string
		for _, g := range decodeLines(t, mustGenerate(t, in, append([]string{"--hf", dir, "--json", "--max-new-tokens", "1"}, args...)...)) {
			ps = append(ps, g.Prompt)
		}
		return ps
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: prompts %q, want %q", what, got, want)
		}
	}
	same("stdin", prompts("a\r\n\n  b c \n\nd"), []string{"a", "  b c ", "d"})
	same("stdin JSONL", prompts(`{"prompt": "x", "response": "y"}`+"\n\n"+`{"prompt": "line\nbreak"}`+"\n"), []string{"x", "line\nbreak"})
	file := filepath.Join(t.TempDir(), "prompts.txt")
	if err := os.WriteFile(file, []byte("f1\nf2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	same("--prompts FILE", prompts("ignored", "--prompts", file), []string{"f1", "f2"})
	same("--prompt and --prompts", prompts("", "--prompt", "p", "--prompts", file), []string{"p", "f1", "f2"})
	same("--prompts -", prompts("s1\n", "--prompt", "p", "--prompts", "-"), []string{"p", "s1"})
	same("--prompt alone ignores stdin", prompts("s1\n", "--prompt", "p"), []string{"p"})

	wantError(t, "", []string{"--hf", dir}, "no prompts")
	wantError(t, "\n \n", []string{"--hf", dir}, "no prompts")
	wantError(t, `{"prompt": "x"}`+"\n"+`{"text": "y"}`, []string{"--hf", dir}, "stdin line 2", `no "prompt"`)
	wantError(t, `{"prompt": "x"}`+"\nplain", []string{"--hf", dir}, "stdin line 2", "not a JSON object")
	wantError(t, "", []string{"--hf", dir, "--prompts", filepath.Join(dir, "missing.txt")}, "--prompts", "missing.txt")
}

// riggedModel is an untied model whose greedy choice is always token target: the final
// LayerNorm outputs a constant vector of ones and lm_head's only non-zero column is target.
func riggedModel(t *testing.T, target int) *model.GPT {
	t.Helper()
	m := genModel(t, model.NewByteTokenizer(), false)
	V := m.Config.VocabSize
	for _, p := range m.Params {
		d := p.Value.Data().([]float32)
		switch p.Name {
		case "lnf.g":
			clear(d)
		case "lnf.b":
			for j := range d {
				d[j] = 1
			}
		case "lm_head":
			clear(d)
			for j := 0; j < m.Config.DModel; j++ {
				d[j*V+target] = 1
			}
		}
	}
	return m
}

// saveModel writes m as a space checkpoint file and returns its path and bytes.
func saveModel(t *testing.T, m *model.GPT) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// TestGenerateCheckpoint reads --checkpoint files and `space export` folders (verified
// against their manifest.json) and checks the three finish reasons.
func TestGenerateCheckpoint(t *testing.T) {
	eosFile, _ := saveModel(t, riggedModel(t, model.EOS))
	g := decodeLines(t, mustGenerate(t, "", "--checkpoint", eosFile, "--temperature", "0", "--json", "--prompt", "hi"))
	if len(g) != 1 || g[0].FinishReason != "eos" || g[0].Completion != "" || g[0].CompletionTokens != 1 || g[0].PromptTokens != 4 {
		t.Errorf("EOS model: %+v", g)
	}

	aFile, data := saveModel(t, riggedModel(t, 'a'))
	// Context 32: a 26-byte prompt is 28 tokens framed, leaving 4.
	long := strings.Repeat("x", 26)
	g = decodeLines(t, mustGenerate(t, "", "--checkpoint", aFile, "--temperature", "0", "--json", "--max-new-tokens", "3", "--prompt", "hi", "--prompt", long))
	if len(g) != 2 || g[0].FinishReason != "length" || g[0].Completion != "aaa" || g[1].FinishReason != "length" {
		t.Errorf("max-new-tokens 3: %+v", g)
	}
	g = decodeLines(t, mustGenerate(t, "", "--checkpoint", aFile, "--temperature", "0", "--json", "--max-new-tokens", "10", "--prompt", long))
	if len(g) != 1 || g[0].FinishReason != "context" || g[0].Completion != "aaaa" || g[0].PromptTokens+g[0].CompletionTokens != 32 {
		t.Errorf("context: %+v", g)
	}
	wantError(t, "", []string{"--checkpoint", aFile, "--prompt", "ok", "--prompt", strings.Repeat("x", 30)},
		"prompt 1 is 32 tokens long", "context is 32 tokens")

	// A folder as `space export` writes it: model.safetensors and the round's manifest.
	dir := filepath.Dir(aFile)
	man := storage.Manifest{Version: 1, Keys: []storage.Object{{Key: "runs/r/rounds/001/model.safetensors", SHA256: storage.SHA256Hex(data), Size: int64(len(data))}}}
	writeJSON := func(v any) {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(man)
	out := mustGenerate(t, "", "--checkpoint", dir, "--temperature", "0", "--max-new-tokens", "2", "--prompt", "hi")
	if !strings.Contains(out, "--- completion\naa\n--- length, 2 tokens\n") {
		t.Errorf("folder: %q", out)
	}
	man.Keys[0].SHA256 = strings.Repeat("0", 64)
	writeJSON(man)
	wantError(t, "", []string{"--checkpoint", dir, "--prompt", "hi"}, "manifest.json lists "+strings.Repeat("0", 64))

	// The wrong flag for a folder says which one to use.
	hf := hfFolder(t, riggedModel(t, 'a'))
	wantError(t, "", []string{"--checkpoint", hf, "--prompt", "hi"}, "use --hf")
	wantError(t, "", []string{"--hf", dir, "--prompt", "hi"}, "no config.json", "--checkpoint")
}

// TestGenerateErrors: model source, flags and arguments are checked with messages that name
// what to change.
func TestGenerateErrors(t *testing.T) {
	file, _ := saveModel(t, genModel(t, model.NewByteTokenizer(), true))
	ck := []string{"--checkpoint", file, "--prompt", "hi"}
	for _, tc := range []struct {
		args  []string
		parts []string
	}{
		{[]string{"--prompt", "hi"}, []string{"no model", "--run", "--model", "--hf", "--checkpoint"}},
		{[]string{"--run", "r", "--hf", "d", "--prompt", "hi"}, []string{"--run and --hf", "only one"}},
		{append([]string{"--round", "1"}, ck...), []string{"--round needs --run"}},
		{append([]string{"--sha256", "ab"}, ck...), []string{"--sha256 needs --model"}},
		{append([]string{"--temperature", "-1"}, ck...), []string{"--temperature", "-1"}},
		{append([]string{"--top-k", "-2"}, ck...), []string{"--top-k", "-2 is negative"}},
		{append([]string{"--top-p", "1.5"}, ck...), []string{"--top-p", "outside [0, 1]"}},
		{append([]string{"--max-new-tokens", "0"}, ck...), []string{"--max-new-tokens", "below 1"}},
		{append([]string{"extra"}, ck...), []string{`unexpected arguments "extra"`, "--prompt"}},
		{[]string{"--checkpoint", filepath.Join(t.TempDir(), "none"), "--prompt", "hi"}, []string{"--checkpoint", "no such file"}},
		{[]string{"--hf", filepath.Join(t.TempDir(), "none"), "--prompt", "hi"}, []string{"--hf", "config.json"}},
		{[]string{"--run", "Bad/Name", "--round", "1", "--prompt", "hi"}, []string{"--run", "Bad/Name"}},
		{[]string{"--checkpoint", file, "--prompt", "bad \xff"}, []string{"prompt 0", "UTF-8"}},
	} {
		wantError(t, "", tc.args, tc.parts...)
	}
}

// TestGenerateS3 reads a round's model through its manifest (--run --round) and a key
// (--model) from a real S3 gateway, and checks the errors of a missing round, a missing
// key, a wrong --sha256 and an object without a stored sha256.
func TestGenerateS3(t *testing.T) {
	st := stacktest.StartS3(t)
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	store, err := storage.New(ctx, st.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	m := riggedModel(t, 'a')
	_, data := saveModel(t, m)
	obj, err := store.Put(ctx, storage.RoundModelKey("gen", 1), data)
	if err != nil {
		t.Fatal(err)
	}
	man := storage.Manifest{CreatedBy: "TestGenerateS3"}
	man.Add(obj)
	if _, err := storage.WriteManifest(ctx, store, storage.RoundManifestKey("gen", 1), &man); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--temperature", "0", "--max-new-tokens", "3", "--prompt", "hi", "--json"}
	for _, src := range [][]string{{"--run", "gen", "--round", "1"}, {"--model", obj.Key}, {"--model", obj.Key, "--sha256", obj.SHA256}} {
		g := decodeLines(t, mustGenerate(t, "", append(src, flags...)...))
		if len(g) != 1 || g[0].Completion != "aaa" {
			t.Errorf("%v: %+v", src, g)
		}
	}
	wantError(t, "", append([]string{"--run", "gen", "--round", "2"}, flags...), "round 2 of run gen has no manifest")
	wantError(t, "", append([]string{"--model", "runs/gen/none.safetensors"}, flags...), "runs/gen/none.safetensors")
	wantError(t, "", append([]string{"--model", obj.Key, "--sha256", strings.Repeat("0", 64)}, flags...), "sha256")

	// An object uploaded by another tool has no stored sha256: --sha256 is needed.
	key, bucket := "uploads/model.safetensors", store.Bucket()
	if _, err := store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "", append([]string{"--model", key}, flags...), "no sha256 stored", "--sha256")
	g := decodeLines(t, mustGenerate(t, "", append([]string{"--model", key, "--sha256", obj.SHA256}, flags...)...))
	if len(g) != 1 || g[0].Completion != "aaa" {
		t.Errorf("--sha256: %+v", g)
	}
}
