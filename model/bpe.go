package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// GPT-2's byte-level BPE (Kind "bpe"): the text is split by GPT-2's pre-tokenizer
// (bpe_pretok.go), each piece's UTF-8 bytes are written in the byte-level alphabet and merged
// by rank (the lowest-ranked adjacent pair first, every occurrence of it left to right, as in
// openai/gpt-2 encoder.py's bpe), and each resulting symbol is a vocabulary id.

// EndOfText is GPT-2's only special token: a document separator during pre-training, and
// here both BOS and EOS of GPT-2 tokenizers (see GPT2Specials).
const EndOfText = "<|endoftext|>"

// SpecialTokens names the token of each framing role of a BPE tokenizer ("" for none).
// Each named token is special: EncodeSpecial matches it in text, Encode never produces it
// (UNK aside), and Decode drops it (stopping at EOS).
type SpecialTokens struct {
	BOS string `json:"bos,omitempty"` // starts every prompt
	EOS string `json:"eos,omitempty"` // ends every response; generation stops there
	PAD string `json:"pad,omitempty"` // fills batch rows (never a target)
	SEP string `json:"sep,omitempty"` // ends every prompt
	// UNK stands for each byte that has no token of its own. A byte-level vocabulary has all
	// 256 byte tokens and never needs it (it is then dropped: GPT-2's files name
	// "<|endoftext|>" as unk_token); tiny vocabularies without them (testdata/hf/tiny_gpt2)
	// need it, and Encode writes it for such a byte, as transformers' GPT2Tokenizer does
	// (encoder.get(token, unk)). Those bytes do not survive Decode.
	UNK string `json:"unk,omitempty"`
}

// GPT2Specials are GPT-2's roles: "<|endoftext|>" is BOS and EOS, and there is no PAD or SEP.
var GPT2Specials = SpecialTokens{BOS: EndOfText, EOS: EndOfText}

// SpecialIDs are a tokenizer's special token ids, -1 where it has none.
type SpecialIDs struct{ BOS, EOS, PAD, SEP int }

// tokenizerWire is the JSON of a Tokenizer (in checkpoint metadata). A byte tokenizer has
// only Kind, so it marshals to exactly {"kind":"byte"}.
type tokenizerWire struct {
	Kind     string        `json:"kind"`
	Vocab    []string      `json:"vocab,omitempty"`    // token of each id, byte-level alphabet (specials as their text)
	Merges   []string      `json:"merges,omitempty"`   // "left right" by rank, as in merges.txt
	Specials []string      `json:"specials,omitempty"` // special tokens (in Vocab), roles included
	Roles    SpecialTokens `json:"roles,omitzero"`
}

