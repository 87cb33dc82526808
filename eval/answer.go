package eval

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/space-sft/space/model"
)

// Metric names of a run on a user's data (not a task): the greedy output on each held-out
// prompt against the reference response, averaged over the prompts; and the optional
// scorer's pass rate (any run with a scorer).
const (
	ExactMatch = "exact_match" // fraction of outputs equal to the reference once normalized (Normalize)
	F1         = "f1"          // mean token-level F1 of output against reference (TokenF1)
	ScorerPass = "scorer_pass" // fraction of outputs the spec's scorer accepts
)

// Normalize splits an answer into the tokens that ExactMatchScore and TokenF1 compare:
// lower-cased, every Unicode punctuation character removed, split on white space. This is
// SQuAD's answer normalization (Rajpurkar et al. 2016, its evaluate-v1.1.py) without its
// removal of the English articles a/an/the, which would be wrong for other languages.
func Normalize(s string) []string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Fields(s)
}

// ExactMatchScore is 1 when output and reference normalize to the same tokens, else 0.
func ExactMatchScore(output, reference string) float64 {
	o, r := Normalize(output), Normalize(reference)
	if len(o) != len(r) {
		return 0
	}
	for i := range o {
		if o[i] != r[i] {
			return 0
		}
	}
	return 1
}

// TokenF1 is SQuAD's token-level F1 of output against reference over their normalized
// tokens: with c the number of tokens they share (counted as a multiset), precision
// c/len(output), recall c/len(reference), F1 = 2PR/(P+R); 0 when they share none. Two
// empty answers score 1, one empty answer 0.
func TokenF1(output, reference string) float64 {
	o, r := Normalize(output), Normalize(reference)
	if len(o) == 0 || len(r) == 0 {
		if len(o) == len(r) {
			return 1
		}
		return 0
	}
	count := map[string]int{}
	for _, t := range r {
		count[t]++
	}
	common := 0
	for _, t := range o {
		if count[t] > 0 {
			count[t]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	p, rc := float64(common)/float64(len(o)), float64(common)/float64(len(r))
	return 2 * p * rc / (p + rc)
}

// Scorer is a run's own pass/fail rule for a greedy output, the spec's "scorer": exactly
// one of
//
//	{"regex": "^[0-9]+$"}           the output must match the regular expression (Go RE2
//	                                syntax, unanchored: write ^...$ to match the whole output)
//	{"contains": "Paris"}           the output must contain the text (case-sensitive)
//	{"contains_reference": true}    the output must contain the held-out reference response
//
// Its pass rate over the held-out prompts is the metric scorer_pass. The zero Scorer is
// off.
type Scorer struct {
	Regex             string `json:"regex,omitempty"`
	Contains          string `json:"contains,omitempty"`
	ContainsReference bool   `json:"contains_reference,omitempty"`
}

// IsZero reports whether no rule is set (no scorer).
func (s Scorer) IsZero() bool { return s == Scorer{} }

// Validate checks the scorer; fields are named relative to it ("regex"), the run spec
// prefixes them ("scorer.regex").
func (s Scorer) Validate() error {
	n := 0
	for _, set := range []bool{s.Regex != "", s.Contains != "", s.ContainsReference} {
		if set {
			n++
		}
	}
	if n > 1 {
		return &model.InputError{Field: "regex/contains/contains_reference", Problem: "more than one rule is set",
			Fix: "give the scorer one rule: regex, contains or contains_reference"}
	}
	if s.Regex != "" {
		if _, err := regexp.Compile(s.Regex); err != nil {
			return &model.InputError{Field: "regex", Problem: fmt.Sprintf("%q is not a regular expression: %v", s.Regex, err),
				Fix: "write a Go (RE2) regular expression, e.g. \"^[0-9]+$\"; escape backslashes in JSON (\"\\\\d+\")"}
		}
	}
	return nil
}

// Compile returns the scorer's test of an output against its reference. It panics on a
// scorer that Validate rejects.
func (s Scorer) Compile() func(output, reference string) bool {
	switch {
	case s.Regex != "":
		re := regexp.MustCompile(s.Regex)
		return func(output, _ string) bool { return re.MatchString(output) }
	case s.Contains != "":
		return func(output, _ string) bool { return strings.Contains(output, s.Contains) }
	case s.ContainsReference:
		return func(output, reference string) bool { return strings.Contains(output, reference) }
	}
	return func(string, string) bool { return false }
}
