package model

// Hugging Face GPT-2 checkpoints: a directory as transformers' save_pretrained writes it for
// GPT2LMHeadModel or GPT2Model (config.json, model.safetensors or a sharded
// model.safetensors.index.json and its shards, tokenizer files). See doc.go ("Hugging Face
// GPT-2 checkpoints") for the mapping and the policies, and testdata/hf/README.md for what
// real transformers-saved files look like.
//
// Sources for the layout and the math (transformers, models/gpt2):
//   - configuration_gpt2.py GPT2Config: defaults n_positions 1024, n_inner None (4*n_embd),
//     activation_function "gelu_new", layer_norm_epsilon 1e-5, scale_attn_weights True,
//     scale_attn_by_inverse_layer_idx False, reorder_and_upcast_attn False,
//     tie_word_embeddings True (PretrainedConfig), bos/eos 50256.
//   - modeling_gpt2.py: GPT2Block is ln_1 -> attn (c_attn Conv1D to [q|k|v], scores scaled by
//     1/sqrt(head_dim), causal mask, c_proj) -> residual, ln_2 -> mlp (c_fc, gelu_new, c_proj)
//     -> residual; GPT2Model ends with ln_f; GPT2LMHeadModel (base_model_prefix "transformer")
//     adds lm_head, tied to wte. pytorch_utils.py Conv1D computes x @ weight + bias with
//     weight [nx, nf] = [in, out]: the same x @ W layout as this package, no transpose.
//   - The attn.bias / attn.masked_bias causal-mask buffers of old checkpoints carry no weights.

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
	"strconv"
	"strings"

	"gorgonia.org/tensor"
)

// File names of a Hugging Face checkpoint directory.
const (
	HFConfigFile           = "config.json"
	HFGenerationConfigFile = "generation_config.json"
	HFWeightsFile          = "model.safetensors"
	HFWeightsIndexFile     = "model.safetensors.index.json"
)

