package tasks

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/dataset/dict"
)

// WordNet is a task on data nobody here wrote: definitions from WordNet 3.0 (Princeton),
// with a base pre-trained on another dictionary, GCIDE (Webster's 1913 and its
// collaborators), in the same format: the paper's situation of a pretrained model that meets
// a small set of target demonstrations.
//
//	prompt:   "define: alight (verb)"
//	response: "to come to rest, settle"
//
// Pairs. An entry is a word in one part of speech (noun, verb, adjective, adverb) with its
// glosses, most frequent sense first (package dict). Its prompt is "define: WORD (POS)" and
// its response the first gloss of at most MaxGloss bytes; an entry whose word is longer than
// MaxWord bytes, or without such a gloss, is left out (so that a pair fits a byte-level
// context of 128). A prompt appears once in a split: one demonstration per word sense group.
//
// Split by word: a fixed hash of the word (dict.WordHash of "wordnet-split/WORD", 20
// buckets) puts 70% of the words in train, 15% in val and 15% in test, every part of speech
// of a word on the same side, so no test word is ever trained on. Generate draws from train,
// HeldOut from val or test, each in a seeded order, so a seed's first n pairs are the same
// for every n (the 4n arm's first n are the n arm's).
//
// Metrics: test_nll (every run's held-out NLL per token of the real glosses) and Score, the
// fraction of greedy outputs that are exactly one of the word's glosses (any of its senses,
// long ones included) once both are lower-cased, their white space collapsed and a trailing
// period or semicolon dropped (NormalizeGloss).
//
// Pretrain is GCIDE: every entry's glosses (the same length limits), one pair per gloss, in
// a seeded order, repeated in a new order when n is larger. GCIDE is not split: its entries
// include words of WordNet's test split, defined by the other dictionary, which is the
// knowledge a pretrained base brings.
//
// Data. The full data are two JSONL files written by `make wordnet-data` (cmd/dictjsonl):
// wordnet.jsonl and gcide.jsonl, in the folder that $SPACE_WORDNET_DATA names, else in
// .data/wordnet under the working directory when it exists (a worker started by `make
// worker`, `make compare`). Without them the task uses the committed sample
// (tasks/testdata/wordnet: about 800 WordNet and 500 GCIDE entries, the words with
// dict.WordHash 0 modulo 200), and says so in Source. Every worker of a run must see the
// same data: the run's inputs manifest records Source.
type WordNet struct {
	MaxWord  int // bytes of a word
	MaxGloss int // bytes of a gloss
	data     func() (*wordnetData, error)
}

// WordNetDataEnv is the environment variable naming the folder of the full data.
const WordNetDataEnv = "SPACE_WORDNET_DATA"

// WordNetDefaultDir is where `make wordnet-data` writes the full data, relative to the
// working directory of a worker.
const WordNetDefaultDir = ".data/wordnet"

//go:embed testdata/wordnet/wordnet.jsonl
var wordnetSample []byte

//go:embed testdata/wordnet/gcide.jsonl
var gcideSample []byte

func init() {
	w := &WordNet{MaxWord: 20, MaxGloss: 80}
	w.data = sync.OnceValues(func() (*wordnetData, error) {
		dir, err := wordnetDir()
		if err != nil {
			return nil, err
		}
		return w.load(dir)
	})
	register(w)
}

// NewWordNet is the task on the data in dir (wordnet.jsonl, gcide.jsonl), or on the
// committed sample when dir is "", with the registered task's length limits.
func NewWordNet(dir string) *WordNet {
	w := &WordNet{MaxWord: 20, MaxGloss: 80}
	w.data = sync.OnceValues(func() (*wordnetData, error) { return w.load(dir) })
	return w
}

// wordnetDir is the folder of the full data: $SPACE_WORDNET_DATA (which must hold them), or
// .data/wordnet when it holds wordnet.jsonl, else "" (the committed sample).
func wordnetDir() (string, error) {
	if dir := os.Getenv(WordNetDataEnv); dir != "" {
		return dir, nil
	}
	if _, err := os.Stat(filepath.Join(WordNetDefaultDir, "wordnet.jsonl")); err == nil {
		return WordNetDefaultDir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("task wordnet: %w", err)
	}
	return "", nil
}

func (*WordNet) Name() string { return "wordnet" }

// MetricName: Score is whether the greedy output is exactly one of the word's glosses.
func (*WordNet) MetricName() string { return "gloss_exact" }

// wordnetData is the task's data once loaded.
type wordnetData struct {
	source           string
	train, val, test []dataset.Pair
	glosses          map[string][]string // prompt -> every gloss of the word, normalized
	pretrain         []dataset.Pair      // GCIDE, one pair per gloss, file order
}

