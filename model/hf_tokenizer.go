package model

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Reading and writing GPT-2's tokenizer files: vocab.json + merges.txt (openai/gpt-2's
// encoder.json + vocab.bpe) and Hugging Face's tokenizer.json, tokenizer_config.json and
// special_tokens_map.json (the layout of the "gpt2" repository on the Hugging Face hub, as
// written by tokenizers' ByteLevelBPETokenizer / transformers' GPT2TokenizerFast).

// ReadVocabMerges builds a "bpe" tokenizer from GPT-2's vocab.json (token -> id, ids
// 0..n-1) and merges.txt (an optional "#version" line, then "left right" per line, best
// first). roles names the framing tokens (GPT2Specials for GPT-2); each must be in the
// vocabulary and becomes special. Anything unreadable is an *InputError naming the file.
func ReadVocabMerges(vocab, merges io.Reader, roles SpecialTokens) (*Tokenizer, error) {
	return readVocabMerges("vocab.json", "merges.txt", vocab, merges, roles)
}

// LoadVocabMerges reads dir/vocab.json and dir/merges.txt (see ReadVocabMerges).
func LoadVocabMerges(dir string, roles SpecialTokens) (*Tokenizer, error) {
	vp, mp := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	vb, err := os.ReadFile(vp)
	if err != nil {
		return nil, err
	}
	mb, err := os.ReadFile(mp)
	if err != nil {
		return nil, err
	}
	return readVocabMerges(vp, mp, bytes.NewReader(vb), bytes.NewReader(mb), roles)
}

func readVocabMerges(vname, mname string, vr, mr io.Reader, roles SpecialTokens) (*Tokenizer, error) {
	vb, err := io.ReadAll(vr)
	if err != nil {
		return nil, err
	}
	var vm map[string]int
	if err := json.Unmarshal(vb, &vm); err != nil {
		return nil, &InputError{Field: vname, Problem: "is not a JSON object of token -> id: " + err.Error(), Fix: "give GPT-2's vocab.json (encoder.json)"}
	}
	vocab, err := vocabList(vname, vm, nil)
	if err != nil {
		return nil, err
	}
	merges, err := readMergesTxt(mname, mr)
	if err != nil {
		return nil, err
	}
	m, err := newBPEModel(vname+"/"+mname, vocab, merges, nil, roles)
	if err != nil {
		return nil, err
	}
	return &Tokenizer{Kind: "bpe", bpe: m}, nil
}

// vocabList turns token -> id (plus added tokens id -> token) into the token of each id,
// requiring ids 0..n-1 with none missing or shared.
func vocabList(name string, vm map[string]int, added map[int]string) ([]string, error) {
	n := len(vm)
	for id := range added {
		n = max(n, id+1)
	}
	for _, id := range vm {
		n = max(n, id+1)
	}
	vocab := make([]string, n)
	// Sorted so that the error for a shared id names the same tokens every time.
	toks := make([]string, 0, len(vm))
	for t := range vm {
		toks = append(toks, t)
	}
	sort.Strings(toks)
	for _, t := range toks {
		id := vm[t]
		if id < 0 {
			return nil, &InputError{Field: name, Problem: fmt.Sprintf("token %q has negative id %d", t, id), Fix: "number the tokens 0..n-1"}
		}
		if vocab[id] != "" {
			return nil, &InputError{Field: name, Problem: fmt.Sprintf("tokens %q and %q share id %d", vocab[id], t, id), Fix: "give every token its own id"}
		}
		vocab[id] = t
	}
	for id, t := range added {
		if vocab[id] != "" && vocab[id] != t {
			return nil, &InputError{Field: name + " added_tokens", Problem: fmt.Sprintf("id %d is %q in added_tokens but %q in model.vocab", id, t, vocab[id]), Fix: "give the added token a free id (or its vocabulary id)"}
		}
		if vid, ok := vm[t]; ok && vid != id {
			return nil, &InputError{Field: name + " added_tokens", Problem: fmt.Sprintf("%q has id %d in added_tokens but %d in model.vocab", t, id, vid), Fix: "use one id for the token"}
		}
		vocab[id] = t
	}
	for id, t := range vocab {
		if t == "" {
			return nil, &InputError{Field: name, Problem: fmt.Sprintf("has no token with id %d (ids must be 0..%d with none missing)", id, n-1), Fix: "number the tokens 0..n-1"}
		}
	}
	return vocab, nil
}

