package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// tinyGPT2 is a GPT2Model saved by transformers (model/testdata/hf/README.md): vocab 21
// (vocab.json + merges.txt without the 256 byte tokens), n_embd 2, 1 layer, F32.
const tinyGPT2 = "../model/testdata/hf/tiny_gpt2"

// s3Env starts the S3 gateway, points the CLI's environment at it and returns a store.
func s3Env(t *testing.T) *storage.Store {
	t.Helper()
	st := stacktest.StartS3(t)
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	store, err := storage.New(context.Background(), storage.ConfigFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// runCmd runs a CLI command and returns its error and what it printed.
func runCmd(cmd func(context.Context, []string) error, args ...string) (string, error) {
	var buf bytes.Buffer
	stdout = &buf
	defer func() { stdout = os.Stdout }()
	err := cmd(context.Background(), args)
	return buf.String(), err
}

func importJSON(t *testing.T, src, key string) imported {
	t.Helper()
	var res imported
	if err := json.Unmarshal(capture(t, cmdImport, "hf", src, "--out", key, "--json"), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func exportJSON(t *testing.T, args ...string) exported {
	t.Helper()
	var res exported
	if err := json.Unmarshal(capture(t, cmdExport, append(args, "--json")...), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func loadKey(t *testing.T, store *storage.Store, key string) *model.GPT {
	t.Helper()
	b, err := store.Get(context.Background(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stTensor is a safetensors header entry.
type stTensor struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// readST returns a safetensors file's tensors (metadata dropped) and the data of each.
func readST(t *testing.T, path string) (map[string]stTensor, map[string][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		t.Fatal(err)
	}
	ts, data := map[string]stTensor{}, map[string][]byte{}
	for name, r := range raw {
		if name == "__metadata__" {
			continue
		}
		var e stTensor
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatal(err)
		}
		ts[name] = e
		data[name] = b[8+n+uint64(e.Offsets[0]) : 8+n+uint64(e.Offsets[1])]
	}
	return ts, data
}

// sameWeights fails unless a and b have the same config and bit-identical parameters.
func sameWeights(t *testing.T, a, b *model.GPT) {
	t.Helper()
	ca, cb := a.Config, b.Config
	ca.Seed, cb.Seed = 0, 0 // initialization only
	if ca != cb || len(a.Params) != len(b.Params) {
		t.Fatalf("config %+v vs %+v", cb, ca)
	}
	for i, p := range a.Params {
		q := b.Params[i]
		x, y := p.Value.Data().([]float32), q.Value.Data().([]float32)
		if p.Name != q.Name || len(x) != len(y) {
			t.Fatalf("param %s vs %s", p.Name, q.Name)
		}
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				t.Fatalf("%s[%d] = %v, want %v", q.Name, j, y[j], x[j])
			}
		}
	}
}

// sameLogProbs fails unless a and b give identical log-probs (each model encodes the pairs
// with its own tokenizer) and the encodings are equal.
func sameLogProbs(t *testing.T, a, b *model.GPT, pairs [][2]string) {
	t.Helper()
	var sa, sb []model.Sequence
	for _, p := range pairs {
		x, err := a.Encode(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Encode(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("%q encodes to %v, was %v", p, y, x)
		}
		sa, sb = append(sa, x), append(sb, y)
	}
	la, err := a.LogProbs(sa, 2)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.LogProbs(sb, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(la, lb) {
		t.Fatalf("log-probs %v, were %v", lb, la)
	}
}

// TestImportHF imports transformers' tiny GPT-2 from a folder and from S3 (same checkpoint),
// exports it as a transformers folder (the fixture's tensors and architecture), re-imports
// that (same weights, log-probs and tokenization), and checks the errors.
func TestImportHF(t *testing.T) {
	store := s3Env(t)
	ctx := context.Background()

	a := importJSON(t, tinyGPT2, "models/tiny/model.safetensors")
	c := a.Config
	if a.Key != "models/tiny/model.safetensors" || len(a.SHA256) != 64 || a.Bytes == 0 || a.Layout != "GPT2Model" || a.Tokenizer != "bpe" ||
		c.VocabSize != 21 || c.DModel != 2 || c.Layers != 1 || c.Heads != 1 || c.Context != 1024 || a.NPositions != 1024 ||
		!c.TiedEmbeddings || !slices.Equal(a.SourceDTypes, []string{"F32"}) || a.Parameters == 0 {
		t.Fatalf("import: %+v", a)
	}
	obj, err := store.Stat(ctx, a.Key)
	if err != nil || obj.SHA256 != a.SHA256 || obj.Size != a.Bytes {
		t.Fatalf("stored %+v %v, printed %+v", obj, err, a)
	}
	m := loadKey(t, store, a.Key)
	if m.NumParams() != a.Parameters || m.Tok.VocabSize() != 21 {
		t.Fatalf("loaded %d params, vocab %d", m.NumParams(), m.Tok.VocabSize())
	}

	// The same files under an S3 prefix: the same checkpoint.
	entries, err := os.ReadDir(tinyGPT2)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(tinyGPT2, e.Name()))
		if _, err := store.Put(ctx, "hf/tiny_gpt2/"+e.Name(), b); err != nil {
			t.Fatal(err)
		}
	}
	if b := importJSON(t, "s3://hf/tiny_gpt2/", "models/tiny-s3/model.safetensors"); b.SHA256 != a.SHA256 {
		t.Fatalf("import from S3: sha256 %s, from the folder %s", b.SHA256, a.SHA256)
	}
	out, err := runCmd(cmdImport, "hf", "s3://hf/tiny_gpt2", "--out", "models/tiny-s3/model.safetensors")
	if err != nil || !strings.Contains(out, a.SHA256) || !strings.Contains(out, `"base": "models/tiny-s3/model.safetensors"`) {
		t.Fatalf("text output %v:\n%s", err, out)
	}

	// Export as a transformers folder: the fixture's tensors (transformers writes the same
	// weights of a GPT2LMHeadModel under "transformer."; the tied lm_head is not written).
	dir := t.TempDir()
	ex := exportJSON(t, "--model", a.Key, "--format", "hf", "--out", dir)
	if ex.SHA256 != a.SHA256 || !ex.Verified || ex.Format != "hf" || ex.Run != "" || ex.Round != nil || ex.ModelKey != a.Key {
		t.Fatalf("export: %+v", ex)
	}
	var names []string
	for _, f := range ex.Files {
		names = append(names, filepath.Base(f))
	}
	want := append([]string{"config.json", "generation_config.json", "model.safetensors"}, model.HFTokenizerFileNames...)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("exported files %v, want %v", names, want)
	}
	got, gotData := readST(t, filepath.Join(dir, "model.safetensors"))
	fix, fixData := readST(t, filepath.Join(tinyGPT2, "model.safetensors"))
	if len(got) != len(fix) {
		t.Fatalf("%d tensors exported, transformers saved %d", len(got), len(fix))
	}
	for name, ft := range fix {
		et, ok := got["transformer."+name]
		if !ok || et.DType != ft.DType || !slices.Equal(et.Shape, ft.Shape) || !bytes.Equal(gotData["transformer."+name], fixData[name]) {
			t.Fatalf("tensor %s: exported %+v (present %v), transformers saved %+v", name, et, ok, ft)
		}
	}
	var gotCfg, fixCfg map[string]any
	for p, v := range map[string]*map[string]any{filepath.Join(dir, "config.json"): &gotCfg, filepath.Join(tinyGPT2, "config.json"): &fixCfg} {
		b, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	for _, k := range []string{"model_type", "vocab_size", "n_embd", "n_layer", "n_head", "n_positions", "n_inner", "activation_function",
		"layer_norm_epsilon", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "bos_token_id", "eos_token_id"} {
		if !reflect.DeepEqual(gotCfg[k], fixCfg[k]) {
			t.Errorf("config.json %s = %v, transformers saved %v", k, gotCfg[k], fixCfg[k])
		}
	}

	// Re-import: the same weights bit for bit (the same checkpoint, byte for byte), the same
	// log-probs and tokenization.
	r := importJSON(t, dir, "models/tiny-again/model.safetensors")
	if r.Layout != "GPT2LMHeadModel" || r.Config != a.Config {
		t.Fatalf("re-import: %+v", r)
	}
	again := loadKey(t, store, r.Key)
	sameWeights(t, m, again)
	pairs := [][2]string{{" low", " lower newer"}, {"hello", " wider!"}, {"", "é\n"}, {" lowest", " low"}}
	sameLogProbs(t, m, again, pairs)
	if r.SHA256 != a.SHA256 {
		t.Errorf("re-imported checkpoint sha256 %s, first import %s", r.SHA256, a.SHA256)
	}
	fixTok, err := model.ReadHFTokenizerFiles(os.DirFS(tinyGPT2))
	if err != nil {
		t.Fatal(err)
	}
	dirTok, err := model.ReadHFTokenizerFiles(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{" lowest newer", "lower wider", "hello, world", "日本 <unk> <|endoftext|>"} {
		if a, b := fixTok.Encode(s), dirTok.Encode(s); !slices.Equal(a, b) || len(a) == 0 {
			t.Errorf("Encode(%q): exported tokenizer %v, transformers' files %v", s, b, a)
		}
	}

	// --format space: the checkpoint as stored, with the tokenizer files.
	sdir := t.TempDir()
	ex = exportJSON(t, "--model", a.Key, "--format", "space", "--out", sdir)
	if b, err := os.ReadFile(filepath.Join(sdir, "model.safetensors")); err != nil || storage.SHA256Hex(b) != a.SHA256 || ex.Format != "space" {
		t.Fatalf("export --format space: %v %+v", err, ex)
	}
	if tok, err := model.ReadHFTokenizerFiles(os.DirFS(sdir)); err != nil || !slices.Equal(tok.Encode(" lower"), fixTok.Encode(" lower")) {
		t.Fatalf("tokenizer files of --format space: %v", err)
	}

	testImportErrors(t, store)
}

// copyFixture copies tiny_gpt2 into a new folder, without the files in drop and with
// config.json's keys changed by conf.
func copyFixture(t *testing.T, conf map[string]any, drop ...string) string {
	t.Helper()
	dir := t.TempDir()
	entries, _ := os.ReadDir(tinyGPT2)
	for _, e := range entries {
		if slices.Contains(drop, e.Name()) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(tinyGPT2, e.Name()))
		if e.Name() == "config.json" && conf != nil {
			var c map[string]any
			_ = json.Unmarshal(b, &c)
			for k, v := range conf {
				c[k] = v
			}
			b, _ = json.Marshal(c)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testImportErrors: each error names the input and the fix, and nothing is stored.
func testImportErrors(t *testing.T, store *storage.Store) {
	for name, c := range map[string]struct {
		args []string
		want []string
	}{
		"no config.json":  {[]string{"hf", copyFixture(t, nil, "config.json"), "--out", "x/model.safetensors"}, []string{"config.json", "is missing", "fix:", "save_pretrained"}},
		"llama":           {[]string{"hf", copyFixture(t, map[string]any{"model_type": "llama"}), "--out", "x/model.safetensors"}, []string{"config.json model_type", `"llama"`, "fix:", "GPT-2"}},
		"no tokenizer":    {[]string{"hf", copyFixture(t, nil, "vocab.json", "merges.txt"), "--out", "x/model.safetensors"}, []string{"tokenizer", "tokenizer.json", "vocab.json", "merges.txt", "fix:"}},
		"no --out":        {[]string{"hf", tinyGPT2}, []string{"--out KEY", "models/"}},
		"empty s3 prefix": {[]string{"hf", "s3://nothing/here", "--out", "x/model.safetensors"}, []string{`"nothing/here/"`, "upload the files"}},
		"no folder":       {[]string{"hf", filepath.Join(t.TempDir(), "absent"), "--out", "x/model.safetensors"}, []string{"absent", "s3://PREFIX"}},
		"not hf":          {[]string{"onnx", tinyGPT2, "--out", "x/model.safetensors"}, []string{"space import hf SRC"}},
	} {
		_, err := runCmd(cmdImport, c.args...)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", name, err, w)
			}
		}
		var ie *model.InputError
		if strings.Contains(name, "config") && !errors.As(err, &ie) {
			t.Errorf("%s: %v is not the library's *InputError", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if ok, err := store.Exists(context.Background(), "x/model.safetensors"); ok || err != nil {
		t.Errorf("a failed import stored a checkpoint (%v)", err)
	}
}

// TestExportHFByteModel: a byte-tokenizer model exported as a transformers folder and
// imported again is the same model: weights, log-probs and tokenization (the byte tokenizer
// comes back from its tokenizer files).
func TestExportHFByteModel(t *testing.T) {
	store := s3Env(t)
	m, err := model.New(model.Config{VocabSize: model.ByteVocab, Shape: model.Shape{DModel: 16, Layers: 2, Heads: 2, Context: 48}, TiedEmbeddings: true, Seed: 5}, model.NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(context.Background(), "models/byte/model.safetensors", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ex := exportJSON(t, "--model", "models/byte/model.safetensors", "--out", dir) // hf by default
	if ex.Format != "hf" || !ex.Verified || ex.SHA256 != storage.SHA256Hex(buf.Bytes()) {
		t.Fatalf("export: %+v", ex)
	}
	r := importJSON(t, dir, "models/byte-again/model.safetensors")
	if r.Tokenizer != "byte" || r.Config.VocabSize != model.ByteVocab || r.Layout != "GPT2LMHeadModel" {
		t.Fatalf("re-import: %+v", r)
	}
	again := loadKey(t, store, r.Key)
	sameWeights(t, m, again)
	sameLogProbs(t, m, again, [][2]string{{"2+3=", "5"}, {"héllo wörld ", "日本語 🙂"}, {"", "x"}, {"<|eos|>", "a\x00b"}})
	tok, err := model.ReadHFTokenizerFiles(os.DirFS(dir))
	if err != nil || tok.Kind != "byte" {
		t.Fatalf("tokenizer files: %v %v", tok, err)
	}
	bad := "\xff\xfe invalid \xc3"
	if !slices.Equal(tok.Encode(bad), m.Tok.Encode(bad)) || tok.Decode(tok.Encode(bad)) != bad {
		t.Fatal("invalid UTF-8 does not round-trip")
	}
}