func (w *WordNet) load(dir string) (*wordnetData, error) {
	wn, gc := wordnetSample, gcideSample
	source := "the committed sample tasks/testdata/wordnet (words with dict.WordHash 0 mod 200; the full data: make wordnet-data)"
	if dir != "" {
		var err error
		fix := fmt.Sprintf("(fix: run `make wordnet-data`, or point %s at the folder that holds wordnet.jsonl and gcide.jsonl)", WordNetDataEnv)
		if wn, err = os.ReadFile(filepath.Join(dir, "wordnet.jsonl")); err != nil {
			return nil, fmt.Errorf("task wordnet: %w %s", err, fix)
		}
		if gc, err = os.ReadFile(filepath.Join(dir, "gcide.jsonl")); err != nil {
			return nil, fmt.Errorf("task wordnet: %w %s", err, fix)
		}
		source = "the full data in " + dir
	}
	target, err := dict.ReadJSONL(bytes.NewReader(wn), "wordnet.jsonl")
	if err != nil {
		return nil, fmt.Errorf("task wordnet: %w", err)
	}
	src, err := dict.ReadJSONL(bytes.NewReader(gc), "gcide.jsonl")
	if err != nil {
		return nil, fmt.Errorf("task wordnet: %w", err)
	}
	d := &wordnetData{glosses: map[string][]string{}}
	for _, e := range target {
		p := wordnetPrompt(e)
		for _, g := range e.Glosses {
			d.glosses[p] = append(d.glosses[p], NormalizeGloss(g))
		}
		g, ok := w.reference(e)
		if !ok {
			continue
		}
		pair := dataset.Pair{Prompt: p, Response: g}
		switch b := dict.WordHash("wordnet-split/"+e.Word) % 20; {
		case b < 3:
			d.test = append(d.test, pair)
		case b < 6:
			d.val = append(d.val, pair)
		default:
			d.train = append(d.train, pair)
		}
	}
	for _, e := range src {
		if len(e.Word) > w.MaxWord {
			continue
		}
		for _, g := range e.Glosses {
			if len(g) <= w.MaxGloss {
				d.pretrain = append(d.pretrain, dataset.Pair{Prompt: wordnetPrompt(e), Response: g})
			}
		}
	}
	d.source = fmt.Sprintf("%s: WordNet %d train, %d val, %d test prompts; GCIDE %d pretrain pairs",
		source, len(d.train), len(d.val), len(d.test), len(d.pretrain))
	if len(d.train) == 0 || len(d.test) == 0 || len(d.val) == 0 || len(d.pretrain) == 0 {
		return nil, fmt.Errorf("task wordnet: %s: a split is empty (fix: regenerate the data with `make wordnet-data`)", d.source)
	}
	return d, nil
}

// reference is the response of an entry: its first gloss that fits MaxGloss.
func (w *WordNet) reference(e dict.Entry) (string, bool) {
	if len(e.Word) > w.MaxWord {
		return "", false
	}
	for _, g := range e.Glosses {
		if len(g) <= w.MaxGloss {
			return g, true
		}
	}
	return "", false
}

func wordnetPrompt(e dict.Entry) string { return fmt.Sprintf("define: %s (%s)", e.Word, e.POS) }

// NormalizeGloss is the form in which Score compares an output with a gloss: lower case,
// white space collapsed to single spaces, a trailing period or semicolon dropped.
func NormalizeGloss(s string) string {
	return strings.TrimRight(strings.Join(strings.Fields(strings.ToLower(s)), " "), ".;")
}

// must is the loaded data; the task's methods have no error return, so a load error (which
// Prepare and PretrainBase report cleanly first, through Corpus.Load) panics here.
func (w *WordNet) must() *wordnetData {
	d, err := w.data()
	if err != nil {
		panic(err)
	}
	return d
}

// Load reads the data (once) and describes them.
func (w *WordNet) Load() (CorpusInfo, error) {
	d, err := w.data()
	if err != nil {
		return CorpusInfo{}, err
	}
	return CorpusInfo{Source: d.source, Train: len(d.train), Val: len(d.val), Test: len(d.test), Pretrain: len(d.pretrain)}, nil
}

// Generate returns the first n pairs (at most the train split) of train in the seed's order.
func (w *WordNet) Generate(seed uint64, n int) []dataset.Pair {
	return firstInOrder(w.must().train, seed, 0x3d0f, n)
}

// HeldOut returns the first n pairs (at most the split) of val or test in the seed's order.
func (w *WordNet) HeldOut(split string, seed uint64, n int) []dataset.Pair {
	d := w.must()
	if split == "val" {
		return firstInOrder(d.val, seed, 0x7a1d, n)
	}
	return firstInOrder(d.test, seed, 0x7e57, n)
}

// Pretrain returns n GCIDE pairs: all of them in a seeded order, then again in another, ...
func (w *WordNet) Pretrain(seed uint64, n int) []dataset.Pair {
	d := w.must()
	rng := rand.New(rand.NewPCG(seed, 0x9e7a))
	out := make([]dataset.Pair, 0, n)
	for len(out) < n {
		for _, i := range rng.Perm(len(d.pretrain)) {
			if len(out) == n {
				break
			}
			out = append(out, d.pretrain[i])
		}
	}
	return out
}

// Score is 1 when the output is exactly one of the prompt's word's glosses (NormalizeGloss).
func (w *WordNet) Score(prompt, output string) float64 {
	o := NormalizeGloss(output)
	for _, g := range w.must().glosses[prompt] {
		if g == o {
			return 1
		}
	}
	return 0
}

// firstInOrder is the first n of pairs in a seeded permutation (all of them when n is larger).
func firstInOrder(pairs []dataset.Pair, seed, stream uint64, n int) []dataset.Pair {
	perm := rand.New(rand.NewPCG(seed, stream)).Perm(len(pairs))
	out := make([]dataset.Pair, 0, min(n, len(pairs)))
	for _, i := range perm[:min(n, len(pairs))] {
		out = append(out, pairs[i])
	}
	return out
}