// HFTokenizerFileNames are the tokenizer files ImportHF returns as they are (when present)
// in HFCheckpoint.TokenizerFiles, and ExportHF writes from HFExportOptions.TokenizerFiles.
var HFTokenizerFileNames = []string{"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}

// GPT-2's own vocabulary: 50257 ids, <|endoftext|> = 50256 is both BOS and EOS.
const (
	GPT2VocabSize    = 50257
	GPT2EndOfTextID  = 50256
	hfTransformersV  = "4.36.2" // the version whose save_pretrained output ExportHF matches
	hfLayoutLMHead   = "GPT2LMHeadModel"
	hfLayoutBase     = "GPT2Model"
	hfLMHeadPrefix   = "transformer."
	hfLMHeadWeight   = "lm_head.weight"
	hfLayerNormEps   = 1e-5
	hfDefaultNCtx    = 1024
	hfDefaultGELU    = "gelu_new"
	hfMaxListedNames = 12 // error messages list at most this many tensor names
)

// HFImportOptions adjusts ImportHF.
type HFImportOptions struct {
	// Context is the model's Config.Context: 0 means n_positions of config.json. A smaller
	// value keeps only the first Context rows of wpe (positions 0..Context-1 behave exactly as
	// in the full model; longer sequences are rejected by the length policy). Larger than
	// n_positions is an *InputError.
	Context int
	// DType is the model's parameter dtype: "float32" (default) or "float64". F16, BF16 and
	// F32 tensors convert exactly to either; F64 tensors round to float32 for float32 models.
	DType string
}

// HFCheckpoint is a GPT-2 checkpoint read by ImportHF, before it is paired with a tokenizer.
type HFCheckpoint struct {
	// Config is the model configuration: VocabSize n_embd etc. from config.json,
	// TiedEmbeddings = tie_word_embeddings (default true, as GPT-2), Context and DType from
	// HFImportOptions.
	Config Config
	// Params are the weights in this package's layout (see Param), in Config.DType.
	Params []*Param
	// Layout is "GPT2LMHeadModel" (tensor names transformer.h.0.ln_1.weight, ...) or
	// "GPT2Model" (h.0.ln_1.weight, ...): the key layout found in the weights.
	Layout string
	// NPositions is n_positions of config.json (the rows of wpe in the file).
	NPositions int
	// SourceDTypes are the safetensors dtypes of the imported tensors (sorted, e.g. ["F32"]).
	SourceDTypes []string
	// BOSTokenID and EOSTokenID are bos_token_id and eos_token_id of config.json (nil when
	// absent or null).
	BOSTokenID, EOSTokenID *int
	// TokenizerFiles holds the raw bytes of the tokenizer files found next to the weights
	// (names from HFTokenizerFileNames): a tokenizer package can build the matching
	// *Tokenizer from them and pass it to Model.
	TokenizerFiles map[string][]byte
}

// Model returns the GPT of the checkpoint with tokenizer tok, whose VocabSize must equal
// Config.VocabSize (*InputError otherwise). The model uses c.Params (no copy): use one
// HFCheckpoint per model, or Clone the result.
func (c *HFCheckpoint) Model(tok *Tokenizer) (*GPT, error) {
	if tok == nil {
		return nil, &InputError{Field: "tokenizer", Problem: "is nil",
			Fix: "build the tokenizer from HFCheckpoint.TokenizerFiles (or use NewByteTokenizer for a byte-level model of vocab_size 260)"}
	}
	if v := tok.VocabSize(); v != c.Config.VocabSize {
		return nil, &InputError{Field: "tokenizer", Problem: fmt.Sprintf("has %d ids but the checkpoint's vocab_size is %d", v, c.Config.VocabSize),
			Fix: "use the tokenizer the checkpoint was trained with (its files are in HFCheckpoint.TokenizerFiles)"}
	}
	if err := c.Config.Validate(); err != nil {
		return nil, err
	}
	m := &GPT{Config: c.Config, Tok: tok, Params: c.Params}
	if err := m.checkLayout(); err != nil {
		return nil, err
	}
	return m, nil
}

// ImportHFDir is ImportHF of the directory dir.
func ImportHFDir(dir string, opts HFImportOptions) (*HFCheckpoint, error) {
	return ImportHF(os.DirFS(dir), opts)
}

// ImportHF reads a GPT-2 checkpoint in the Hugging Face layout from the root of fsys:
// config.json, the weights (model.safetensors, or model.safetensors.index.json and the
// shards it names) and the tokenizer files that are present. fsys may be a directory
// (os.DirFS), an fstest.MapFS of objects fetched from S3, or any fs.FS.
//
// Everything this package cannot represent exactly is an *InputError naming the file, the
// field or tensors, and the fix: another model_type or activation, n_inner other than
// 4*n_embd, layer_norm_epsilon other than 1e-5, attention scaling variants, a tied lm_head
// that differs from wte, missing or unexpected tensors, shape mismatches, unknown dtypes,
// truncated files, an index naming a missing shard. Nothing is loaded partially.
func ImportHF(fsys fs.FS, opts HFImportOptions) (*HFCheckpoint, error) {
	cfgBytes, err := fs.ReadFile(fsys, HFConfigFile)
	if err != nil {
		return nil, hfFileError(HFConfigFile, err, "save the model with transformers' save_pretrained (it writes config.json next to the weights)")
	}
	hc, err := parseHFConfig(cfgBytes)
	if err != nil {
		return nil, err
	}
	dtype := opts.DType
	if dtype == "" {
		dtype = "float32"
	}
	ctx := hc.nPositions
	if opts.Context != 0 {
		if opts.Context < 0 || opts.Context > hc.nPositions {
			return nil, &InputError{Field: "context", Problem: fmt.Sprintf("is %d but the checkpoint has %d positions (n_positions)", opts.Context, hc.nPositions),
				Fix: fmt.Sprintf("use a context between 2 and %d (0 means %d)", hc.nPositions, hc.nPositions)}
		}
		ctx = opts.Context
	}
	cfg := Config{VocabSize: hc.vocab, Shape: Shape{DModel: hc.nEmbd, Layers: hc.nLayer, Heads: hc.nHead, Context: ctx}, TiedEmbeddings: hc.tied, DType: dtype}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tensors, source, err := readHFWeights(fsys)
	if err != nil {
		return nil, err
	}
	ck := &HFCheckpoint{Config: cfg, NPositions: hc.nPositions, BOSTokenID: hc.bos, EOSTokenID: hc.eos, TokenizerFiles: map[string][]byte{}}
	if err := ck.mapTensors(tensors, hc, source); err != nil {
		return nil, err
	}
	for _, name := range HFTokenizerFileNames {
		b, err := fs.ReadFile(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, hfFileError(name, err, "check that the file is readable")
		}
		ck.TokenizerFiles[name] = b
	}
	return ck, nil
}

func hfFileError(file string, err error, fix string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &InputError{Field: file, Problem: "is missing", Fix: fix}
	}
	return &InputError{Field: file, Problem: fmt.Sprintf("cannot be read: %v", err), Fix: fix}
}

// hfConfig is what ImportHF takes from config.json.
type hfConfig struct {
	vocab, nEmbd, nLayer, nHead, nPositions int
	tied                                    bool
	bos, eos                                *int
}