// MarshalJSON writes the tokenizer with its vocabulary and merges (for "bpe").
func (t Tokenizer) MarshalJSON() ([]byte, error) {
	w := tokenizerWire{Kind: t.Kind}
	if t.bpe != nil {
		w.Vocab, w.Merges, w.Specials, w.Roles = t.bpe.vocab, t.bpe.merges, t.bpe.specials, t.bpe.roles
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote and checks it (an *InputError for a "bpe"
// tokenizer that does not build, an error for an unknown kind).
func (t *Tokenizer) UnmarshalJSON(b []byte) error {
	var w tokenizerWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	switch w.Kind {
	case "byte":
		if len(w.Vocab)+len(w.Merges)+len(w.Specials) > 0 || w.Roles != (SpecialTokens{}) {
			return fmt.Errorf("byte tokenizer with a vocabulary, merges or specials")
		}
		*t = Tokenizer{Kind: "byte"}
	case "bpe":
		m, err := newBPEModel("tokenizer", w.Vocab, w.Merges, w.Specials, w.Roles)
		if err != nil {
			return err
		}
		*t = Tokenizer{Kind: "bpe", bpe: m}
	default:
		return fmt.Errorf("tokenizer kind %q is not supported (want \"byte\" or \"bpe\")", w.Kind)
	}
	return nil
}

type bpeMerge struct{ rank, id int32 }

// bpeModel is an immutable BPE vocabulary with its lookup tables and a word cache (safe for
// concurrent use).
type bpeModel struct {
	vocab    []string
	merges   []string
	specials []string
	roles    SpecialTokens

	ids       map[string]int
	byteID    [256]int32
	ranks     map[uint64]bpeMerge // left<<32 | right -> rank and merged id
	tokBytes  [][]byte            // bytes of each id (a special's text for a special)
	isSpecial []bool
	sp        SpecialIDs

	mu    sync.RWMutex
	cache map[string][]int32
}

const bpeCacheMax = 1 << 16 // words cached before the cache is cleared; words longer than 64 bytes are not cached

// newBPEModel checks and indexes a vocabulary; src names the source in errors (a file name
// or "tokenizer"). Every problem is an *InputError: nothing is dropped silently.
func newBPEModel(src string, vocab, merges, specials []string, roles SpecialTokens) (*bpeModel, error) {
	bad := func(field, problem, fix string) error {
		return &InputError{Field: src + " " + field, Problem: problem, Fix: fix}
	}
	if len(vocab) == 0 {
		return nil, bad("vocab", "is empty", "give the BPE vocabulary (256 byte tokens at least)")
	}
	m := &bpeModel{vocab: vocab, merges: merges, roles: roles, ids: make(map[string]int, len(vocab)),
		ranks: make(map[uint64]bpeMerge, len(merges)), tokBytes: make([][]byte, len(vocab)), isSpecial: make([]bool, len(vocab)),
		cache: map[string][]int32{}}
	for id, tok := range vocab {
		if prev, dup := m.ids[tok]; dup {
			return nil, bad("vocab", fmt.Sprintf("token %q has two ids, %d and %d", tok, prev, id), "give every token one id")
		}
		if tok == "" {
			return nil, bad("vocab", fmt.Sprintf("token %d is empty", id), "remove the empty token")
		}
		m.ids[tok] = id
	}
	if roles.UNK != "" && m.hasByteTokens() {
		roles.UNK = "" // never used (see SpecialTokens.UNK)
		m.roles = roles
	}
	// Specials: the given list plus the role tokens, in vocabulary order.
	want := map[string]bool{}
	for _, s := range specials {
		want[s] = true
	}
	for _, r := range []struct{ name, tok string }{{"bos", roles.BOS}, {"eos", roles.EOS}, {"pad", roles.PAD}, {"sep", roles.SEP}, {"unk", roles.UNK}} {
		if r.tok != "" {
			if _, ok := m.ids[r.tok]; !ok {
				return nil, bad("special token "+r.name, fmt.Sprintf("%q is not in the vocabulary", r.tok), "add it to the vocabulary (or added_tokens) or choose another token")
			}
			want[r.tok] = true
		}
	}
	for s := range want {
		id, ok := m.ids[s]
		if !ok {
			return nil, bad("specials", fmt.Sprintf("%q is not in the vocabulary", s), "add the special token to the vocabulary")
		}
		m.isSpecial[id] = true
	}
	for id, tok := range vocab {
		if m.isSpecial[id] {
			m.specials = append(m.specials, tok)
			m.tokBytes[id] = []byte(tok)
			continue
		}
		b, ok := tokenToBytes(tok)
		if !ok {
			return nil, bad("vocab", fmt.Sprintf("token %q (id %d) has a character outside GPT-2's byte-level alphabet", tok, id),
				"use a byte-level BPE vocabulary, or declare the token special (added_tokens)")
		}
		m.tokBytes[id] = b
	}
	for b := 0; b < 256; b++ {
		tok := string(byteRune[b])
		id, ok := m.ids[tok]
		switch {
		case !ok && roles.UNK != "":
			m.byteID[b] = int32(m.ids[roles.UNK])
		case !ok || m.isSpecial[id]:
			return nil, bad("vocab", fmt.Sprintf("lacks the token %q of byte 0x%02x", tok, b),
				"a byte-level BPE vocabulary has a token for each of the 256 bytes (or name an unknown-byte token: unk_token in special_tokens_map.json)")
		default:
			m.byteID[b] = int32(id)
		}
	}
	for rank, line := range merges {
		l, r, ok := strings.Cut(line, " ")
		if !ok || l == "" || r == "" || strings.Contains(r, " ") {
			return nil, bad("merges", fmt.Sprintf("merge %d %q is not two tokens separated by one space", rank, line), `write each merge as "left right"`)
		}
		li, lok := m.ids[l]
		ri, rok := m.ids[r]
		mi, mok := m.ids[l+r]
		switch {
		case !lok || m.isSpecial[li]:
			return nil, bad("merges", fmt.Sprintf("merge %d %q: %q is not a token of the vocabulary", rank, line, l), "use the merges that belong to this vocabulary")
		case !rok || m.isSpecial[ri]:
			return nil, bad("merges", fmt.Sprintf("merge %d %q: %q is not a token of the vocabulary", rank, line, r), "use the merges that belong to this vocabulary")
		case !mok || m.isSpecial[mi]:
			return nil, bad("merges", fmt.Sprintf("merge %d %q: the merged token %q is not in the vocabulary", rank, line, l+r), "use the merges that belong to this vocabulary")
		}
		key := uint64(li)<<32 | uint64(ri)
		if prev, dup := m.ranks[key]; dup {
			return nil, bad("merges", fmt.Sprintf("merge %q appears twice (ranks %d and %d)", line, prev.rank, rank), "remove the duplicate")
		}
		m.ranks[key] = bpeMerge{rank: int32(rank), id: int32(mi)}
	}
	m.sp = SpecialIDs{BOS: m.roleID(roles.BOS), EOS: m.roleID(roles.EOS), PAD: m.roleID(roles.PAD), SEP: m.roleID(roles.SEP)}
	return m, nil
}

// hasByteTokens reports whether the vocabulary has a token for each of the 256 bytes.
func (m *bpeModel) hasByteTokens() bool {
	for b := 0; b < 256; b++ {
		if _, ok := m.ids[string(byteRune[b])]; !ok {
			return false
		}
	}
	return true
}

func (m *bpeModel) roleID(tok string) int {
	if tok == "" {
		return -1
	}
	return m.ids[tok]
}

// word returns the ids of one pre-token (cached).
func (m *bpeModel) word(piece string) []int32 {
	if len(piece) <= 64 {
		m.mu.RLock()
		ids, ok := m.cache[piece]
		m.mu.RUnlock()
		if ok {
			return ids
		}
	}
	ids := m.merge(piece)
	if len(piece) <= 64 {
		m.mu.Lock()
		if len(m.cache) >= bpeCacheMax {
			clear(m.cache)
		}
		m.cache[strings.Clone(piece)] = ids // not a slice of the caller's text
		m.mu.Unlock()
	}
	return ids
}

// merge runs GPT-2's merge loop on the bytes of piece: while some adjacent pair is a merge,
// take the lowest-ranked one and merge every occurrence of it, left to right. Long pieces
// use mergeLong (same result in O(n log n) instead of O(n^2)).
func (m *bpeModel) merge(piece string) []int32 {
	if len(piece) > bpeLongPiece {
		return m.mergeLong(piece)
	}
	return m.mergeShort(piece)
}

// mergeShort is merge's loop as written in openai/gpt-2 encoder.py (O(n^2)).
func (m *bpeModel) mergeShort(piece string) []int32 {
	syms := make([]int32, len(piece))
	for i := 0; i < len(piece); i++ {
		syms[i] = m.byteID[piece[i]]
	}
	for len(syms) > 1 {
		best := bpeMerge{rank: -1}
		var bl, br int32
		for i := 0; i+1 < len(syms); i++ {
			if mg, ok := m.ranks[uint64(syms[i])<<32|uint64(syms[i+1])]; ok && (best.rank < 0 || mg.rank < best.rank) {
				best, bl, br = mg, syms[i], syms[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		out := syms[:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == bl && syms[i+1] == br {
				out = append(out, best.id)
				i++
				continue
			}
			out = append(out, syms[i])
		}
		syms = out
	}
	return syms
}

const bpeLongPiece = 48

type rankPos struct{ rank, pos int32 }

// mergeLong is merge for long pieces: the symbols are a linked list and the candidate pairs
// sit in a heap by (rank, position). Each round takes every pair of the lowest rank at
// once and merges them in position order (skipping those an earlier merge of the round
// consumed), exactly like merge's pass, then adds the pairs the merges made. A merged token
// differs from both its parts, so a round never creates a pair of its own rank.
func (m *bpeModel) mergeLong(piece string) []int32 {
	n := len(piece)
	if n == 0 {
		return []int32{}
	}
	sym := make([]int32, n)
	next := make([]int32, n) // -1 at the end; a merged-away symbol has sym -1
	prev := make([]int32, n)
	for i := 0; i < n; i++ {
		sym[i], next[i], prev[i] = m.byteID[piece[i]], int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	var h []rankPos // min-heap on (rank, pos)
	less := func(a, b rankPos) bool { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos) }
	push := func(x rankPos) {
		h = append(h, x)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !less(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	pop := func() rankPos {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		for i := 0; ; {
			l, r, s := 2*i+1, 2*i+2, i
			if l < len(h) && less(h[l], h[s]) {
				s = l
			}
			if r < len(h) && less(h[r], h[s]) {
				s = r
			}
			if s == i {
				break
			}
			h[i], h[s] = h[s], h[i]
			i = s
		}
		return top
	}
	// pairAt is the merge of the pair starting at symbol i (ok false if none).
	pairAt := func(i int32) (bpeMerge, bool) {
		if i < 0 || sym[i] < 0 || next[i] < 0 {
			return bpeMerge{}, false
		}
		mg, ok := m.ranks[uint64(sym[i])<<32|uint64(sym[next[i]])]
		return mg, ok
	}
	valid := func(x rankPos) bool {
		mg, ok := pairAt(x.pos)
		return ok && mg.rank == x.rank
	}
	for i := int32(0); i+1 < int32(n); i++ {
		if mg, ok := pairAt(i); ok {
			push(rankPos{mg.rank, i})
		}
	}
	var round []int32
	for len(h) > 0 {
		top := pop()
		if !valid(top) {
			continue
		}
		round = append(round[:0], top.pos)
		for len(h) > 0 && h[0].rank == top.rank {
			if x := pop(); valid(x) {
				round = append(round, x.pos)
			}
		}
		for _, i := range round { // ascending positions (heap order)
			if !valid(rankPos{top.rank, i}) {
				continue // its left symbol was merged into the pair before it
			}
			mg, _ := pairAt(i)
			j := next[i]
			sym[i] = mg.id
			sym[j] = -1
			next[i] = next[j]
			if next[j] >= 0 {
				prev[next[j]] = i
			}
			if p, ok := pairAt(prev[i]); ok {
				push(rankPos{p.rank, prev[i]})
			}
			if p, ok := pairAt(i); ok {
				push(rankPos{p.rank, i})
			}
		}
	}
	out := make([]int32, 0, n)
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}

// encodeOrdinary appends the ids of text, special tokens' text included as ordinary text.
func (m *bpeModel) encodeOrdinary(ids []int, text string) []int {
	splitGPT2(text, func(piece string) {
		for _, id := range m.word(piece) {
			ids = append(ids, int(id))
		}
	})
	return ids
}

// encodeSpecial appends the ids of text, each occurrence of a special token's text being
// that token (leftmost first, the longest special where two start at the same byte).
func (m *bpeModel) encodeSpecial(ids []int, text string) []int {
	if len(m.specials) == 0 {
		return m.encodeOrdinary(ids, text)
	}
	for len(text) > 0 {
		at, tok := -1, ""
		for _, s := range m.specials {
			if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at || (i == at && len(s) > len(tok))) {
				at, tok = i, s
			}
		}
		if at < 0 {
			return m.encodeOrdinary(ids, text)
		}
		ids = m.encodeOrdinary(ids, text[:at])
		ids = append(ids, m.ids[tok])
		text = text[at+len(tok):]
	}
	return ids
}

func (m *bpeModel) decode(ids []int, stopAtEOS, specials bool) string {
	var b []byte
	for _, id := range ids {
		if id < 0 || id >= len(m.vocab) {
			continue
		}
		if stopAtEOS && id == m.sp.EOS {
			break
		}
		if m.isSpecial[id] && !specials {
			continue
		}
		b = append(b, m.tokBytes[id]...)
	}
	return string(b)
}

// NewBPETokenizer builds a "bpe" tokenizer from a byte-level vocabulary (the token of each
// id, written in GPT-2's byte-level alphabet; special tokens as their plain text), merges
// ("left right", best rank first), extra special tokens (each in vocab) and the framing roles.
// Problems are *InputErrors.
func NewBPETokenizer(vocab, merges, specials []string, roles SpecialTokens) (*Tokenizer, error) {
	m, err := newBPEModel("tokenizer", append([]string(nil), vocab...), append([]string(nil), merges...), specials, roles)
	if err != nil {
		return nil, err
	}
	return &Tokenizer{Kind: "bpe", bpe: m}, nil
}

// WithRoles returns a copy of a "bpe" tokenizer with other framing roles (same vocabulary,
// merges and special tokens; role tokens become special).
func (t *Tokenizer) WithRoles(roles SpecialTokens) (*Tokenizer, error) {
	if t.bpe == nil {
		return nil, &InputError{Field: "tokenizer", Problem: fmt.Sprintf("kind %q has fixed special tokens", t.Kind), Fix: "use a bpe tokenizer"}
	}
	return NewBPETokenizer(t.bpe.vocab, t.bpe.merges, t.bpe.specials, roles)
}

// Vocab returns the token of each id (byte-level alphabet; specials as their text), nil for
// the byte tokenizer.
func (t *Tokenizer) Vocab() []string {
	if t.bpe == nil {
		return nil
	}
	return append([]string(nil), t.bpe.vocab...)
}

// Merges returns the merges ("left right", by rank), nil for the byte tokenizer.
func (t *Tokenizer) Merges() []string {
	if t.bpe == nil {
		return nil
	}
	return append([]string(nil), t.bpe.merges...)
}

// Specials returns the special tokens (roles included) in id order, nil for the byte
// tokenizer (its specials have no text).
func (t *Tokenizer) Specials() []string {
	if t.bpe == nil {
		return nil
	}
	return append([]string(nil), t.bpe.specials...)
}

// Roles returns the token of each framing role of a "bpe" tokenizer (zero for "byte").
func (t *Tokenizer) Roles() SpecialTokens {
	if t.bpe == nil {
		return SpecialTokens{}
	}
	return t.bpe.roles
}
