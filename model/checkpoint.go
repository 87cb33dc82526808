package model

// Checkpoints are safetensors files (https://github.com/huggingface/safetensors):
//
//	8 bytes   little-endian uint64 N, the header length
//	N bytes   JSON header: {"__metadata__": {string: string}, "<tensor>": {"dtype": "F32"|"F64",
//	          "shape": [...], "data_offsets": [begin, end]}, ...}, padded with spaces to a
//	          multiple of 8
//	rest      the tensors' little-endian bytes, in layout order
//
// __metadata__ holds: format ("space-sft/1"), kind ("model" or "trainer"), config (Config
// JSON), tokenizer (Tokenizer JSON), sha256 (JSON map tensor -> hex sha256 of its bytes),
// and for trainers step, total_steps, optimizer_t, train_config, data_sha256,
// train_config_sha256 and rng. Keys are sorted (encoding/json sorts maps), so saving the
// same state twice gives byte-identical files. Load verifies every tensor's sha256.
// A trainer checkpoint holds the model's tensors under their names plus the optimizer's
// moments as "opt.m.<name>" and "opt.v.<name>", in the model's dtype (F32 for float32
// models), and trainer_format "2". Format 1 (no trainer_format key: earlier builds) held
// float64 moments for every model; ResumeTrainer refuses it with an error saying why (see
// trainerFormat), and a round that finds only such checkpoints starts again from step 0.

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"unsafe"

	"gorgonia.org/tensor"
)

const checkpointFormat = "space-sft/1"

// trainerFormat is the version of a trainer checkpoint's optimizer state (metadata key
// trainer_format). 2: gradients and moments in the model's dtype (float32 for float32
// models). 1 (the key absent): float64 moments whatever the model. A format 1 checkpoint is
// not converted: its moments rounded to float32 would continue a run that neither the
// earlier build nor this one would have made, so a resume from it could not be
// bit-identical to any uninterrupted training. Refusing it makes the round start again.
const trainerFormat = "2"

// ErrIncompatibleTrainer is matched (errors.Is) by ResumeTrainer's refusals that concern the
// training rather than the file: another trainer checkpoint format, TrainConfig or data. Every
// checkpoint one training wrote shares them, so a caller that finds it need not try that
// training's earlier checkpoints.
var ErrIncompatibleTrainer = errors.New("model: trainer checkpoint incompatible with this training")

type incompatibleError string

func incompatible(msg string) error              { return incompatibleError(msg) }
func (e incompatibleError) Error() string        { return string(e) }
func (e incompatibleError) Is(target error) bool { return target == ErrIncompatibleTrainer }

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

type namedTensor struct {
	name  string
	shape []int
	f32   []float32
	f64   []float64
}