// parseHFConfig reads config.json and checks that it describes a model this package computes
// exactly (GPT2Config defaults apply to absent fields).
func parseHFConfig(b []byte) (*hfConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, &InputError{Field: HFConfigFile, Problem: fmt.Sprintf("is not a JSON object: %v", err), Fix: "use the config.json written by transformers' save_pretrained"}
	}
	bad := func(field, problem, fix string) error {
		return &InputError{Field: HFConfigFile + " " + field, Problem: problem, Fix: fix}
	}
	present := func(k string) bool { v, ok := raw[k]; return ok && string(v) != "null" }
	str := func(k, def string) (string, error) {
		if !present(k) {
			return def, nil
		}
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil {
			return "", bad(k, fmt.Sprintf("is %s, want a string", raw[k]), "fix the value in config.json")
		}
		return s, nil
	}
	boolean := func(k string, def bool) (bool, error) {
		if !present(k) {
			return def, nil
		}
		var v bool
		if err := json.Unmarshal(raw[k], &v); err != nil {
			return false, bad(k, fmt.Sprintf("is %s, want true or false", raw[k]), "fix the value in config.json")
		}
		return v, nil
	}
	integer := func(k string) (int, bool, error) {
		if !present(k) {
			return 0, false, nil
		}
		var f float64
		if err := json.Unmarshal(raw[k], &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
			return 0, true, bad(k, fmt.Sprintf("is %s, want an integer", raw[k]), "fix the value in config.json")
		}
		return int(f), true, nil
	}
	positive := func(k string) (int, error) {
		v, ok, err := integer(k)
		switch {
		case err != nil:
			return 0, err
		case !ok:
			return 0, bad(k, "is missing", "save the config with transformers' GPT2Config (it writes n_embd, n_layer, n_head, n_positions, vocab_size)")
		case v <= 0:
			return 0, bad(k, fmt.Sprintf("is %d, must be positive", v), "fix the value in config.json")
		}
		return v, nil
	}

	mt, err := str("model_type", "")
	if err != nil {
		return nil, err
	}
	if mt != "gpt2" {
		if mt == "" {
			return nil, bad("model_type", "is missing", `this importer reads GPT-2 checkpoints only: config.json must say "model_type": "gpt2"`)
		}
		return nil, bad("model_type", fmt.Sprintf("is %q, only \"gpt2\" is supported", mt), "convert the model to GPT-2 (GPT2LMHeadModel) or use a GPT-2 checkpoint")
	}
	hc := &hfConfig{}
	for _, f := range []struct {
		k string
		p *int
	}{{"vocab_size", &hc.vocab}, {"n_embd", &hc.nEmbd}, {"n_layer", &hc.nLayer}, {"n_head", &hc.nHead}} {
		if *f.p, err = positive(f.k); err != nil {
			return nil, err
		}
	}
	if hc.nEmbd%hc.nHead != 0 {
		return nil, bad("n_head", fmt.Sprintf("%d does not divide n_embd %d", hc.nHead, hc.nEmbd), "fix n_head or n_embd")
	}
	// n_positions is the wpe size; very old configs have only n_ctx (the same number).
	switch {
	case present("n_positions"):
		hc.nPositions, err = positive("n_positions")
	case present("n_ctx"):
		hc.nPositions, err = positive("n_ctx")
	default:
		hc.nPositions = hfDefaultNCtx
	}
	if err != nil {
		return nil, err
	}
	if present("layer_norm_epsilon") {
		var eps float64
		if err := json.Unmarshal(raw["layer_norm_epsilon"], &eps); err != nil {
			return nil, bad("layer_norm_epsilon", fmt.Sprintf("is %s, want a number", raw["layer_norm_epsilon"]), "fix the value in config.json")
		}
		if eps != hfLayerNormEps {
			return nil, bad("layer_norm_epsilon", fmt.Sprintf("is %g, this package's LayerNorm uses 1e-05", eps), "use a GPT-2 checkpoint with layer_norm_epsilon 1e-05")
		}
	}
	act, err := str("activation_function", hfDefaultGELU)
	if err != nil {
		return nil, err
	}
	if act != "gelu_new" && act != "gelu_pytorch_tanh" {
		return nil, bad("activation_function", fmt.Sprintf("is %q, this package computes the tanh GELU only (\"gelu_new\" or \"gelu_pytorch_tanh\")", act),
			"use a GPT-2 checkpoint with the tanh GELU (the erf \"gelu\" and others give different outputs)")
	}
	inner, ok, err := integer("n_inner")
	if err != nil {
		return nil, err
	}
	if ok && inner != 4*hc.nEmbd {
		return nil, bad("n_inner", fmt.Sprintf("is %d, this package's MLP is 4*n_embd = %d wide", inner, 4*hc.nEmbd), "use a checkpoint with n_inner null or 4*n_embd")
	}
	for _, f := range []struct {
		k         string
		def, need bool
		why       string
	}{
		{"scale_attn_weights", true, true, "attention scores are scaled by 1/sqrt(head_dim)"},
		{"scale_attn_by_inverse_layer_idx", false, false, "attention scores are not scaled by 1/(layer+1)"},
		{"add_cross_attention", false, false, "there is no cross-attention"},
	} {
		v, err := boolean(f.k, f.def)
		if err != nil {
			return nil, err
		}
		if v != f.need {
			return nil, bad(f.k, fmt.Sprintf("is %v, but in this package %s", v, f.why), fmt.Sprintf("use a checkpoint with %s %v", f.k, f.need))
		}
	}
	// reorder_and_upcast_attn only computes the same scaled scores in float32 (a precision
	// choice for fp16 training, modeling_gpt2.py _upcast_and_reordered_attn): accepted either way.
	if _, err := boolean("reorder_and_upcast_attn", false); err != nil {
		return nil, err
	}
	if hc.tied, err = boolean("tie_word_embeddings", true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		k string
		p **int
	}{{"bos_token_id", &hc.bos}, {"eos_token_id", &hc.eos}} {
		v, ok, err := integer(f.k)
		if err != nil {
			return nil, err
		}
		if ok {
			*f.p = &v
		}
	}
	return hc, nil
}