func readMergesTxt(name string, r io.Reader) ([]string, error) {
	var merges []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 && strings.HasPrefix(s, "#version") {
			continue
		}
		if s == "" {
			continue
		}
		if l, r, ok := strings.Cut(s, " "); !ok || l == "" || r == "" || strings.Contains(r, " ") {
			return nil, &InputError{Field: fmt.Sprintf("%s line %d", name, line), Problem: fmt.Sprintf("%q is not two tokens separated by one space", s), Fix: `write each merge as "left right"`}
		}
		merges = append(merges, s)
	}
	if err := sc.Err(); err != nil {
		return nil, &InputError{Field: name, Problem: err.Error(), Fix: "give GPT-2's merges.txt (vocab.bpe)"}
	}
	return merges, nil
}

// hfTokenizer is the subset of tokenizer.json read and written here, in the field order of
// the files tokenizers writes.
type hfTokenizer struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// hfByteLevel is the ByteLevel pre-tokenizer, post-processor and decoder.
type hfByteLevel struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	TrimOffsets    bool   `json:"trim_offsets"`
	UseRegex       *bool  `json:"use_regex,omitempty"`
}

// ReadHFTokenizerJSON builds a "bpe" tokenizer from a Hugging Face tokenizer.json whose
// model is "BPE" with a ByteLevel pre-tokenizer (GPT-2's regex, no prefix space) and no
// normalizer. Its added_tokens are the special tokens; roles names the framing tokens
// (tokenizer.json does not say which is BOS or EOS: LoadHFTokenizer reads
// special_tokens_map.json). Anything this package would not reproduce exactly (another
// model type or pre-tokenizer, dropout, a subword prefix, byte fallback, ...) is an
// *InputError naming the field.
func ReadHFTokenizerJSON(r io.Reader, roles SpecialTokens) (*Tokenizer, error) {
	return readHFTokenizerJSON("tokenizer.json", r, roles)
}