// littleEndian: the tensors' memory already is the file's byte order, so bytes and
// decoding are plain copies (or views) instead of a conversion per element.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytes returns the tensor's little-endian bytes: on little-endian machines a read-only
// view of its memory (no copy), else an encoded copy.
func (t namedTensor) bytes() []byte {
	if littleEndian {
		switch {
		case len(t.f32) > 0:
			return unsafe.Slice((*byte)(unsafe.Pointer(&t.f32[0])), 4*len(t.f32))
		case len(t.f64) > 0:
			return unsafe.Slice((*byte)(unsafe.Pointer(&t.f64[0])), 8*len(t.f64))
		}
	}
	if t.f32 != nil {
		b := make([]byte, 4*len(t.f32))
		for i, v := range t.f32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	b := make([]byte, 8*len(t.f64))
	for i, v := range t.f64 {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func paramTensors(m *GPT) []namedTensor {
	var ts []namedTensor
	for _, p := range m.Params {
		nt := namedTensor{name: p.Name, shape: append([]int(nil), p.Value.Shape()...)}
		switch d := p.Value.Data().(type) {
		case []float32:
			nt.f32 = d
		case []float64:
			nt.f64 = d
		}
		ts = append(ts, nt)
	}
	return ts
}

// writeSafetensors writes tensors (in the given order) and metadata (sha256 added).
func writeSafetensors(w io.Writer, ts []namedTensor, meta map[string]string) error {
	sums := map[string]string{}
	blobs := make([][]byte, len(ts))
	hashes := make([][sha256.Size]byte, len(ts))
	parallelFor(len(ts), func(lo, hi int) { // hashing is most of the work: tensors side by side
		for i := lo; i < hi; i++ {
			blobs[i] = ts[i].bytes()
			hashes[i] = sha256.Sum256(blobs[i])
		}
	})
	header, off := stHeader(ts, blobs)
	for i, t := range ts {
		sums[t.name] = hex.EncodeToString(hashes[i][:])
	}
	sj, err := json.Marshal(sums)
	if err != nil {
		return err
	}
	md := map[string]string{"format": checkpointFormat, "sha256": string(sj)}
	for k, v := range meta {
		md[k] = v
	}
	return writeSTBlobs(w, header, blobs, off, md)
}

// stHeader lays the tensors out one after the other: each one's header entry (dtype, shape,
// data offsets of its bytes blobs[i]) and the total data length.
func stHeader(ts []namedTensor, blobs [][]byte) (map[string]any, int64) {
	header := make(map[string]any, len(ts)+1)
	var off int64
	for i, t := range ts {
		dt := "F64"
		if t.f32 != nil {
			dt = "F32"
		}
		header[t.name] = stEntry{DType: dt, Shape: t.shape, Offsets: [2]int64{off, off + int64(len(blobs[i]))}}
		off += int64(len(blobs[i]))
	}
	return header, off
}

// writeSTBlobs writes a safetensors file: header (tensor name -> stEntry) plus exactly the
// metadata md, then blobs in order (their offsets must be those of header; total is their
// length). The header is compact JSON with sorted keys padded with spaces to a multiple of 8,
// as the safetensors library writes it.
func writeSTBlobs(w io.Writer, header map[string]any, blobs [][]byte, total int64, md map[string]string) error {
	header["__metadata__"] = md
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	if g, ok := w.(interface{ Grow(int) }); ok { // bytes.Buffer: one allocation, not log2(size)
		g.Grow(8 + len(hj) + int(total))
	}
	bw := bufio.NewWriter(w)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
	bw.Write(n[:])
	bw.Write(hj)
	for _, b := range blobs {
		bw.Write(b)
	}
	return bw.Flush()
}

// stFile is a parsed, verified safetensors file.
type stFile struct {
	meta    map[string]string
	tensors map[string]namedTensor
}

// readSafetensors reads a checkpoint from a stream and verifies the sha256 of every tensor.
// Each tensor's bytes are read straight into its own memory, in file order, so reading holds
// one copy of the weights (never the file and the tensors at once), whatever the size.
func readSafetensors(r io.Reader) (*stFile, error) {
	raw, meta, err := readSTHeader(r)
	if err != nil {
		return nil, err
	}
	f := &stFile{meta: meta, tensors: map[string]namedTensor{}}
	if f.meta["format"] != checkpointFormat {
		return nil, fmt.Errorf("model: checkpoint format is %q, this build reads %q", f.meta["format"], checkpointFormat)
	}
	sums := map[string]string{}
	if err := json.Unmarshal([]byte(f.meta["sha256"]), &sums); err != nil {
		return nil, fmt.Errorf("model: checkpoint sha256 metadata: %w", err)
	}
	type entry struct {
		name string
		e    stEntry
	}
	entries := make([]entry, 0, len(raw))
	for name, js := range raw {
		var e stEntry
		if err := json.Unmarshal(js, &e); err != nil {
			return nil, fmt.Errorf("model: checkpoint tensor %q: bad header entry: %w", name, err)
		}
		entries = append(entries, entry{name, e})
	}
	sort.Slice(entries, func(i, j int) bool {
		if a, b := entries[i].e.Offsets[0], entries[j].e.Offsets[0]; a != b {
			return a < b
		}
		return entries[i].name < entries[j].name
	})
	tensors := make([]namedTensor, len(entries))
	var pos int64 // bytes of the data section read so far
	for i, en := range entries {
		t, err := allocTensor(en.name, en.e)
		if err != nil {
			return nil, err
		}
		b0 := en.e.Offsets[0]
		if b0 < pos {
			return nil, fmt.Errorf("model: checkpoint tensor %q: data offsets %v overlap the previous tensor's", en.name, en.e.Offsets)
		}
		if _, err := io.CopyN(io.Discard, r, b0-pos); err != nil {
			return nil, fmt.Errorf("model: checkpoint tensor %q: reading its data: %w (truncated file?)", en.name, err)
		}
		if err := readTensorData(r, &t); err != nil {
			return nil, fmt.Errorf("model: checkpoint tensor %q: reading its data: %w (truncated file?)", en.name, err)
		}
		pos = en.e.Offsets[1]
		tensors[i] = t
	}
	// The tensors are in memory: hash them side by side; report the first error in name order.
	errs := make([]error, len(tensors))
	parallelFor(len(tensors), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := sha256.Sum256(tensors[i].bytes())
			if got := hex.EncodeToString(s[:]); got != sums[tensors[i].name] {
				errs[i] = fmt.Errorf("model: checkpoint tensor %q is corrupt: sha256 %s, metadata says %q", tensors[i].name, got, sums[tensors[i].name])
			}
		}
	})
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return tensors[order[a]].name < tensors[order[b]].name })
	for _, i := range order {
		if errs[i] != nil {
			return nil, errs[i]
		}
		f.tensors[tensors[i].name] = tensors[i]
	}
	return f, nil
}

