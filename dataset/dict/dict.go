// Package dict reads two public dictionaries, as Debian installs them, into entries: a word,
// its part of speech and its glosses (short definitions), one JSON object a line.
//
//   - WordNet 3.0 (Debian wordnet-base, /usr/share/wordnet): index.POS gives each lemma's
//     synsets in sense order (most frequent first), data.POS each synset's gloss
//     (ReadWordNet). A gloss is the definition before its first quoted example.
//   - GCIDE, the GNU Collaborative International Dictionary of English (Debian dict-gcide,
//     /usr/share/dictd/gcide.index and gcide.dict.dz, the dictd format): each indexed block
//     is an entry of Webster's 1913 with a header ("Bank \Bank\, n. [etymology]") and numbered
//     senses (ReadGCIDE). Only nouns, verbs, adjectives and adverbs are kept, and only senses
//     that read as plain text once citations, examples and usage labels are cut.
//
// Entries of both are in the same form, so a model can be pre-trained on one dictionary and
// fine-tuned on the other (tasks.WordNet). cmd/dictjsonl writes them; testdata holds a small
// excerpt of each source (chosen by cmd/dictjsonl -sample) with its license.
//
// It knows nothing of the model, Temporal or S3.
package dict

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"strings"
)

// Entry is one word in one part of speech with its glosses, most common sense first.
type Entry struct {
	Word    string   `json:"word"`    // lower case; WordNet's underscores are spaces
	POS     string   `json:"pos"`     // noun, verb, adjective or adverb
	Glosses []string `json:"glosses"` // at least one, none repeated
}

// Parts of speech, as prompts name them.
const (
	Noun      = "noun"
	Verb      = "verb"
	Adjective = "adjective"
	Adverb    = "adverb"
)

// WriteJSONL writes entries one JSON object a line.
func WriteJSONL(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads entries written by WriteJSONL; name (a file name) is in every error.
func ReadJSONL(r io.Reader, name string) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	var out []Entry
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %v (fix: regenerate the file with `make wordnet-data`)", name, line, err)
		}
		if e.Word == "" || e.POS == "" || len(e.Glosses) == 0 {
			return nil, fmt.Errorf("%s line %d: an entry needs word, pos and glosses (fix: regenerate the file with `make wordnet-data`)", name, line)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no entries (fix: regenerate the file with `make wordnet-data`)", name)
	}
	return out, nil
}

// WordHash is a fixed hash of a word (FNV-1a, 64 bits) that splits and samples by word, so
// that every part of speech of a word lands on the same side.
func WordHash(word string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(word))
	return h.Sum64()
}

// sortEntries orders entries by word, then part of speech, and merges duplicates (their
// glosses in order, none repeated).
func sortEntries(in []Entry) []Entry {
	sort.SliceStable(in, func(i, j int) bool {
		if in[i].Word != in[j].Word {
			return in[i].Word < in[j].Word
		}
		return in[i].POS < in[j].POS
	})
	var out []Entry
	for _, e := range in {
		if n := len(out); n > 0 && out[n-1].Word == e.Word && out[n-1].POS == e.POS {
			out[n-1].Glosses = appendNew(out[n-1].Glosses, e.Glosses...)
			continue
		}
		out = append(out, Entry{Word: e.Word, POS: e.POS, Glosses: appendNew(nil, e.Glosses...)})
	}
	return out
}

// appendNew appends the glosses not already in list.
func appendNew(list []string, glosses ...string) []string {
	for _, g := range glosses {
		if !slices.Contains(list, g) {
			list = append(list, g)
		}
	}
	return list
}