// hfTensor is one tensor entry of an HF safetensors file: its dtype, shape and raw bytes.
type hfTensor struct {
	file  string
	dtype string
	shape []int
	data  []byte
}

// hfDTypeSize is the element size of the dtypes ImportHF converts.
var hfDTypeSize = map[string]int{"F16": 2, "BF16": 2, "F32": 4, "F64": 8}

// readHFWeights reads model.safetensors, or the index and its shards when there is no
// single file. source names what was read, for error messages.
func readHFWeights(fsys fs.FS) (ts map[string]hfTensor, source string, err error) {
	b, err := fs.ReadFile(fsys, HFWeightsFile)
	if err == nil {
		ts, err = readHFSafetensors(HFWeightsFile, b)
		return ts, HFWeightsFile, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", hfFileError(HFWeightsFile, err, "check that the file is readable")
	}
	ib, err := fs.ReadFile(fsys, HFWeightsIndexFile)
	if errors.Is(err, fs.ErrNotExist) {
		fix := "save the model with save_pretrained(..., safe_serialization=True) (transformers >= 4.35 does by default)"
		for _, old := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack"} {
			if _, e := fs.Stat(fsys, old); e == nil {
				return nil, "", &InputError{Field: HFWeightsFile, Problem: fmt.Sprintf("is missing (the directory has %s, which this package does not read)", old), Fix: fix}
			}
		}
		return nil, "", &InputError{Field: HFWeightsFile, Problem: "is missing (and there is no " + HFWeightsIndexFile + ")", Fix: fix}
	}
	if err != nil {
		return nil, "", hfFileError(HFWeightsIndexFile, err, "check that the file is readable")
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(ib, &idx); err != nil || len(idx.WeightMap) == 0 {
		return nil, "", &InputError{Field: HFWeightsIndexFile, Problem: "has no weight_map (tensor name -> shard file)", Fix: "use the index written by save_pretrained"}
	}
	shards := map[string][]string{} // shard -> tensors the index puts there
	for name, shard := range idx.WeightMap {
		if shard == "" || strings.Contains(shard, "/") || strings.Contains(shard, "\\") || shard == "." || shard == ".." {
			return nil, "", &InputError{Field: HFWeightsIndexFile + " weight_map[" + strconv.Quote(name) + "]", Problem: fmt.Sprintf("names shard %q, not a file of this directory", shard), Fix: "use the index written by save_pretrained"}
		}
		shards[shard] = append(shards[shard], name)
	}
	files := make([]string, 0, len(shards))
	for s := range shards {
		files = append(files, s)
	}
	sort.Strings(files)
	all := map[string]hfTensor{}
	for _, file := range files {
		sb, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, "", hfFileError(file, err, fmt.Sprintf("%s names this shard: copy every shard it lists into the directory", HFWeightsIndexFile))
		}
		ts, err := readHFSafetensors(file, sb)
		if err != nil {
			return nil, "", err
		}
		want := shards[file]
		sort.Strings(want)
		var missing, extra []string
		for _, n := range want {
			if _, ok := ts[n]; !ok {
				missing = append(missing, n)
			}
		}
		for n := range ts {
			if idx.WeightMap[n] != file {
				extra = append(extra, n)
			}
		}
		sort.Strings(extra)
		if len(missing) > 0 {
			return nil, "", &InputError{Field: file, Problem: fmt.Sprintf("lacks %s that %s places there", listNames(missing), HFWeightsIndexFile), Fix: "re-download the shard or use the index that belongs to it"}
		}
		if len(extra) > 0 {
			return nil, "", &InputError{Field: file, Problem: fmt.Sprintf("holds %s that %s does not place there", listNames(extra), HFWeightsIndexFile), Fix: "use the index that belongs to these shards"}
		}
		for n, t := range ts {
			all[n] = t
		}
	}
	return all, HFWeightsIndexFile + " shards", nil
}