func readHFTokenizerJSON(name string, r io.Reader, roles SpecialTokens) (*Tokenizer, error) {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: name + " " + field, Problem: problem, Fix: fix}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var h hfTokenizer
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, bad("", "is not a tokenizer.json: "+err.Error(), "give a Hugging Face tokenizer.json")
	}
	isNull := func(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
	if h.Model.Type != "BPE" {
		return nil, bad("model.type", fmt.Sprintf("is %q, not \"BPE\"", h.Model.Type), "give a byte-level BPE tokenizer (GPT-2 style)")
	}
	if !isNull(h.Normalizer) {
		return nil, bad("normalizer", "is set ("+string(h.Normalizer)+"); GPT-2's byte-level BPE has none", "use a tokenizer without a normalizer")
	}
	byteLevel := func(field string, raw json.RawMessage, nullOK bool, check func(hfByteLevel) string) error {
		if isNull(raw) {
			if nullOK {
				return nil
			}
			return bad(field, "is missing", `use {"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`)
		}
		var bl hfByteLevel
		if err := json.Unmarshal(raw, &bl); err != nil || bl.Type != "ByteLevel" {
			return bad(field, "is not ByteLevel: "+string(raw), "use a byte-level BPE tokenizer (GPT-2 style)")
		}
		if p := check(bl); p != "" {
			return bad(field, p, "use GPT-2's ByteLevel settings (add_prefix_space false, use_regex true)")
		}
		return nil
	}
	if err := byteLevel("pre_tokenizer", h.PreTokenizer, false, func(bl hfByteLevel) string {
		switch {
		case bl.AddPrefixSpace:
			return "has add_prefix_space true (not supported)"
		case bl.UseRegex != nil && !*bl.UseRegex:
			return "has use_regex false (not supported: GPT-2 splits with its regex)"
		}
		return ""
	}); err != nil {
		return nil, err
	}
	okAny := func(hfByteLevel) string { return "" }
	if err := byteLevel("post_processor", h.PostProcessor, true, okAny); err != nil {
		return nil, err
	}
	if err := byteLevel("decoder", h.Decoder, true, okAny); err != nil {
		return nil, err
	}
	md := h.Model
	switch {
	case md.Dropout != nil && *md.Dropout != 0:
		return nil, bad("model.dropout", fmt.Sprintf("is %v (BPE dropout is random)", *md.Dropout), "set dropout to null")
	case md.ContinuingSubwordPrefix != nil && *md.ContinuingSubwordPrefix != "":
		return nil, bad("model.continuing_subword_prefix", fmt.Sprintf("is %q", *md.ContinuingSubwordPrefix), `use "" (GPT-2 has none)`)
	case md.EndOfWordSuffix != nil && *md.EndOfWordSuffix != "":
		return nil, bad("model.end_of_word_suffix", fmt.Sprintf("is %q", *md.EndOfWordSuffix), `use "" (GPT-2 has none)`)
	case md.ByteFallback:
		return nil, bad("model.byte_fallback", "is true", "use false (byte-level BPE needs no fallback)")
	case md.IgnoreMerges:
		return nil, bad("model.ignore_merges", "is true (whole words in the vocabulary skip the merges; not GPT-2's algorithm)", "use false")
	}
	if isNull(md.Vocab) {
		return nil, bad("model.vocab", "is missing", "give the vocabulary (token -> id)")
	}
	var vm map[string]int
	if err := json.Unmarshal(md.Vocab, &vm); err != nil {
		return nil, bad("model.vocab", "is not an object of token -> id: "+err.Error(), "give the vocabulary (token -> id)")
	}
	if isNull(md.Merges) {
		return nil, bad("model.merges", "is missing", "give the merges list")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(md.Merges, &raws); err != nil {
		return nil, bad("model.merges", "is not a list: "+err.Error(), `give the merges as ["left right", ...] or [["left","right"], ...]`)
	}
	merges := make([]string, len(raws))
	for i, raw := range raws {
		var s string
		var pair []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			merges[i] = s
		case json.Unmarshal(raw, &pair) == nil && len(pair) == 2:
			if strings.Contains(pair[0], " ") || strings.Contains(pair[1], " ") {
				return nil, bad(fmt.Sprintf("model.merges[%d]", i), fmt.Sprintf("%q has a token with a space (not byte-level)", pair), "use a byte-level BPE tokenizer")
			}
			merges[i] = pair[0] + " " + pair[1]
		default:
			return nil, bad(fmt.Sprintf("model.merges[%d]", i), "is "+string(raw), `give each merge as "left right" or ["left","right"]`)
		}
	}
	added := map[int]string{}
	var specials []string
	for i, at := range h.AddedTokens {
		if at.Content == "" || at.ID < 0 {
			return nil, bad(fmt.Sprintf("added_tokens[%d]", i), fmt.Sprintf("has id %d and content %q", at.ID, at.Content), "give each added token a non-empty content and an id")
		}
		if prev, ok := added[at.ID]; ok {
			return nil, bad(fmt.Sprintf("added_tokens[%d]", i), fmt.Sprintf("id %d is both %q and %q", at.ID, prev, at.Content), "give each added token its own id")
		}
		added[at.ID] = at.Content
		specials = append(specials, at.Content)
	}
	vocab, err := vocabList(name+" model.vocab", vm, added)
	if err != nil {
		return nil, err
	}
	if roles.UNK == "" && md.UnkToken != nil {
		roles.UNK = *md.UnkToken
	}
	m, err := newBPEModel(name, vocab, merges, specials, roles)
	if err != nil {
		return nil, err
	}
	if md.FuseUnk && m.roles.UNK != "" {
		return nil, bad("model.fuse_unk", "is true (a run of unknown bytes would be one token)", "use false")
	}
	return &Tokenizer{Kind: "bpe", bpe: m}, nil
}

// ReadHFTokenizerFiles builds the tokenizer of a Hugging Face model directory from the
// root of fsys (a directory, the objects of an S3 prefix, an fstest.MapFS):
//   - tokenizer.json when present (ReadHFTokenizerJSON), else vocab.json + merges.txt
//     (ReadVocabMerges);
//   - the roles from special_tokens_map.json (bos_token, eos_token, pad_token, sep_token,
//     unk_token; see SpecialTokens.UNK). Without that file, a vocabulary with
//     "<|endoftext|>" gets GPT2Specials (tokenizer.json: when it is an added token), any
//     other none;
//   - the files HFFiles writes for the byte tokenizer give the byte tokenizer back
//     (NewByteTokenizer).
//
// A directory without tokenizer.json or vocab.json + merges.txt, and anything the readers
// refuse, is an *InputError naming the files and the fix.
func ReadHFTokenizerFiles(fsys fs.FS) (*Tokenizer, error) {
	return readHFTokenizerFiles(func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) }, "")
}

