package tasks

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/space-sft/space/dataset"
)

// Arith is a GSM8K-like task a small byte-level model can learn: two-number addition and
// subtraction word problems with a one-line worked solution that ends in the final answer.
//
//	prompt:   "Ann has 37 pens, gets 45. How many?"
//	response: "37+45=82. Answer: 82"
//
// The metric is exact match of the final answer under greedy decoding. Self-play has
// something to teach here: a model's own samples carry systematic, learnable mistakes
// (wrong carries and borrows) that make informative negatives.
type Arith struct {
	Digits int // operand size; 2 keeps prompt+response under 64 bytes
	// Mix is the fraction of the Pretrain corpus drawn from the carry-free family: the
	// target's wording and operand sizes (both of two digits), but only problems whose
	// written column arithmetic needs no carry (addition) or borrow (subtraction); 0 keeps
	// the corpus to the source family alone.
	Mix float64
}

// The registered task's pre-training corpus is half carry-free two-digit problems: with the
// source family alone a base gets 0-2 % of the target right (docs/compare.md, "arith base").
func init() { register(Arith{Digits: 2, Mix: 0.5}) }

func (Arith) Name() string       { return "arith" }
func (Arith) MetricName() string { return "accuracy" }

var (
	arithNames   = []string{"Ann", "Bob", "Cy", "Dee", "Eli", "Fay", "Gus", "Ida"}
	arithObjects = []string{"pens", "cups", "eggs", "figs", "hats", "keys", "nuts", "toys"}
	arithPrompt  = regexp.MustCompile(`^[A-Z][a-z]+ has (\d+) [a-z]+, (gets|loses) (\d+)\. How many\?$`)
	arithAnswer  = regexp.MustCompile(`Answer: (-?\d+)\s*$`)
)

// Generate writes n problems. Subtraction never goes below zero.
func (a Arith) Generate(seed uint64, n int) []dataset.Pair {
	rng := rand.New(rand.NewPCG(seed, 0xa217))
	lo, hi := 1, 9
	for i := 1; i < a.Digits; i++ {
		lo, hi = lo*10, hi*10+9
	}
	out := make([]dataset.Pair, 0, n)
	for len(out) < n {
		x := lo + rng.IntN(hi-lo+1)
		y := lo + rng.IntN(hi-lo+1)
		out = append(out, arithProblem(rng, x, y))
	}
	return out
}

// Answer computes the true answer of an arith prompt.
func (Arith) Answer(prompt string) (int, bool) {
	m := arithPrompt.FindStringSubmatch(prompt)
	if m == nil {
		return 0, false
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[3])
	if m[2] == "gets" {
		return x + y, true
	}
	return x - y, true
}

// Score is 1 when the output's final "Answer: N" equals the true answer.
func (a Arith) Score(prompt, output string) float64 {
	want, ok := a.Answer(prompt)
	if !ok {
		return 0
	}
	m := arithAnswer.FindStringSubmatch(output)
	if m == nil {
		return 0
	}
	got, err := strconv.Atoi(m[1])
	if err != nil || got != want {
		return 0
	}
	return 1
}

// Pretrain is the source corpus of a base model for arith: the same word problems with one
// operand of a single digit (1..9) and the other in 1..99, where the target has both operands
// of two digits. With Mix > 0, that fraction of the pairs (on average) comes from the
// carry-free family instead: both operands of two digits, as in the target, but never a
// carry or a borrow between the digits. The base then knows the target's format and
// operand sizes; the carries and borrows, about 40 % of the target's problems and the
// mistakes a model's own samples make, are what the target teaches. Its seed stream
// differs from Generate's.
func (a Arith) Pretrain(seed uint64, n int) []dataset.Pair {
	rng := rand.New(rand.NewPCG(seed, 0x9e7a))
	out := make([]dataset.Pair, 0, n)
	for len(out) < n {
		if a.Mix > 0 && rng.Float64() < a.Mix {
			out = append(out, arithCarryFree(rng))
			continue
		}
		x, y := 1+rng.IntN(99), 1+rng.IntN(9)
		if rng.IntN(2) == 0 {
			x, y = y, x
		}
		out = append(out, arithProblem(rng, x, y))
	}
	return out
}

// arithCarryFree draws two-digit problems until one needs no carry or borrow: ones digits
// summing to at most 9 for an addition, the larger operand's ones digit at least the
// smaller's for a subtraction.
func arithCarryFree(rng *rand.Rand) dataset.Pair {
	for {
		x, y := 10+rng.IntN(90), 10+rng.IntN(90)
		p := arithProblem(rng, x, y)
		if !ArithCarries(x, y, strings.Contains(p.Prompt, " gets ")) {
			return p
		}
	}
}

// ArithCarries says whether x+y (add) or |x-y| (else) needs a carry or a borrow between the
// ones and the tens.
func ArithCarries(x, y int, add bool) bool {
	if add {
		return x%10+y%10 > 9
	}
	if y > x {
		x, y = y, x
	}
	return x%10 < y%10
}

// arithProblem words one problem with operands x and y, drawing the person, the object and
// the operation from rng (in that order). Subtraction never goes below zero.
func arithProblem(rng *rand.Rand, x, y int) dataset.Pair {
	who := arithNames[rng.IntN(len(arithNames))]
	what := arithObjects[rng.IntN(len(arithObjects))]
	if rng.IntN(2) == 0 {
		return dataset.Pair{
			Prompt:   fmt.Sprintf("%s has %d %s, gets %d. How many?", who, x, what, y),
			Response: fmt.Sprintf("%d+%d=%d. Answer: %d", x, y, x+y, x+y),
		}
	}
	if y > x {
		x, y = y, x
	}
	return dataset.Pair{
		Prompt:   fmt.Sprintf("%s has %d %s, loses %d. How many?", who, x, what, y),
		Response: fmt.Sprintf("%d-%d=%d. Answer: %d", x, y, x-y, x-y),
	}
}