// readHFSafetensors parses one safetensors file of a checkpoint: header entries checked
// (dtype known, offsets inside the data, byte length matching the shape, data fully covered).
func readHFSafetensors(file string, b []byte) (map[string]hfTensor, error) {
	fix := "re-download or re-save the file (it must be a complete safetensors file)"
	if len(b) >= 8 {
		if hl := binary.LittleEndian.Uint64(b[:8]); hl > uint64(len(b)-8) && hl <= 100<<20 {
			return nil, &InputError{Field: file, Problem: fmt.Sprintf("is truncated: its header needs %d bytes, the file has %d after the length", hl, len(b)-8), Fix: fix}
		}
	}
	raw, _, data, err := splitST(b)
	if err != nil {
		return nil, &InputError{Field: file, Problem: fmt.Sprintf("is not a valid safetensors file (%v)", err), Fix: fix}
	}
	out := make(map[string]hfTensor, len(raw))
	var end int64
	for name, entry := range raw {
		var e stEntry
		if err := json.Unmarshal(entry, &e); err != nil {
			return nil, &InputError{Field: file + " tensor " + strconv.Quote(name), Problem: fmt.Sprintf("has a bad header entry (%v)", err), Fix: fix}
		}
		size, ok := hfDTypeSize[e.DType]
		if !ok {
			return nil, &InputError{Field: file + " tensor " + strconv.Quote(name), Problem: fmt.Sprintf("has dtype %q; F32, F16, BF16 and F64 are supported", e.DType),
				Fix: "save the model in float32, float16 or bfloat16 (e.g. model.to(torch.float32).save_pretrained(...))"}
		}
		n := int64(size)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, &InputError{Field: file + " tensor " + strconv.Quote(name), Problem: fmt.Sprintf("has shape %v", e.Shape), Fix: fix}
			}
			n *= int64(d)
		}
		b0, b1 := e.Offsets[0], e.Offsets[1]
		if b0 < 0 || b1 < b0 || b1 > int64(len(data)) {
			return nil, &InputError{Field: file + " tensor " + strconv.Quote(name), Problem: fmt.Sprintf("has data offsets %v beyond the %d data bytes: the file is truncated", e.Offsets, len(data)), Fix: fix}
		}
		if b1-b0 != n {
			return nil, &InputError{Field: file + " tensor " + strconv.Quote(name), Problem: fmt.Sprintf("has %d bytes for %s shape %v (needs %d)", b1-b0, e.DType, e.Shape, n), Fix: fix}
		}
		end = max(end, b1)
		out[name] = hfTensor{file: file, dtype: e.DType, shape: e.Shape, data: data[b0:b1]}
	}
	if end != int64(len(data)) {
		return nil, &InputError{Field: file, Problem: fmt.Sprintf("has %d data bytes but its tensors cover %d", len(data), end), Fix: fix}
	}
	return out, nil
}

// listNames formats tensor names for an error message (at most hfMaxListedNames of them).
func listNames(names []string) string {
	word := "tensors"
	if len(names) == 1 {
		word = "tensor"
	}
	q := make([]string, 0, min(len(names), hfMaxListedNames))
	for _, n := range names[:min(len(names), hfMaxListedNames)] {
		q = append(q, strconv.Quote(n))
	}
	s := fmt.Sprintf("%d %s: %s", len(names), word, strings.Join(q, ", "))
	if len(names) > hfMaxListedNames {
		s += fmt.Sprintf(", ... (%d more)", len(names)-hfMaxListedNames)
	}
	return s
}

// hfName is the GPT2Model tensor name (no "transformer." prefix) of parameter name of this
// package; lm_head maps to lm_head.weight (which never has the prefix).
func hfName(name string) string {
	if name == "lm_head" {
		return hfLMHeadWeight
	}
	repl := map[string]string{"wte": "wte.weight", "wpe": "wpe.weight", "lnf.g": "ln_f.weight", "lnf.b": "ln_f.bias"}
	if s, ok := repl[name]; ok {
		return s
	}
	l, rest, _ := strings.Cut(strings.TrimPrefix(name, "h"), ".")
	suffix := map[string]string{
		"ln1.g": "ln_1.weight", "ln1.b": "ln_1.bias", "ln2.g": "ln_2.weight", "ln2.b": "ln_2.bias",
		"attn.wqkv": "attn.c_attn.weight", "attn.bqkv": "attn.c_attn.bias",
		"attn.wo": "attn.c_proj.weight", "attn.bo": "attn.c_proj.bias",
		"mlp.wfc": "mlp.c_fc.weight", "mlp.bfc": "mlp.c_fc.bias",
		"mlp.wproj": "mlp.c_proj.weight", "mlp.bproj": "mlp.c_proj.bias",
	}[rest]
	return "h." + l + "." + suffix
}

// isHFBuffer reports the causal-mask buffers of old checkpoints (h.N.attn.bias,
// h.N.attn.masked_bias), which hold no weights.
func isHFBuffer(name string) bool {
	name = strings.TrimPrefix(name, hfLMHeadPrefix)
	l, rest, ok := strings.Cut(strings.TrimPrefix(name, "h."), ".")
	if !ok || !strings.HasPrefix(name, "h.") {
		return false
	}
	if _, err := strconv.Atoi(l); err != nil {
		return false
	}
	return rest == "attn.bias" || rest == "attn.masked_bias"
}

