// Package tasks holds built-in tasks with a measurable truth: a seeded generator of
// prompt/response pairs and a scorer for a model's output. A run names a task instead of a
// dataset when it wants a number that says whether self-play helped.
//
// arith and markov are generated (markov's p_data is known in closed form); wordnet is real
// data (WordNet glosses, a base pre-trained on GCIDE's: wordnet.go), a Corpus whose held-out
// pairs come from words that training never sees.
//
// It knows only dataset (pairs, and dataset/dict's dictionary entries): nothing of the
// model, Temporal or S3.
package tasks

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/space-sft/space/dataset"
)

// Task is a built-in task.
type Task interface {
	Name() string
	// Generate returns n pairs, deterministically for a seed. Different seeds give
	// (almost surely) different pairs, so train and test sets come from different seeds.
	Generate(seed uint64, n int) []dataset.Pair
	// Score rates a model's output for a prompt of this task: 1 correct, 0 wrong.
	Score(prompt, output string) float64
	// MetricName names the mean of Score over held-out prompts, e.g. "accuracy".
	MetricName() string
}

// Distribution is implemented by a task whose true conditional p_data(y|x) is known in
// closed form. Evaluate then measures KL(p_data || p_theta) per response on held-out
// prompts from fresh samples of p_data, and the validity rate of greedy and sampled outputs.
type Distribution interface {
	// LogProb is log p_data(response|prompt) in nats, the end of the response (the model's
	// EOS) included; -Inf for a response the prompt does not allow.
	LogProb(prompt, response string) float64
	// Sample draws a response from p_data(.|prompt).
	Sample(prompt string, rng *rand.Rand) string
	// Valid says whether p_data gives the response a positive probability.
	Valid(prompt, response string) bool
}

// Pretrainer is implemented by a task that can generate a broad related corpus, shifted
// from its target distribution (other operand ranges, other prompt families), for the base
// model of a comparison: every method then starts from a model that has never seen the
// target's real pairs (the paper's protocol).
type Pretrainer interface {
	Pretrain(seed uint64, n int) []dataset.Pair
}

// Corpus is implemented by a task whose pairs come from a fixed data set (files) rather
// than a generator, so that its held-out pairs must come from a part of the data that
// training never sees (wordnet: other words). Prepare takes a run's held-out pairs from
// HeldOut, and refuses an n larger than the train split.
type Corpus interface {
	// Load reads the data (once per process) and describes them; an error names the files
	// and the fix.
	Load() (CorpusInfo, error)
	// HeldOut returns up to n pairs of the split ("test" or "val"), deterministically for a
	// seed, a seed's first pairs the same for every n. No prompt of it is ever in Generate's.
	HeldOut(split string, seed uint64, n int) []dataset.Pair
}

// CorpusInfo says which data a Corpus task uses and how many pairs each split holds.
type CorpusInfo struct {
	Source                     string // e.g. "the full data in .data/wordnet: ..."
	Train, Val, Test, Pretrain int
}

var registry = map[string]Task{}

func register(t Task) { registry[t.Name()] = t }

// Get returns the built-in task with that name.
func Get(name string) (Task, error) {
	t, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown task %q (fix: use one of %s)", name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// Names lists the built-in tasks, sorted.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