// LoadHFTokenizer is ReadHFTokenizerFiles of the directory dir (errors name dir's files).
func LoadHFTokenizer(dir string) (*Tokenizer, error) {
	return readHFTokenizerFiles(func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }, dir)
}

// Tokenizer builds the checkpoint's tokenizer from its TokenizerFiles, as
// ReadHFTokenizerFiles does from a directory.
func (c *HFCheckpoint) Tokenizer() (*Tokenizer, error) {
	return readHFTokenizerFiles(func(name string) ([]byte, error) {
		if b, ok := c.TokenizerFiles[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}, "")
}

// readHFTokenizerFiles is ReadHFTokenizerFiles over read (a missing file is fs.ErrNotExist);
// dir prefixes the file names in errors.
func readHFTokenizerFiles(read func(name string) ([]byte, error), dir string) (*Tokenizer, error) {
	where := func(name string) string {
		if dir == "" {
			return name
		}
		return filepath.Join(dir, name)
	}
	// get returns the file's bytes, nil if it is missing.
	get := func(name string) ([]byte, error) {
		b, err := read(name)
		switch {
		case err == nil:
			return b, nil
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		}
		return nil, &InputError{Field: where(name), Problem: "cannot be read: " + err.Error(), Fix: "check that the file is readable"}
	}
	tj, err := get("tokenizer.json")
	if err != nil {
		return nil, err
	}
	var vj, mt []byte
	if tj == nil {
		if vj, err = get("vocab.json"); err != nil {
			return nil, err
		}
		if mt, err = get("merges.txt"); err != nil {
			return nil, err
		}
		if vj == nil || mt == nil {
			problem := "is missing: neither tokenizer.json nor vocab.json + merges.txt is there"
			switch {
			case vj != nil:
				problem = "has vocab.json but no merges.txt (and no tokenizer.json)"
			case mt != nil:
				problem = "has merges.txt but no vocab.json (and no tokenizer.json)"
			}
			dirName := "tokenizer"
			if dir != "" {
				dirName = "tokenizer of " + dir
			}
			return nil, &InputError{Field: dirName, Problem: problem,
				Fix: "save the tokenizer next to the model (tokenizer.save_pretrained(dir) writes tokenizer.json, vocab.json and merges.txt), or copy the model's vocab.json and merges.txt there"}
		}
	}
	stm, err := get("special_tokens_map.json")
	if err != nil {
		return nil, err
	}
	var roles SpecialTokens
	if stm != nil {
		if roles, err = parseSpecialTokensMap(where("special_tokens_map.json"), stm); err != nil {
			return nil, err
		}
	}
	var t *Tokenizer
	if tj != nil {
		t, err = readHFTokenizerJSON(where("tokenizer.json"), bytes.NewReader(tj), roles)
	} else {
		t, err = readVocabMerges(where("vocab.json"), where("merges.txt"), bytes.NewReader(vj), bytes.NewReader(mt), roles)
	}
	if err != nil {
		return nil, err
	}
	if id, ok := t.bpe.ids[EndOfText]; ok && stm == nil && (tj == nil || t.bpe.isSpecial[id]) {
		if t, err = t.WithRoles(GPT2Specials); err != nil {
			return nil, err
		}
	}
	if t.bpe.sameAsByte() {
		return NewByteTokenizer(), nil
	}
	return t, nil
}

func parseSpecialTokensMap(name string, b []byte) (SpecialTokens, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return SpecialTokens{}, &InputError{Field: name, Problem: "is not a JSON object: " + err.Error(), Fix: "give a special_tokens_map.json"}
	}
	get := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, nil
		}
		var o struct {
			Content string `json:"content"`
		}
		if json.Unmarshal(v, &o) == nil && o.Content != "" {
			return o.Content, nil
		}
		return "", &InputError{Field: name + " " + key, Problem: "is " + string(v), Fix: `give the token as a string or {"content": ...}`}
	}
	var r SpecialTokens
	for _, f := range []struct {
		key string
		dst *string
	}{{"bos_token", &r.BOS}, {"eos_token", &r.EOS}, {"pad_token", &r.PAD}, {"sep_token", &r.SEP}, {"unk_token", &r.UNK}} {
		s, err := get(f.key)
		if err != nil {
			return SpecialTokens{}, err
		}
		*f.dst = s
	}
	return r, nil
}

func (t *Tokenizer) needBPE(what string) error {
	if t.bpe == nil {
		return &InputError{Field: "tokenizer", Problem: fmt.Sprintf("kind %q has no %s", t.Kind, what), Fix: "use a bpe tokenizer"}
	}
	return nil
}

