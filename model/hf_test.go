package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

// Real transformers 4.36.2 save_pretrained output (testdata/hf/README.md).
const (
	hfFixtureBase   = "testdata/hf/tiny_gpt2" // GPT2Model layout, vocab 21
	hfFixtureLMHead = "testdata/hf/fake_gpt2" // GPT2LMHeadModel layout, vocab 50257
)

// hfTestGPT pairs an imported checkpoint with the byte tokenizer whatever its vocabulary
// (test only: Model needs the checkpoint's own tokenizer, which does not exist in this
// package for vocabularies other than 260; token ids below VocabSize are all these tests use).
func hfTestGPT(t *testing.T, ck *HFCheckpoint) *GPT {
	t.Helper()
	m := &GPT{Config: ck.Config, Tok: NewByteTokenizer(), Params: ck.Params}
	if err := m.checkLayout(); err != nil {
		t.Fatal(err)
	}
	return m
}

// hfExportFS exports m into an in-memory file system (as a caller uploading to S3 would
// receive the files).
func hfExportFS(t *testing.T, m *GPT, opts HFExportOptions) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	if err := ExportHF(m, opts, func(name string, data []byte) error {
		if _, dup := fsys[name]; dup {
			return fmt.Errorf("%s written twice", name)
		}
		fsys[name] = &fstest.MapFile{Data: slices.Clone(data)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return fsys
}

// hfRead parses a safetensors file (test helper around the importer's own parser).
func hfRead(t *testing.T, b []byte) map[string]hfTensor {
	t.Helper()
	ts, err := readHFSafetensors("test", b)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// hfWrite writes tensors (any dtype, raw bytes) as a safetensors file in name order with
// metadata {"format":"pt"}.
func hfWrite(ts map[string]hfTensor) []byte {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	var blobs [][]byte
	var off int64
	for _, n := range names {
		t := ts[n]
		header[n] = stEntry{DType: t.dtype, Shape: t.shape, Offsets: [2]int64{off, off + int64(len(t.data))}}
		blobs = append(blobs, t.data)
		off += int64(len(t.data))
	}
	var b bytes.Buffer
	if err := writeSTBlobs(&b, header, blobs, off, map[string]string{"format": "pt"}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func hfF32(t hfTensor) []float32 {
	v := make([]float32, len(t.data)/4)
	hfDecode(v, "F32", t.data)
	return v
}

func readFixture(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHFImportRealFixtures(t *testing.T) {
	for _, fx := range []struct {
		dir, layout, prefix string
		vocab               int
		bos                 int
		tokFiles            []string
	}{
		{hfFixtureBase, "GPT2Model", "", 21, 20, []string{"merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"}},
		{hfFixtureLMHead, "GPT2LMHeadModel", "transformer.", 50257, 50256, []string{"special_tokens_map.json", "tokenizer_config.json"}},
	} {
		t.Run(fx.layout, func(t *testing.T) {
			ck, err := ImportHFDir(fx.dir, HFImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := Config{VocabSize: fx.vocab, Shape: Shape{DModel: 2, Layers: 1, Heads: 1, Context: 1024}, TiedEmbeddings: true, DType: "float32"}
			if ck.Config != want || ck.Layout != fx.layout || ck.NPositions != 1024 || !slices.Equal(ck.SourceDTypes, []string{"F32"}) {
				t.Fatalf("imported %+v layout %s positions %d dtypes %v", ck.Config, ck.Layout, ck.NPositions, ck.SourceDTypes)
			}
			if ck.BOSTokenID == nil || *ck.BOSTokenID != fx.bos || ck.EOSTokenID == nil || *ck.EOSTokenID != fx.bos {
				t.Fatalf("bos/eos %v %v, want %d", ck.BOSTokenID, ck.EOSTokenID, fx.bos)
			}
			var got []string
			for n, b := range ck.TokenizerFiles {
				got = append(got, n)
				if !bytes.Equal(b, readFixture(t, fx.dir, n)) {
					t.Errorf("tokenizer file %s differs from the fixture", n)
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, fx.tokFiles) {
				t.Fatalf("tokenizer files %v, want %v", got, fx.tokFiles)
			}
			// Every parameter is the file's tensor as it is: Conv1D [in,out] is our x@W layout.
			file := hfRead(t, readFixture(t, fx.dir, "model.safetensors"))
			for _, p := range ck.Params {
				ft := file[fx.prefix+hfName(p.Name)]
				if !slices.Equal(ft.shape, []int(p.Value.Shape())) || !slices.Equal(hfF32(ft), p.Value.Data().([]float32)) {
					t.Fatalf("%s: shape %v vs file %v, or values differ", p.Name, p.Value.Shape(), ft.shape)
				}
			}
			if _, err := ck.Model(NewByteTokenizer()); err == nil || !strings.Contains(err.Error(), "vocab_size") {
				t.Fatalf("byte tokenizer for vocab %d: %v", fx.vocab, err)
			}
		})
	}
}

// The export of the imported GPT2LMHeadModel fixture is the fixture, byte for byte: tensor
// names, order, shapes, F32, header, metadata and padding as transformers writes them.
func TestHFExportMatchesTransformersFixture(t *testing.T) {
	ck, err := ImportHFDir(hfFixtureLMHead, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := hfTestGPT(t, ck)
	fsys := hfExportFS(t, m, HFExportOptions{Dropout: 0.1, TokenizerFiles: ck.TokenizerFiles})
	if !bytes.Equal(fsys["model.safetensors"].Data, readFixture(t, hfFixtureLMHead, "model.safetensors")) {
		t.Fatal("exported model.safetensors differs from transformers' file")
	}
	if got, want := fsys["generation_config.json"].Data, readFixture(t, hfFixtureLMHead, "generation_config.json"); !bytes.Equal(got, want) {
		t.Fatalf("generation_config.json:\n%s\nwant\n%s", got, want)
	}
	for _, n := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		if !bytes.Equal(fsys[n].Data, ck.TokenizerFiles[n]) {
			t.Fatalf("%s not passed through", n)
		}
	}
	// config.json: every key of both real configs, with the same values where the model is
	// the same (only _name_or_path and task_specific_params, copied by that script from the
	// openai-community/gpt2 config, are not written).
	var got map[string]any
	if err := json.Unmarshal(fsys["config.json"].Data, &got); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{hfFixtureLMHead, hfFixtureBase} {
		var want map[string]any
		if err := json.Unmarshal(readFixture(t, dir, "config.json"), &want); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if k == "_name_or_path" || k == "task_specific_params" {
				continue
			}
			g, ok := got[k]
			if !ok {
				t.Errorf("config.json lacks %q (the %s fixture has it)", k, dir)
			} else if dir == hfFixtureLMHead && fmt.Sprint(g) != fmt.Sprint(v) {
				t.Errorf("config.json %q = %v, transformers wrote %v", k, g, v)
			}
		}
	}
	if got["tie_word_embeddings"] != true {
		t.Errorf("tie_word_embeddings %v", got["tie_word_embeddings"])
	}
	// Formatting as transformers' json.dumps(indent=2, sort_keys=True): the fixture's lines
	// (minus its two extra keys) appear as they are.
	exp := string(fsys["config.json"].Data)
	for _, line := range strings.Split(string(readFixture(t, hfFixtureLMHead, "config.json")), "\n") {
		if strings.Contains(line, `"layer_norm_epsilon"`) || strings.Contains(line, `"n_inner"`) || strings.Contains(line, `"initializer_range"`) {
			if !strings.Contains(exp, line+"\n") {
				t.Errorf("config.json lacks the line %q", line)
			}
		}
	}

	// The GPT2Model fixture exports with the same names under the "transformer." prefix.
	base, err := ImportHFDir(hfFixtureBase, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := hfRead(t, hfExportFS(t, hfTestGPT(t, base), HFExportOptions{})["model.safetensors"].Data)
	in := hfRead(t, readFixture(t, hfFixtureBase, "model.safetensors"))
	if len(out) != len(in) {
		t.Fatalf("%d tensors exported, the fixture has %d", len(out), len(in))
	}
	for n, ft := range in {
		et, ok := out["transformer."+n]
		if !ok || et.dtype != ft.dtype || !slices.Equal(et.shape, ft.shape) || !bytes.Equal(et.data, ft.data) {
			t.Fatalf("tensor %s: exported %+v", n, et.shape)
		}
	}
}

func hfLogProbSeqs(m *GPT) []Sequence {
	var seqs []Sequence
	for i, text := range []string{"hi", "a longer prompt", "x"} {
		s, err := m.Encode(text, strings.Repeat("yes ", i+1))
		if err != nil {
			panic(err)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// Export then import gives the same weights bit for bit and the same log-probs.
func TestHFRoundTrip(t *testing.T) {
	for _, tied := range []bool{true, false} {
		for _, dt := range []string{"float32", "float64"} {
			t.Run(fmt.Sprintf("tied=%v/%s", tied, dt), func(t *testing.T) {
				m, err := New(Config{Shape: Shape{DModel: 16, Layers: 2, Heads: 4, Context: 32}, TiedEmbeddings: tied, Seed: 7, DType: dt}, nil)
				if err != nil {
					t.Fatal(err)
				}
				fsys := hfExportFS(t, m, HFExportOptions{})
				var conf map[string]any
				json.Unmarshal(fsys["config.json"].Data, &conf)
				if conf["tie_word_embeddings"] != tied || conf["bos_token_id"] != float64(BOS) || conf["eos_token_id"] != float64(EOS) || conf["n_positions"] != 32.0 {
					t.Fatalf("config.json %v", conf)
				}
				st := hfRead(t, fsys["model.safetensors"].Data)
				if h, ok := st["lm_head.weight"]; ok != !tied || (ok && !slices.Equal(h.shape, []int{ByteVocab, 16})) {
					t.Fatalf("lm_head.weight present %v (tied %v) shape %v", ok, tied, h.shape)
				}
				ck, err := ImportHF(fsys, HFImportOptions{DType: dt})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ck.Model(NewByteTokenizer())
				if err != nil {
					t.Fatal(err)
				}
				want := m.Config
				want.Seed = 0 // initialization only: not part of a checkpoint
				if got.Config != want || ck.Layout != "GPT2LMHeadModel" {
					t.Fatalf("config %+v, want %+v", got.Config, m.Config)
				}
				for i, p := range m.Params {
					a, b := floats(p.Value), floats(got.Params[i].Value)
					for j := range a {
						if want := float64(float32(a[j])); math.Float64bits(b[j]) != math.Float64bits(want) {
							t.Fatalf("%s[%d] = %v, want %v (float32 of %v)", p.Name, j, b[j], want, a[j])
						}
					}
				}
				if dt == "float32" {
					seqs := hfLogProbSeqs(m)
					a, err := m.LogProbs(seqs, 2)
					if err != nil {
						t.Fatal(err)
					}
					b, err := got.LogProbs(seqs, 2)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(a, b) {
						t.Fatalf("log-probs %v after the round trip, %v before", b, a)
					}
				}
				// Export again: same bytes.
				if again := hfExportFS(t, got, HFExportOptions{}); !bytes.Equal(again["model.safetensors"].Data, fsys["model.safetensors"].Data) {
					t.Fatal("re-export changed model.safetensors")
				}
			})
		}
	}
}

func TestHFExportDirAndOptions(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}, TiedEmbeddings: true, Seed: 1}, nil)
	dir := t.TempDir()
	bos, eos := 5, 6
	tok := map[string][]byte{"vocab.json": []byte(`{"a":0}`)}
	if err := ExportHFDir(m, dir, HFExportOptions{BOSTokenID: &bos, EOSTokenID: &eos, TokenizerFiles: tok, TransformersVersion: "4.99.0"}); err != nil {
		t.Fatal(err)
	}
	ck, err := ImportHFDir(dir, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *ck.BOSTokenID != 5 || *ck.EOSTokenID != 6 || string(ck.TokenizerFiles["vocab.json"]) != `{"a":0}` {
		t.Fatalf("bos %v eos %v tok %v", *ck.BOSTokenID, *ck.EOSTokenID, ck.TokenizerFiles)
	}
	gen, _ := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if !strings.Contains(string(gen), `"transformers_version": "4.99.0"`) || !strings.Contains(string(gen), `"eos_token_id": 6`) {
		t.Fatalf("generation_config.json %s", gen)
	}
	if err := ExportHF(m, HFExportOptions{TokenizerFiles: map[string][]byte{"../x": nil}}, func(string, []byte) error { return nil }); err == nil {
		t.Fatal("tokenizer file name outside the list accepted")
	}
	want := errors.New("upload failed")
	if err := ExportHF(m, HFExportOptions{}, func(string, []byte) error { return want }); !errors.Is(err, want) {
		t.Fatalf("put error: %v", err)
	}
}

// Importing with a smaller context keeps the first rows of wpe; short sequences score the same.
func TestHFImportSmallerContext(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 16, Layers: 2, Heads: 4, Context: 32}, TiedEmbeddings: true, Seed: 9}, nil)
	fsys := hfExportFS(t, m, HFExportOptions{})
	ck, err := ImportHF(fsys, HFImportOptions{Context: 26})
	if err != nil {
		t.Fatal(err)
	}
	small, err := ck.Model(NewByteTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	if small.Config.Context != 26 || ck.NPositions != 32 {
		t.Fatalf("context %d positions %d", small.Config.Context, ck.NPositions)
	}
	wpe := small.Param("wpe").Value
	if !slices.Equal([]int(wpe.Shape()), []int{26, 16}) || !slices.Equal(wpe.Data().([]float32), m.Param("wpe").Value.Data().([]float32)[:26*16]) {
		t.Fatal("wpe is not the first 26 rows")
	}
	seqs := hfLogProbSeqs(m)
	a, _ := m.LogProbs(seqs, 3)
	b, err := small.LogProbs(seqs, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The same weights and sequences; only the wpe rows past 26 differ, and no sequence
	// reaches them. (Not bit for bit: with OpenBLAS the graph's shapes pick the gemm kernel.)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6*math.Abs(a[i]) {
			t.Fatalf("log-probs %v with context 26, %v with 32", b, a)
		}
	}
	for _, c := range []int{33, 1, -1} {
		if _, err := ImportHF(fsys, HFImportOptions{Context: c}); !isInputError(err) {
			t.Fatalf("context %d: %v", c, err)
		}
	}
}

func isInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// hfMutate returns a copy of fsys whose config.json has been changed by edit (nil deletes
// the key) and whose weights were rewritten by wt (if not nil).
func hfMutate(t *testing.T, fsys fstest.MapFS, conf map[string]any, wt func(map[string]hfTensor)) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	for k, v := range fsys {
		out[k] = &fstest.MapFile{Data: slices.Clone(v.Data)}
	}
	if conf != nil {
		var c map[string]any
		json.Unmarshal(out["config.json"].Data, &c)
		for k, v := range conf {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		b, _ := json.Marshal(c)
		out["config.json"].Data = b
	}
	if wt != nil {
		ts := hfRead(t, out["model.safetensors"].Data)
		wt(ts)
		out["model.safetensors"].Data = hfWrite(ts)
	}
	return out
}

// jsonNull marks a config.json key to set to null (hfMutate deletes keys given as nil).
var jsonNull = json.RawMessage("null")

func TestHFImportErrors(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 2, Heads: 2, Context: 8}, TiedEmbeddings: true, Seed: 2}, nil)
	good := hfExportFS(t, m, HFExportOptions{})
	if _, err := ImportHF(good, HFImportOptions{}); err != nil {
		t.Fatal(err)
	}
	rename := func(from, to string) func(map[string]hfTensor) {
		return func(ts map[string]hfTensor) { ts[to] = ts[from]; delete(ts, from) }
	}
	truncated := func(n int) fstest.MapFS {
		f := hfMutate(t, good, nil, nil)
		f["model.safetensors"].Data = f["model.safetensors"].Data[:n]
		return f
	}
	wteBytes := hfRead(t, good["model.safetensors"].Data)["transformer.wte.weight"]
	cases := []struct {
		name string
		fsys fs.FS
		want []string // substrings of the error
	}{
		{"model_type", hfMutate(t, good, map[string]any{"model_type": "llama"}, nil), []string{"config.json model_type", `"llama"`}},
		{"no model_type", hfMutate(t, good, map[string]any{"model_type": nil}, nil), []string{"config.json model_type", "missing"}},
		{"n_inner", hfMutate(t, good, map[string]any{"n_inner": 24}, nil), []string{"config.json n_inner", "24", "4*n_embd = 32"}},
		{"n_inner null ok", hfMutate(t, good, map[string]any{"n_inner": jsonNull}, nil), nil},
		{"n_inner 4x ok", hfMutate(t, good, map[string]any{"n_inner": 32}, nil), nil},
		{"eps", hfMutate(t, good, map[string]any{"layer_norm_epsilon": 1e-6}, nil), []string{"layer_norm_epsilon", "1e-06"}},
		{"gelu", hfMutate(t, good, map[string]any{"activation_function": "gelu"}, nil), []string{"activation_function", `"gelu"`}},
		{"gelu_pytorch_tanh ok", hfMutate(t, good, map[string]any{"activation_function": "gelu_pytorch_tanh"}, nil), nil},
		{"scale_attn_weights", hfMutate(t, good, map[string]any{"scale_attn_weights": false}, nil), []string{"scale_attn_weights"}},
		{"inverse layer idx", hfMutate(t, good, map[string]any{"scale_attn_by_inverse_layer_idx": true}, nil), []string{"scale_attn_by_inverse_layer_idx"}},
		{"cross attention", hfMutate(t, good, map[string]any{"add_cross_attention": true}, nil), []string{"add_cross_attention"}},
		{"n_ctx only ok", hfMutate(t, good, map[string]any{"n_positions": nil}, nil), nil},
		{"bad n_head", hfMutate(t, good, map[string]any{"n_head": 3}, nil), []string{"n_head", "3 does not divide n_embd 8"}},
		{"vocab not int", hfMutate(t, good, map[string]any{"vocab_size": "big"}, nil), []string{"vocab_size", "integer"}},
		{"no config", func() fs.FS { f := hfMutate(t, good, nil, nil); delete(f, "config.json"); return f }(), []string{"config.json", "missing"}},
		{"no weights", func() fs.FS {
			f := hfMutate(t, good, nil, nil)
			delete(f, "model.safetensors")
			f["pytorch_model.bin"] = &fstest.MapFile{}
			return f
		}(), []string{"model.safetensors", "pytorch_model.bin", "safe_serialization"}},
		{"untied head differs", hfMutate(t, good, nil, func(ts map[string]hfTensor) {
			h := ts["transformer.wte.weight"]
			h.data = slices.Clone(h.data)
			h.data[5] ^= 1
			ts["lm_head.weight"] = h
		}), []string{`"lm_head.weight"`, "differs from wte.weight", "tie_word_embeddings"}},
		{"tied head equal ok", hfMutate(t, good, nil, func(ts map[string]hfTensor) { ts["lm_head.weight"] = wteBytes }), nil},
		{"untied without head", hfMutate(t, good, map[string]any{"tie_word_embeddings": false}, nil), []string{"lacks 1 tensor", `"lm_head.weight"`}},
		{"missing tensors", hfMutate(t, good, nil, func(ts map[string]hfTensor) {
			delete(ts, "transformer.h.1.mlp.c_fc.bias")
			delete(ts, "transformer.ln_f.weight")
		}), []string{"lacks 2 tensors", `"transformer.h.1.mlp.c_fc.bias"`, `"transformer.ln_f.weight"`}},
		{"extra tensor", hfMutate(t, good, nil, func(ts map[string]hfTensor) { ts["score.weight"] = wteBytes }), []string{"1 tensor", `"score.weight"`, "does not have"}},
		{"mixed prefixes", hfMutate(t, good, nil, rename("transformer.ln_f.bias", "ln_f.bias")), []string{`"transformer.ln_f.bias"`}},
		{"extra layer", hfMutate(t, good, map[string]any{"n_layer": 1}, nil), []string{"has 12 tensors", `"transformer.h.1.attn.c_attn.bias"`}},
		{"buffers ignored", hfMutate(t, good, nil, func(ts map[string]hfTensor) {
			ts["transformer.h.0.attn.bias"] = hfTensor{dtype: "F32", shape: []int{1, 1, 8, 8}, data: make([]byte, 4*64)}
			ts["transformer.h.1.attn.masked_bias"] = hfTensor{dtype: "F32", shape: []int{}, data: make([]byte, 4)}
		}), nil},
		{"shape", hfMutate(t, good, nil, func(ts map[string]hfTensor) {
			w := ts["transformer.h.0.attn.c_attn.weight"]
			w.shape = []int{24, 8} // the transposed (nn.Linear) layout
			ts["transformer.h.0.attn.c_attn.weight"] = w
		}), []string{`"transformer.h.0.attn.c_attn.weight"`, "shape [24 8]", "needs [8 24]"}},
		{"wrong config for weights", hfMutate(t, good, map[string]any{"n_embd": 16}, nil), []string{"shape", "needs [260 16]"}},
		{"dtype", hfMutate(t, good, nil, func(ts map[string]hfTensor) {
			w := ts["transformer.ln_f.bias"]
			w.dtype, w.data = "I8", w.data[:8]
			ts["transformer.ln_f.bias"] = w
		}), []string{`"transformer.ln_f.bias"`, `dtype "I8"`}},
		{"truncated data", truncated(len(good["model.safetensors"].Data) - 3), []string{"truncated"}},
		{"truncated header", truncated(100), []string{"truncated"}},
		{"empty file", truncated(0), []string{"model.safetensors", "not a valid safetensors"}},
		{"trailing bytes", func() fs.FS {
			f := hfMutate(t, good, nil, nil)
			f["model.safetensors"].Data = append(f["model.safetensors"].Data, 0, 0, 0, 0)
			return f
		}(), []string{"data bytes but its tensors cover"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck, err := ImportHF(c.fsys, HFImportOptions{})
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, err := ck.Model(NewByteTokenizer()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if ck != nil || !isInputError(err) {
				t.Fatalf("want an *InputError, got %v (checkpoint %v)", err, ck != nil)
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// hfShard splits an exported checkpoint into shards (tensors dealt round-robin in name order)
// with the index transformers writes.
func hfShard(t *testing.T, fsys fstest.MapFS, n int) fstest.MapFS {
	t.Helper()
	ts := hfRead(t, fsys["model.safetensors"].Data)
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	shards := make([]map[string]hfTensor, n)
	wm := map[string]string{}
	total := 0
	for i, name := range names {
		if shards[i%n] == nil {
			shards[i%n] = map[string]hfTensor{}
		}
		shards[i%n][name] = ts[name]
		wm[name] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i%n+1, n)
		total += len(ts[name].data)
	}
	out := fstest.MapFS{}
	for k, v := range fsys {
		if k != "model.safetensors" {
			out[k] = v
		}
	}
	for i, s := range shards {
		out[fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)] = &fstest.MapFile{Data: hfWrite(s)}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": wm})
	out["model.safetensors.index.json"] = &fstest.MapFile{Data: idx}
	return out
}

func TestHFShardedIndex(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 2, Heads: 2, Context: 8}, TiedEmbeddings: false, Seed: 4}, nil)
	one := hfExportFS(t, m, HFExportOptions{})
	want, err := ImportHF(one, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh := hfShard(t, one, 3)
	got, err := ImportHF(sh, HFImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range want.Params {
		if !slices.Equal(p.Value.Data().([]float32), got.Params[i].Value.Data().([]float32)) {
			t.Fatalf("%s differs when sharded", p.Name)
		}
	}
	// An index naming a missing shard, a shard lacking a tensor the index puts there, a
	// tensor the index does not place, an index without weight_map.
	missing := hfMutate(t, sh, nil, nil)
	delete(missing, "model-00002-of-00003.safetensors")
	moved := hfMutate(t, sh, nil, nil)
	var idx map[string]any
	json.Unmarshal(moved["model.safetensors.index.json"].Data, &idx)
	wm := idx["weight_map"].(map[string]any)
	if wm["transformer.wte.weight"] == "model-00003-of-00003.safetensors" {
		wm["transformer.wte.weight"] = "model-00001-of-00003.safetensors"
	} else {
		wm["transformer.wte.weight"] = "model-00003-of-00003.safetensors"
	}
	b, _ := json.Marshal(idx)
	moved["model.safetensors.index.json"].Data = b
	escape := hfMutate(t, sh, nil, nil)
	escape["model.safetensors.index.json"].Data = bytes.Replace(escape["model.safetensors.index.json"].Data, []byte(`"model-00001-of-00003.safetensors"`), []byte(`"../x.safetensors"`), 1)
	empty := hfMutate(t, sh, nil, nil)
	empty["model.safetensors.index.json"].Data = []byte(`{"metadata":{}}`)
	for name, c := range map[string]struct {
		fsys fs.FS
		want []string
	}{
		"missing shard": {missing, []string{"model-00002-of-00003.safetensors", "missing", "model.safetensors.index.json names this shard"}},
		"moved tensor":  {moved, []string{`"transformer.wte.weight"`}},
		"escape":        {escape, []string{"../x.safetensors"}},
		"no weight_map": {empty, []string{"weight_map"}},
	} {
		if _, err := ImportHF(c.fsys, HFImportOptions{}); !isInputError(err) {
			t.Fatalf("%s: want an *InputError, got %v", name, err)
		} else {
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%s: error %q lacks %q", name, err, w)
				}
			}
		}
	}
}

// f16Ref and bf16Ref decode by the IEEE 754 formulas in float64 (independent of the bit
// manipulation of F16ToFloat32 / BF16ToFloat32).
func halfRef(h uint16, expBits, manBits uint) float64 {
	sign := 1.0
	if h>>15 == 1 {
		sign = -1
	}
	bias := 1<<(expBits-1) - 1
	e := int(h>>manBits) & (1<<expBits - 1)
	m := float64(h & (1<<manBits - 1))
	switch {
	case e == 0:
		return sign * math.Ldexp(m, 1-bias-int(manBits))
	case e == 1<<expBits-1 && m == 0:
		return math.Inf(int(sign))
	case e == 1<<expBits-1:
		return math.NaN()
	}
	return sign * math.Ldexp(1+m/float64(uint(1)<<manBits), e-bias)
}

func TestHFHalfPrecisionConversion(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		for _, c := range []struct {
			name         string
			got          float32
			expBits, man uint
		}{{"F16", F16ToFloat32(uint16(h)), 5, 10}, {"BF16", BF16ToFloat32(uint16(h)), 8, 7}} {
			want := halfRef(uint16(h), c.expBits, c.man)
			g := float64(c.got)
			if math.IsNaN(want) != math.IsNaN(g) || (!math.IsNaN(want) && (g != want || math.Signbit(g) != math.Signbit(want))) {
				t.Fatalf("%s %#04x: got %v, want %v", c.name, h, g, want)
			}
		}
	}
	// Edge values by bits: signed zeros, subnormals, normals, max, inf, quiet and signalling
	// NaNs (payload kept).
	for _, c := range []struct {
		h    uint16
		bits uint32
	}{
		{0x0000, 0x00000000}, {0x8000, 0x80000000}, // +-0
		{0x0001, 0x33800000}, // 2^-24, smallest subnormal
		{0x8001, 0xb3800000},
		{0x03ff, 0x387fc000},                       // largest subnormal 1023 * 2^-24
		{0x0200, 0x38000000},                       // 2^-15
		{0x0400, 0x38800000},                       // 2^-14, smallest normal
		{0x3c00, 0x3f800000},                       // 1
		{0x3555, 0x3eaaa000},                       // 0.333251953125
		{0xc000, 0xc0000000},                       // -2
		{0x7bff, 0x477fe000},                       // 65504, largest finite
		{0x7c00, 0x7f800000}, {0xfc00, 0xff800000}, // +-inf
		{0x7e00, 0x7fc00000}, // quiet NaN
		{0x7c01, 0x7f802000}, // signalling NaN, payload 1
		{0xfe01, 0xffc02000},
	} {
		if got := math.Float32bits(F16ToFloat32(c.h)); got != c.bits {
			t.Errorf("F16 %#04x -> %#08x, want %#08x", c.h, got, c.bits)
		}
	}
	for h, bits := range map[uint16]uint32{0x0001: 0x00010000, 0x8000: 0x80000000, 0x7f80: 0x7f800000, 0xff80: 0xff800000, 0x7fc1: 0x7fc10000, 0x3f80: 0x3f800000, 0x007f: 0x007f0000} {
		if got := math.Float32bits(BF16ToFloat32(h)); got != bits {
			t.Errorf("BF16 %#04x -> %#08x, want %#08x", h, got, bits)
		}
	}
}

// F16 and BF16 checkpoints import as the exact float32 (and float64) values; the tied-head
// check compares values across dtypes.
func TestHFImportHalfPrecisionFiles(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}, TiedEmbeddings: true, Seed: 5}, nil)
	good := hfExportFS(t, m, HFExportOptions{})
	for _, dt := range []string{"F16", "BF16"} {
		var wantVals map[string][]float32
		f := hfMutate(t, good, map[string]any{"torch_dtype": map[string]string{"F16": "float16", "BF16": "bfloat16"}[dt]}, func(ts map[string]hfTensor) {
			wantVals = map[string][]float32{}
			for n, x := range ts {
				v := hfF32(x)
				b := make([]byte, 2*len(v))
				for i, f := range v {
					// Truncate to 16 bits (any 16-bit pattern will do: the test checks decoding).
					var h uint16
					if dt == "BF16" {
						h = uint16(math.Float32bits(f) >> 16)
					} else {
						h = uint16(i*2654435761) ^ uint16(math.Float32bits(f)>>13)
						if (h>>10)&0x1f == 0x1f { // keep values finite for the log-prob check
							h &^= 0x4000
						}
					}
					binary.LittleEndian.PutUint16(b[2*i:], h)
					if dt == "BF16" {
						v[i] = BF16ToFloat32(h)
					} else {
						v[i] = F16ToFloat32(h)
					}
				}
				wantVals[n] = v
				ts[n] = hfTensor{dtype: dt, shape: x.shape, data: b}
			}
			// An F32 lm_head equal in value to the 16-bit wte: accepted as tied.
			hv := wantVals["transformer.wte.weight"]
			hb := make([]byte, 4*len(hv))
			for i, x := range hv {
				binary.LittleEndian.PutUint32(hb[4*i:], math.Float32bits(x))
			}
			ts["lm_head.weight"] = hfTensor{dtype: "F32", shape: ts["transformer.wte.weight"].shape, data: hb}
		})
		for _, mdt := range []string{"float32", "float64"} {
			ck, err := ImportHF(f, HFImportOptions{DType: mdt})
			if err != nil {
				t.Fatalf("%s into %s: %v", dt, mdt, err)
			}
			if !slices.Equal(ck.SourceDTypes, []string{dt}) { // the tied lm_head is checked, not imported
				t.Fatalf("source dtypes %v", ck.SourceDTypes)
			}
			for _, p := range ck.Params {
				want := wantVals["transformer."+hfName(p.Name)]
				got := floats(p.Value)
				for i := range want {
					if got[i] != float64(want[i]) {
						t.Fatalf("%s %s into %s: [%d] = %v, want %v", dt, p.Name, mdt, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkImportHF imports a 102 MB float32 checkpoint (d512 L8, byte vocabulary) from a
// directory. With -benchmem, B/op shows the memory it takes: the file once plus the
// converted weights (about 2x the file), no second copy of the file.
func BenchmarkImportHF(b *testing.B) {
	tok := NewByteTokenizer()
	m, err := New(Config{VocabSize: tok.VocabSize(), Shape: Shape{DModel: 512, Layers: 8, Heads: 8, Context: 256}, TiedEmbeddings: true, Seed: 1}, tok)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := ExportHFDir(m, dir, HFExportOptions{}); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, HFWeightsFile))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ImportHFDir(dir, HFImportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