// mapTensors fills c.Params from the file's tensors (all checked before any is converted).
func (c *HFCheckpoint) mapTensors(ts map[string]hfTensor, hc *hfConfig, source string) error {
	prefix := ""
	c.Layout = hfLayoutBase
	for n := range ts {
		if strings.HasPrefix(n, hfLMHeadPrefix) {
			prefix, c.Layout = hfLMHeadPrefix, hfLayoutLMHead
			break
		}
	}
	cfg := c.Config
	// Expected tensors: our layout (always the tied one; lm_head handled below) with the file's
	// shapes (wpe has n_positions rows in the file).
	tied := cfg
	tied.TiedEmbeddings = true
	tied.Context = hc.nPositions
	specs := paramSpecs(tied)
	where := func(t hfTensor, name string) string { return t.file + " tensor " + strconv.Quote(name) }
	var missing []string
	used := map[string]bool{}
	for _, sp := range specs {
		n := prefix + hfName(sp.name)
		t, ok := ts[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		used[n] = true
		if !slices.Equal(t.shape, sp.shape) {
			return &InputError{Field: where(t, n), Problem: fmt.Sprintf("has shape %v, config.json needs %v (vocab_size %d, n_embd %d, n_positions %d)", t.shape, sp.shape, hc.vocab, hc.nEmbd, hc.nPositions),
				Fix: "use the config.json that belongs to these weights (Conv1D weights are stored [in, out] as transformers saves them)"}
		}
	}
	head, hasHead := ts[hfLMHeadWeight]
	if hasHead {
		used[hfLMHeadWeight] = true
		if want := []int{hc.vocab, hc.nEmbd}; !slices.Equal(head.shape, want) {
			return &InputError{Field: where(head, hfLMHeadWeight), Problem: fmt.Sprintf("has shape %v, config.json needs %v (vocab_size, n_embd)", head.shape, want), Fix: "use the config.json that belongs to these weights"}
		}
	} else if !cfg.TiedEmbeddings {
		missing = append(missing, hfLMHeadWeight)
	}
	if len(missing) > 0 {
		return &InputError{Field: source, Problem: fmt.Sprintf("lacks %s (%s key layout)", listNames(missing), c.Layout),
			Fix: "use a complete GPT2LMHeadModel or GPT2Model checkpoint (all shards, the config.json that belongs to it)"}
	}
	var extra []string
	for n := range ts {
		if !used[n] && !isHFBuffer(n) {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return &InputError{Field: source, Problem: fmt.Sprintf("has %s that a GPT-2 of this config.json (%s key layout, n_layer %d) does not have", listNames(extra), c.Layout, hc.nLayer),
			Fix: "export a plain GPT2LMHeadModel or GPT2Model (no extra heads, adapters or mixed key prefixes), or merge adapters first"}
	}
	wte := ts[prefix+hfName("wte")]
	if hasHead && cfg.TiedEmbeddings && !hfSameValues(head, wte) {
		return &InputError{Field: where(head, hfLMHeadWeight), Problem: "differs from wte.weight but config.json has tie_word_embeddings true (transformers would replace it by wte)",
			Fix: "set \"tie_word_embeddings\": false in config.json if the head is really separate, or drop lm_head.weight"}
	}

	dts := map[string]bool{}
	dt := cfg.dtype()
	for _, sp := range paramSpecs(cfg) {
		var t hfTensor
		if sp.name == "lm_head" {
			t = head
		} else {
			t = ts[prefix+hfName(sp.name)]
		}
		dts[t.dtype] = true
		size := 1
		for _, d := range sp.shape {
			size *= d
		}
		var v *tensor.Dense
		switch {
		case sp.name == "lm_head": // file [V,D], ours [D,V]
			v = hfTransposed(t, dt, hc.vocab, hc.nEmbd)
		default: // wpe keeps its first Context rows; everything else is taken whole
			v = hfDense(t.dtype, t.data[:size*hfDTypeSize[t.dtype]], dt, sp.shape)
		}
		c.Params = append(c.Params, &Param{Name: sp.name, Value: v})
	}
	for d := range dts {
		c.SourceDTypes = append(c.SourceDTypes, d)
	}
	sort.Strings(c.SourceDTypes)
	return nil
}

// hfSameValues reports whether two tensors hold the same values (bitwise when the dtypes
// agree, else after exact conversion).
func hfSameValues(a, b hfTensor) bool {
	if !slices.Equal(a.shape, b.shape) {
		return false
	}
	if a.dtype == b.dtype {
		return bytes.Equal(a.data, b.data)
	}
	x, y := make([]float64, len(a.data)/hfDTypeSize[a.dtype]), make([]float64, len(b.data)/hfDTypeSize[b.dtype])
	hfDecode(x, a.dtype, a.data)
	hfDecode(y, b.dtype, b.data)
	return slices.Equal(x, y)
}

// hfDense converts raw little-endian elements of dtype src into a tensor of dtype dt.
func hfDense(src string, b []byte, dt tensor.Dtype, shape []int) *tensor.Dense {
	n := len(b) / hfDTypeSize[src]
	if dt == tensor.Float64 {
		v := make([]float64, n)
		hfDecode(v, src, b)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	v := make([]float32, n)
	hfDecode(v, src, b)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// hfTransposed converts a [rows, cols] tensor into a [cols, rows] tensor of dtype dt.
func hfTransposed(t hfTensor, dt tensor.Dtype, rows, cols int) *tensor.Dense {
	v := make([]float64, rows*cols)
	hfDecode(v, t.dtype, t.data)
	tr := make([]float64, len(v))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			tr[j*rows+i] = v[i*cols+j]
		}
	}
	return newDense(dt, []int{cols, rows}, tr) // exact unless an F64 file goes into a float32 model
}

// hfDecode converts little-endian elements of dtype src (F16, BF16, F32, F64) into dst.
// F16, BF16 and F32 convert exactly; F64 rounds to nearest when dst is float32.
func hfDecode[T float32 | float64](dst []T, src string, b []byte) {
	switch src {
	case "F16":
		for i := range dst {
			dst[i] = T(F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case "BF16":
		for i := range dst {
			dst[i] = T(BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case "F32":
		for i := range dst {
			dst[i] = T(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case "F64":
		for i := range dst {
			dst[i] = T(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		panic("model: hfDecode: unchecked dtype " + src)
	}
}

// BF16ToFloat32 converts a bfloat16 (the top 16 bits of a float32) exactly, NaN payloads
// included.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F16ToFloat32 converts an IEEE 754 binary16 exactly: signed zeros, subnormals (m * 2^-24),
// normals, infinities and NaNs (payload kept in the top mantissa bits, quiet bit included).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0: // +-0
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: man * 2^-24; normalize so the leading 1 is implicit
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// HFExportOptions adjusts ExportHF. The zero value writes a checkpoint like transformers
// 4.36's save_pretrained of a GPT2LMHeadModel without dropout.
type HFExportOptions struct {
	// BOSTokenID and EOSTokenID are written as bos_token_id and eos_token_id (config.json and
	// generation_config.json). nil means: 50256 for GPT-2's vocabulary (VocabSize 50257), BOS
	// (256) and EOS (257) for the byte tokenizer, else null.
	BOSTokenID, EOSTokenID *int
	// Dropout is written as attn_pdrop, embd_pdrop and resid_pdrop (this package trains
	// without dropout: 0 by default; GPT-2's own config has 0.1).
	Dropout float64
	// TransformersVersion is written as transformers_version ("" means 4.36.2, whose output
	// this format matches).
	TransformersVersion string
	// TokenizerFiles are written as they are (e.g. HFCheckpoint.TokenizerFiles); names must be
	// from HFTokenizerFileNames.
	TokenizerFiles map[string][]byte
}

// ExportHFDir is ExportHF into the directory dir (created if needed; existing files of the
// same names are replaced).
func ExportHFDir(m *GPT, dir string, opts HFExportOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return ExportHF(m, opts, func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(dir, name), data, 0o644)
	})
}

// ExportHF writes m as a transformers GPT2LMHeadModel checkpoint through put (called once
// per file, e.g. to write a directory or upload to S3): config.json, generation_config.json,
// model.safetensors and opts.TokenizerFiles. model.safetensors holds F32 tensors named as
// transformers saves them (transformer.h.0.attn.c_attn.weight, ...), keys sorted,
// metadata {"format":"pt"}, no attention-mask buffers; a tied model has no lm_head.weight
// (save_pretrained drops the shared tensor), an untied one has lm_head.weight [V,D] and
// tie_word_embeddings false. float64 models are rounded to float32. n_positions is
// Config.Context. The same model gives the same bytes.
func ExportHF(m *GPT, opts HFExportOptions, put func(name string, data []byte) error) error {
	if err := m.checkLayout(); err != nil {
		return err
	}
	for name := range opts.TokenizerFiles {
		if !slices.Contains(HFTokenizerFileNames, name) {
			return &InputError{Field: "tokenizer file " + strconv.Quote(name), Problem: "is not a tokenizer file name", Fix: fmt.Sprintf("use names from %v", HFTokenizerFileNames)}
		}
	}
	cfgJSON, genJSON, err := hfConfigJSON(m, opts)
	if err != nil {
		return err
	}
	var st bytes.Buffer
	if err := hfWriteSafetensors(&st, m); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{{HFConfigFile, cfgJSON}, {HFGenerationConfigFile, genJSON}, {HFWeightsFile, st.Bytes()}}
	for _, name := range HFTokenizerFileNames {
		if b, ok := opts.TokenizerFiles[name]; ok {
			files = append(files, struct {
				name string
				data []byte
			}{name, b})
		}
	}
	for _, f := range files {
		if err := put(f.name, f.data); err != nil {
			return fmt.Errorf("model: writing %s: %w", f.name, err)
		}
	}
	return nil
}

// hfWriteSafetensors writes the weights as transformers' save_pretrained does for a
// GPT2LMHeadModel (see ExportHF).
func hfWriteSafetensors(w *bytes.Buffer, m *GPT) error {
	c := m.Config
	ts := make([]namedTensor, 0, len(m.Params))
	for _, p := range m.Params {
		nt := namedTensor{name: hfLMHeadPrefix + hfName(p.Name), shape: append([]int(nil), p.Value.Shape()...)}
		vals := p.Value.Data()
		if p.Name == "lm_head" { // ours [D,V], transformers' nn.Linear weight [V,D]
			nt.name, nt.shape = hfLMHeadWeight, []int{c.VocabSize, c.DModel}
			v := floats(p.Value)
			tr := make([]float32, len(v))
			for i := 0; i < c.DModel; i++ {
				for j := 0; j < c.VocabSize; j++ {
					tr[j*c.DModel+i] = float32(v[i*c.VocabSize+j])
				}
			}
			vals = tr
		}
		switch d := vals.(type) {
		case []float32:
			nt.f32 = d
		case []float64:
			nt.f32 = make([]float32, len(d))
			for i, x := range d {
				nt.f32[i] = float32(x)
			}
		}
		ts = append(ts, nt)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name }) // safetensors' order
	blobs := make([][]byte, len(ts))
	for i, t := range ts {
		blobs[i] = t.bytes()
	}
	header, off := stHeader(ts, blobs)
	return writeSTBlobs(w, header, blobs, off, map[string]string{"format": "pt"})
}

// pyFloat formats a float as Python's json module does (1e-05, 0.1, 0.0).
func pyFloat(v float64) json.Number {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // integral: Python writes 0.0, 1.0
		s += ".0"
	}
	return json.Number(s)
}

// hfConfigJSON returns config.json and generation_config.json as transformers writes them
// (json.dumps(indent=2, sort_keys=True) plus a newline).
func hfConfigJSON(m *GPT, opts HFExportOptions) (cfg, gen []byte, err error) {
	c := m.Config
	def := func(p *int, gpt2, byteTok int) any {
		switch {
		case p != nil:
			return *p
		case c.VocabSize == GPT2VocabSize:
			return gpt2
		case c.VocabSize == ByteVocab && m.Tok != nil && m.Tok.Kind == "byte":
			return byteTok
		}
		return nil
	}
	bos, eos := def(opts.BOSTokenID, GPT2EndOfTextID, BOS), def(opts.EOSTokenID, GPT2EndOfTextID, EOS)
	ver := opts.TransformersVersion
	if ver == "" {
		ver = hfTransformersV
	}
	if opts.Dropout < 0 || opts.Dropout >= 1 || math.IsNaN(opts.Dropout) {
		return nil, nil, &InputError{Field: "dropout", Problem: fmt.Sprintf("is %v", opts.Dropout), Fix: "use a probability in [0, 1)"}
	}
	drop := pyFloat(opts.Dropout)
	conf := map[string]any{
		"activation_function":             hfDefaultGELU,
		"architectures":                   []string{hfLayoutLMHead},
		"attn_pdrop":                      drop,
		"bos_token_id":                    bos,
		"embd_pdrop":                      drop,
		"eos_token_id":                    eos,
		"initializer_range":               pyFloat(0.02),
		"layer_norm_epsilon":              pyFloat(hfLayerNormEps),
		"model_type":                      "gpt2",
		"n_ctx":                           c.Context,
		"n_embd":                          c.DModel,
		"n_head":                          c.Heads,
		"n_inner":                         nil,
		"n_layer":                         c.Layers,
		"n_positions":                     c.Context,
		"reorder_and_upcast_attn":         false,
		"resid_pdrop":                     drop,
		"scale_attn_by_inverse_layer_idx": false,
		"scale_attn_weights":              true,
		"summary_activation":              nil,
		"summary_first_dropout":           pyFloat(0.1),
		"summary_proj_to_labels":          true,
		"summary_type":                    "cls_index",
		"summary_use_proj":                true,
		"torch_dtype":                     "float32",
		"transformers_version":            ver,
		"use_cache":                       true,
		"vocab_size":                      c.VocabSize,
	}
	// transformers omits tie_word_embeddings while it has PretrainedConfig's default (true); it
	// is written here either way so that the file says what the weights are.
	conf["tie_word_embeddings"] = c.TiedEmbeddings
	genConf := map[string]any{"_from_model_config": true, "transformers_version": ver}
	if bos != nil { // GenerationConfig writes only the ids that are set
		genConf["bos_token_id"] = bos
	}
	if eos != nil {
		genConf["eos_token_id"] = eos
	}
	if cfg, err = json.MarshalIndent(conf, "", "  "); err != nil {
		return nil, nil, err
	}
	if gen, err = json.MarshalIndent(genConf, "", "  "); err != nil {
		return nil, nil, err
	}
	return append(cfg, '\n'), append(gen, '\n'), nil
}