// orderedVocab marshals token -> id in id order (as tokenizers and openai write it).
type orderedVocab []string

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, tok := range v {
		if id > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(tok))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// jsonString is s as a JSON string without HTML escaping ("<|endoftext|>" stays readable).
func jsonString(s string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func writeJSON(w io.Writer, v any, indent bool) error {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	if indent {
		e.SetIndent("", "  ")
	}
	return e.Encode(v)
}

// WriteVocabJSON writes vocab.json: token -> id for every id, specials included (as
// GPT-2's encoder.json has "<|endoftext|>").
func (t *Tokenizer) WriteVocabJSON(w io.Writer) error {
	if err := t.needBPE("vocabulary"); err != nil {
		return err
	}
	return writeJSON(w, orderedVocab(t.bpe.vocab), false)
}

// WriteMergesTxt writes merges.txt: "#version: 0.2" and one "left right" per line.
func (t *Tokenizer) WriteMergesTxt(w io.Writer) error {
	if err := t.needBPE("merges"); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("#version: 0.2\n")
	for _, m := range t.bpe.merges {
		bw.WriteString(m)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteVocabMerges writes dir/vocab.json and dir/merges.txt (LoadVocabMerges reads them).
func (t *Tokenizer) WriteVocabMerges(dir string) error {
	if err := t.needBPE("vocabulary"); err != nil {
		return err
	}
	var v, m bytes.Buffer
	if err := t.WriteVocabJSON(&v); err != nil {
		return err
	}
	if err := t.WriteMergesTxt(&m); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), v.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "merges.txt"), m.Bytes(), 0o644)
}

func (t *Tokenizer) hfAdded() []hfAddedToken {
	var out []hfAddedToken
	for id, tok := range t.bpe.vocab {
		if t.bpe.isSpecial[id] {
			out = append(out, hfAddedToken{ID: id, Content: tok, Normalized: true, Special: true})
		}
	}
	return out
}

