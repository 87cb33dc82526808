package model

import (
	"container/heap"
	"fmt"
	"sort"
)

// TrainBPE trains a byte-level BPE tokenizer (Kind "bpe") of vocabSize ids on texts, for
// models trained from scratch. Ids 0..255 are the 256 bytes (id = byte value), then one id
// per merge in the order learned, then specials in the order given. Text is split with
// GPT-2's pre-tokenizer (so no merge crosses a piece boundary), and each step merges the
// adjacent pair of tokens with the highest count over all pieces (each piece weighted by its
// frequency); ties go to the pair with the smallest (left id, right id). A merge replaces
// every occurrence left to right, as encoding does, so the result is deterministic: the
// same texts (in any order), size and specials give the same tokenizer.
//
// The first special (if any) is BOS and EOS (GPT-2's use of "<|endoftext|>"); WithRoles
// assigns others. Specials must be distinct and non-empty. An *InputError if vocabSize is
// below 256+len(specials) or above what the corpus allows (every piece a single token).
func TrainBPE(texts []string, vocabSize int, specials []string) (*Tokenizer, error) {
	minSize := 256 + len(specials)
	if vocabSize < minSize {
		return nil, &InputError{Field: "vocab_size", Problem: fmt.Sprintf("is %d, below 256 bytes + %d specials", vocabSize, len(specials)), Fix: fmt.Sprintf("ask for at least %d", minSize)}
	}
	seenSp := map[string]bool{}
	for _, s := range specials {
		if s == "" || seenSp[s] {
			return nil, &InputError{Field: "specials", Problem: fmt.Sprintf("%q is empty or repeated", s), Fix: "give distinct non-empty special tokens"}
		}
		seenSp[s] = true
	}
	// Distinct pieces with their counts, sorted so that nothing depends on map order.
	counts := map[string]int{}
	for _, t := range texts {
		splitGPT2(t, func(p string) { counts[p]++ })
	}
	pieces := make([]string, 0, len(counts))
	for p := range counts {
		pieces = append(pieces, p)
	}
	sort.Strings(pieces)
	words := make([][]int32, len(pieces))
	freq := make([]int, len(pieces))
	pairs := map[uint64]int{}
	where := map[uint64][]int32{} // pair -> words that had it when it was counted (may be stale)
	for w, p := range pieces {
		freq[w] = counts[p]
		words[w] = make([]int32, len(p))
		for i := 0; i < len(p); i++ {
			words[w][i] = int32(p[i])
		}
		for i := 0; i+1 < len(p); i++ {
			k := pairKey(words[w][i], words[w][i+1])
			if pairs[k] == 0 || where[k][len(where[k])-1] != int32(w) {
				where[k] = append(where[k], int32(w))
			}
			pairs[k] += freq[w]
		}
	}
	h := &pairHeap{}
	for k, c := range pairs {
		h.items = append(h.items, pairItem{k, c})
	}
	heap.Init(h)

	vocab := make([][]byte, 256, vocabSize)
	for b := range vocab {
		vocab[b] = []byte{byte(b)}
	}
	var merges []string
	touched := map[uint64]bool{}
	for len(vocab)+len(specials) < vocabSize {
		var best pairItem
		for h.Len() > 0 {
			it := heap.Pop(h).(pairItem)
			if c := pairs[it.key]; c == it.count && c > 0 {
				best = it
				break
			}
		}
		if best.count == 0 {
			return nil, &InputError{Field: "vocab_size", Problem: fmt.Sprintf("is %d but the corpus allows at most %d (every piece is a single token)", vocabSize, len(vocab)+len(specials)),
				Fix: "ask for a smaller vocabulary or train on more text"}
		}
		l, r := int32(best.key>>32), int32(best.key&0xffffffff)
		id := int32(len(vocab))
		vocab = append(vocab, append(append([]byte(nil), vocab[l]...), vocab[r]...))
		merges = append(merges, bytesToToken(vocab[l])+" "+bytesToToken(vocab[r]))
		clear(touched)
		ws := where[best.key]
		delete(where, best.key)
		for i, w := range ws {
			if i > 0 && ws[i-1] == w {
				continue
			}
			word := words[w]
			has := false
			for j := 0; j+1 < len(word); j++ {
				if word[j] == l && word[j+1] == r {
					has = true
					break
				}
			}
			if !has {
				continue
			}
			f := freq[w]
			for j := 0; j+1 < len(word); j++ {
				k := pairKey(word[j], word[j+1])
				pairs[k] -= f
				touched[k] = true
			}
			out := word[:0]
			for j := 0; j < len(word); j++ {
				if j+1 < len(word) && word[j] == l && word[j+1] == r {
					out = append(out, id)
					j++
					continue
				}
				out = append(out, word[j])
			}
			words[w] = out
			for j := 0; j+1 < len(out); j++ {
				k := pairKey(out[j], out[j+1])
				pairs[k] += f
				touched[k] = true
				if wk := where[k]; len(wk) == 0 || wk[len(wk)-1] != w {
					where[k] = append(where[k], w)
				}
			}
		}
		keys := make([]uint64, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if c := pairs[k]; c > 0 {
				heap.Push(h, pairItem{k, c})
			} else {
				delete(pairs, k)
			}
		}
	}
	toks := make([]string, 0, vocabSize)
	for _, b := range vocab {
		toks = append(toks, bytesToToken(b))
	}
	toks = append(toks, specials...)
	var roles SpecialTokens
	if len(specials) > 0 {
		roles = SpecialTokens{BOS: specials[0], EOS: specials[0]}
	}
	m, err := newBPEModel("trained tokenizer", toks, merges, specials, roles)
	if err != nil {
		return nil, err
	}
	return &Tokenizer{Kind: "bpe", bpe: m}, nil
}

func pairKey(l, r int32) uint64 { return uint64(l)<<32 | uint64(r) }

type pairItem struct {
	key   uint64
	count int
}

// pairHeap pops the highest count first, then the smallest (left, right) id pair.
type pairHeap struct{ items []pairItem }

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.count != b.count {
		return a.count > b.count
	}
	return a.key < b.key
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