// allocTensor checks a header entry (dtype, shape against the data offsets) and allocates
// the tensor it describes.
func allocTensor(name string, e stEntry) (namedTensor, error) {
	size := 1
	for _, d := range e.Shape {
		if d < 0 {
			return namedTensor{}, fmt.Errorf("model: checkpoint tensor %q: negative dimension in shape %v", name, e.Shape)
		}
		size *= d
	}
	t := namedTensor{name: name, shape: e.Shape}
	width := int64(4)
	switch e.DType {
	case "F32":
	case "F64":
		width = 8
	default:
		return namedTensor{}, fmt.Errorf("model: checkpoint tensor %q has dtype %q (want F32 or F64)", name, e.DType)
	}
	if e.Offsets[0] < 0 || e.Offsets[1]-e.Offsets[0] != width*int64(size) {
		return namedTensor{}, fmt.Errorf("model: checkpoint tensor %q: data offsets %v for shape %v of %s", name, e.Offsets, e.Shape, e.DType)
	}
	if e.DType == "F32" {
		t.f32 = make([]float32, size)
	} else {
		t.f64 = make([]float64, size)
	}
	return t, nil
}

// readTensorData fills t's values from its little-endian bytes in r.
func readTensorData(r io.Reader, t *namedTensor) error {
	if littleEndian {
		_, err := io.ReadFull(r, t.bytes()) // the tensor's own memory
		return err
	}
	n := 4 * len(t.f32)
	if t.f64 != nil {
		n = 8 * len(t.f64)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	for i := range t.f32 {
		t.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	for i := range t.f64 {
		t.f64[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return nil
}

// readSTHeader reads the 8-byte length and the JSON header of a safetensors stream, leaving
// r at the first byte of the data section.
func readSTHeader(r io.Reader) (raw map[string]json.RawMessage, meta map[string]string, err error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, nil, fmt.Errorf("model: reading checkpoint header length: %w", err)
	}
	hl, err := stHeaderLen(n[:])
	if err != nil {
		return nil, nil, err
	}
	hj := make([]byte, hl)
	if _, err := io.ReadFull(r, hj); err != nil {
		return nil, nil, fmt.Errorf("model: reading checkpoint header: %w", err)
	}
	return parseSTHeader(hj)
}

// splitST splits a safetensors file already in memory: data is a slice of b, not a copy (a
// Hugging Face checkpoint's weights are converted from it once).
func splitST(b []byte) (raw map[string]json.RawMessage, meta map[string]string, data []byte, err error) {
	if len(b) < 8 {
		return nil, nil, nil, fmt.Errorf("model: reading checkpoint header length: %w", io.ErrUnexpectedEOF)
	}
	hl, err := stHeaderLen(b[:8])
	if err != nil {
		return nil, nil, nil, err
	}
	if hl > uint64(len(b)-8) {
		return nil, nil, nil, fmt.Errorf("model: reading checkpoint header: %w", io.ErrUnexpectedEOF)
	}
	if raw, meta, err = parseSTHeader(b[8 : 8+hl]); err != nil {
		return nil, nil, nil, err
	}
	return raw, meta, b[8+hl:], nil
}

// stHeaderLen decodes and checks the 8-byte header length of a safetensors file.
func stHeaderLen(n []byte) (uint64, error) {
	hl := binary.LittleEndian.Uint64(n)
	if hl == 0 || hl > 100<<20 {
		return 0, fmt.Errorf("model: checkpoint header length %d is implausible: not a safetensors file", hl)
	}
	return hl, nil
}

// parseSTHeader splits a safetensors JSON header into its tensor entries and __metadata__.
func parseSTHeader(hj []byte) (raw map[string]json.RawMessage, meta map[string]string, err error) {
	if err := json.Unmarshal(hj, &raw); err != nil {
		return nil, nil, fmt.Errorf("model: checkpoint header is not valid JSON: %w", err)
	}
	meta = map[string]string{}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("model: checkpoint __metadata__: %w", err)
		}
		delete(raw, "__metadata__")
	}
	return raw, meta, nil
}

func modelMeta(m *GPT, kind string) (map[string]string, error) {
	cj, err := json.Marshal(m.Config)
	if err != nil {
		return nil, err
	}
	tj, err := json.Marshal(m.Tok)
	if err != nil {
		return nil, err
	}
	return map[string]string{"kind": kind, "config": string(cj), "tokenizer": string(tj)}, nil
}

// Save writes the model as a safetensors checkpoint (kind "model").
func (m *GPT) Save(w io.Writer) error {
	if err := m.checkLayout(); err != nil {
		return err
	}
	meta, err := modelMeta(m, "model")
	if err != nil {
		return err
	}
	return writeSafetensors(w, paramTensors(m), meta)
}

// Load reads a model checkpoint, or the model of a trainer checkpoint, verifying every
// tensor's sha256.
func Load(r io.Reader) (*GPT, error) {
	f, err := readSafetensors(r)
	if err != nil {
		return nil, err
	}
	return f.model()
}

// ReadInfo reads only the header of a checkpoint (model or trainer): the model's Config and
// Tokenizer, without the tensors. It reads len(header)+8 bytes of r, so that a caller can
// learn a multi-GB checkpoint's shape and tokenizer from the first bytes of a stream.
// Tensors and their sha256 are not checked here (Load does).
func ReadInfo(r io.Reader) (Config, *Tokenizer, error) {
	_, meta, err := readSTHeader(r)
	if err != nil {
		return Config{}, nil, err
	}
	if meta["format"] != checkpointFormat {
		return Config{}, nil, fmt.Errorf("model: checkpoint format is %q, this build reads %q", meta["format"], checkpointFormat)
	}
	return metaInfo(meta)
}

// metaInfo decodes and checks the config and tokenizer of a checkpoint's metadata.
func metaInfo(meta map[string]string) (Config, *Tokenizer, error) {
	if k := meta["kind"]; k != "model" && k != "trainer" {
		return Config{}, nil, fmt.Errorf("model: checkpoint kind is %q, want \"model\" or \"trainer\"", k)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		return Config{}, nil, fmt.Errorf("model: checkpoint config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("model: checkpoint config: %w", err)
	}
	tok := &Tokenizer{}
	if err := json.Unmarshal([]byte(meta["tokenizer"]), tok); err != nil {
		return Config{}, nil, fmt.Errorf("model: checkpoint tokenizer: %w", err)
	}
	if tok.Kind == "bpe" && tok.VocabSize() != cfg.VocabSize {
		return Config{}, nil, fmt.Errorf("model: checkpoint tokenizer has %d ids but the config's vocab_size is %d", tok.VocabSize(), cfg.VocabSize)
	}
	return cfg, tok, nil
}

func (f *stFile) model() (*GPT, error) {
	cfg, tok, err := metaInfo(f.meta)
	if err != nil {
		return nil, err
	}
	m := &GPT{Config: cfg, Tok: tok}
	for _, sp := range paramSpecs(cfg) {
		t, ok := f.tensors[sp.name]
		if !ok {
			return nil, fmt.Errorf("model: checkpoint lacks tensor %q", sp.name)
		}
		if !tensor.Shape(t.shape).Eq(tensor.Shape(sp.shape)) {
			return nil, fmt.Errorf("model: checkpoint tensor %q has shape %v, config needs %v", sp.name, t.shape, sp.shape)
		}
		var v *tensor.Dense
		switch {
		case cfg.dtype() == tensor.Float32 && t.f32 != nil:
			v = tensor.New(tensor.WithShape(sp.shape...), tensor.WithBacking(t.f32))
		case cfg.dtype() == tensor.Float64 && t.f64 != nil:
			v = tensor.New(tensor.WithShape(sp.shape...), tensor.WithBacking(t.f64))
		default:
			return nil, fmt.Errorf("model: checkpoint tensor %q dtype does not match config dtype %q", sp.name, cfg.DType)
		}
		m.Params = append(m.Params, &Param{Name: sp.name, Value: v})
	}
	return m, nil
}

// Save writes a trainer checkpoint: the weights, the optimizer's moments and step count,
// the step, the history of the steps done (History, as JSON) and fingerprints of the data
// and TrainConfig. The data order needs no RNG state: it is a function of (Seed, step).
func (t *Trainer) Save(w io.Writer) error {
	meta, err := modelMeta(t.m, "trainer")
	if err != nil {
		return err
	}
	tcj, err := json.Marshal(t.tc)
	if err != nil {
		return err
	}
	meta["step"] = strconv.Itoa(t.step)
	meta["total_steps"] = strconv.Itoa(t.total)
	meta["optimizer_t"] = strconv.Itoa(t.opt.t)
	meta["train_config"] = string(tcj)
	meta["data_sha256"] = t.fp.Data
	meta["train_config_sha256"] = t.fp.Config
	meta["trainer_format"] = trainerFormat
	meta["rng"] = "stateless: epoch e visits examples in the order of PCG(seed, e).Perm"
	hj, err := json.Marshal(t.hist) // floats in their shortest exact form: a resume reads them back bit for bit
	if err != nil {
		return err
	}
	meta["history"] = string(hj)
	ts := paramTensors(t.m)
	for _, kind := range []string{"m", "v"} {
		st := t.opt.m
		if kind == "v" {
			st = t.opt.v
		}
		for i, p := range t.m.Params {
			nt := namedTensor{name: "opt." + kind + "." + p.Name, shape: []int{p.Value.Shape().TotalSize()}}
			if st.isF64() {
				nt.f64 = st.f64[i]
			} else {
				nt.f32 = st.f32[i]
			}
			ts = append(ts, nt)
		}
	}
	return writeSafetensors(w, ts, meta)
}

// ResumeTrainer restores a trainer from Trainer.Save. data and tc must be those the
// checkpoint was made with (checked by fingerprint); training then continues exactly as if
// it had not been interrupted.
func ResumeTrainer(r io.Reader, data []Example, tc TrainConfig) (*Trainer, error) {
	f, err := readSafetensors(r)
	if err != nil {
		return nil, err
	}
	if f.meta["kind"] != "trainer" {
		return nil, fmt.Errorf("model: checkpoint kind is %q, ResumeTrainer needs a trainer checkpoint (Trainer.Save)", f.meta["kind"])
	}
	if v := f.meta["trainer_format"]; v != trainerFormat {
		if v == "" {
			v = "1"
		}
		return nil, incompatible(fmt.Sprintf("model: cannot resume: trainer checkpoint format %s (float64 optimizer state, an earlier build), this build writes and resumes format %s (optimizer state in the model's dtype); its moments cannot continue the training bit-identically, so start the training again from step 0", v, trainerFormat))
	}
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	fp := fingerprint(data, tc)
	if fp.Config != f.meta["train_config_sha256"] {
		return nil, incompatible(fmt.Sprintf("model: cannot resume: the TrainConfig differs from the checkpoint's (checkpoint: %s); resume with the same configuration or start a new trainer", f.meta["train_config"]))
	}
	if fp.Data != f.meta["data_sha256"] {
		return nil, incompatible(fmt.Sprintf("model: cannot resume: the training data differs from the checkpoint's (data sha256 %s, checkpoint %s); resume with the same examples in the same order, or start a new trainer", fp.Data, f.meta["data_sha256"]))
	}
	m, err := f.model()
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	if t.step, err = strconv.Atoi(f.meta["step"]); err != nil || t.step < 0 || t.step > t.total {
		return nil, fmt.Errorf("model: checkpoint step %q is invalid for %d total steps", f.meta["step"], t.total)
	}
	if h, ok := f.meta["history"]; ok { // absent from checkpoints written before histories were kept
		if err := json.Unmarshal([]byte(h), &t.hist); err != nil {
			return nil, fmt.Errorf("model: checkpoint history: %v", err)
		}
		if len(t.hist) != t.step {
			return nil, fmt.Errorf("model: checkpoint history has %d steps, its step is %d", len(t.hist), t.step)
		}
	}
	if t.opt.t, err = strconv.Atoi(f.meta["optimizer_t"]); err != nil {
		return nil, fmt.Errorf("model: checkpoint optimizer_t %q: %v", f.meta["optimizer_t"], err)
	}
	for i, p := range m.Params {
		for _, kind := range []string{"m", "v"} {
			name := "opt." + kind + "." + p.Name
			nt, ok := f.tensors[name]
			st := t.opt.m
			if kind == "v" {
				st = t.opt.v
			}
			switch {
			case ok && st.isF64() && len(nt.f64) == len(st.f64[i]):
				copy(st.f64[i], nt.f64)
			case ok && !st.isF64() && len(nt.f32) == len(st.f32[i]):
				copy(st.f32[i], nt.f32)
			default:
				return nil, fmt.Errorf("model: trainer checkpoint lacks optimizer state %q (or it has the wrong size or dtype)", name)
			}
		}
	}
	return t, nil
}