// WriteHFTokenizerJSON writes a Hugging Face tokenizer.json with the structure of GPT-2's
// (ByteLevel pre-tokenizer, post-processor and decoder; model BPE with vocab and merges;
// the special tokens as added_tokens).
func (t *Tokenizer) WriteHFTokenizerJSON(w io.Writer) error {
	if err := t.needBPE("vocabulary"); err != nil {
		return err
	}
	raw := func(v any) json.RawMessage {
		var b bytes.Buffer
		_ = writeJSON(&b, v, false)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	yes := true
	null := json.RawMessage("null")
	empty := ""
	var unk *string
	if u := t.bpe.roles.UNK; u != "" {
		unk = &u
	}
	vocab, _ := orderedVocab(t.bpe.vocab).MarshalJSON()
	h := hfTokenizer{
		Version:       "1.0",
		Truncation:    null,
		Padding:       null,
		AddedTokens:   t.hfAdded(),
		Normalizer:    null,
		PreTokenizer:  raw(hfByteLevel{Type: "ByteLevel", AddPrefixSpace: false, TrimOffsets: true, UseRegex: &yes}),
		PostProcessor: raw(hfByteLevel{Type: "ByteLevel", AddPrefixSpace: true, TrimOffsets: false, UseRegex: &yes}),
		Decoder:       raw(hfByteLevel{Type: "ByteLevel", AddPrefixSpace: true, TrimOffsets: true, UseRegex: &yes}),
		Model: hfModel{Type: "BPE", UnkToken: unk, ContinuingSubwordPrefix: &empty, EndOfWordSuffix: &empty,
			Vocab: vocab, Merges: raw(append([]string{}, t.bpe.merges...))}, // [] (not null) without merges
	}
	if h.AddedTokens == nil {
		h.AddedTokens = []hfAddedToken{}
	}
	return writeJSON(w, h, true)
}

// ByteSpecials name the byte tokenizer's BOS, EOS, PAD and SEP (ids 256..259) in the
// Hugging Face files HFFiles writes for it.
var ByteSpecials = SpecialTokens{BOS: "<|bos|>", EOS: "<|eos|>", PAD: "<|pad|>", SEP: "<|sep|>"}

// byteAsBPE is the byte tokenizer as a byte-level BPE: ids 0..255 are the byte tokens in
// byte order, 256..259 ByteSpecials, and there are no merges, so every piece stays one token
// per byte and the ids are the byte tokenizer's.
var byteAsBPE = sync.OnceValue(func() *bpeModel {
	vocab := make([]string, 0, ByteVocab)
	for b := 0; b < 256; b++ {
		vocab = append(vocab, string(byteRune[b]))
	}
	vocab = append(vocab, ByteSpecials.BOS, ByteSpecials.EOS, ByteSpecials.PAD, ByteSpecials.SEP)
	m, err := newBPEModel("byte tokenizer", vocab, nil, nil, ByteSpecials)
	if err != nil {
		panic("model: byteAsBPE: " + err.Error())
	}
	return m
})

// sameAsByte reports whether m is byteAsBPE (as read back from the files HFFiles wrote).
func (m *bpeModel) sameAsByte() bool {
	b := byteAsBPE()
	return len(m.merges) == 0 && m.roles == b.roles && slices.Equal(m.vocab, b.vocab) && slices.Equal(m.specials, b.specials)
}

// HFFiles returns the Hugging Face tokenizer files of t, by name: tokenizer.json,
// vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json, in the layout
// of the "gpt2" hub repository, so that transformers' AutoTokenizer.from_pretrained loads
// them (and ExportHF can write them next to the model). modelMaxLength is the model's
// context (tokenizer_config.json's model_max_length). The config sets add_bos_token false:
// Hugging Face encodes text as Encode does, without the framing of EncodePrompt.
//
// The byte tokenizer is written as the byte-level BPE with the same ids: the 256 byte tokens
// at ids 0..255, no merges, and ByteSpecials at 256..259 with their roles. Hugging Face
// encodes any text, invalid UTF-8 included, to the byte tokenizer's ids, and
// ReadHFTokenizerFiles gives the byte tokenizer back.
func (t *Tokenizer) HFFiles(modelMaxLength int) (map[string][]byte, error) {
	if t.bpe == nil && t.Kind == "byte" {
		t = &Tokenizer{Kind: "bpe", bpe: byteAsBPE()}
	}
	if err := t.needBPE("vocabulary"); err != nil {
		return nil, err
	}
	var vj, mt, tj bytes.Buffer
	if err := t.WriteVocabJSON(&vj); err != nil {
		return nil, err
	}
	if err := t.WriteMergesTxt(&mt); err != nil {
		return nil, err
	}
	if err := t.WriteHFTokenizerJSON(&tj); err != nil {
		return nil, err
	}
	r := t.bpe.roles
	unk := r.UNK
	if unk == "" {
		unk = r.EOS // as GPT-2's files (never used: every byte has a token)
	}
	opt := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	decoder := map[string]any{}
	for _, at := range t.hfAdded() {
		decoder[strconv.Itoa(at.ID)] = map[string]any{"content": at.Content, "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": true}
	}
	cfg := map[string]any{ // encoding/json sorts the keys, as transformers writes them
		"add_bos_token": false, "add_prefix_space": false, "added_tokens_decoder": decoder,
		"bos_token": opt(r.BOS), "eos_token": opt(r.EOS), "pad_token": opt(r.PAD), "unk_token": opt(unk),
		"clean_up_tokenization_spaces": false, "errors": "replace", "model_max_length": modelMaxLength,
		"tokenizer_class": "GPT2Tokenizer",
	}
	if r.SEP != "" {
		cfg["sep_token"] = r.SEP
	}
	stm := map[string]any{}
	for k, v := range map[string]string{"bos_token": r.BOS, "eos_token": r.EOS, "pad_token": r.PAD, "sep_token": r.SEP, "unk_token": unk} {
		if v != "" {
			stm[k] = v
		}
	}
	var cb, sb bytes.Buffer
	if err := writeJSON(&cb, cfg, true); err != nil {
		return nil, err
	}
	if err := writeJSON(&sb, stm, true); err != nil {
		return nil, err
	}
	return map[string][]byte{"vocab.json": vj.Bytes(), "merges.txt": mt.Bytes(), "tokenizer.json": tj.Bytes(),
		"tokenizer_config.json": cb.Bytes(), "special_tokens_map.json": sb.Bytes()}, nil
}

// WriteHF writes HFFiles(modelMaxLength) into the directory dir (LoadHFTokenizer reads it).
func (t *Tokenizer) WriteHF(dir string, modelMaxLength int) error {
	files, err := t.HFFiles(modelMaxLength)
	if err != nil {
		return err
	}
	for _, name := range HFTokenizerFileNames {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
