package tasks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"

	"github.com/space-sft/space/dataset"
)

// Markov is a task whose true conditional p_data(y|x) is known in closed form, so that how
// far a model is from it can be measured directly: KL(p_data || p_theta) per response.
//
// The prompt names a start letter on the cycle a..h and two moves with their probabilities
// in tenths; the rest is the probability of stopping:
//
//	prompt:   "d +1:6 +2:3"
//	response: "defhabd"      (d, then +1, +2, +1, +1, +2, +1 ... until a stop)
//
// The response is the walk: the start letter, then at each step one of the two moves
// (+a with probability d1/10, +b with d2/10, modulo 8) or a stop with 1-(d1+d2)/10. A walk
// stops for sure once it has MaxLen letters. A response is valid when it is a walk the
// prompt allows (right start, only the two moves, at most MaxLen letters).
//
// The target family uses the moves +1 and +2. Pretrain (the broad related corpus the base
// model is trained on) uses other move pairs ({1,3} and {2,3}), so a base has learned the
// format, the alphabet and each move, but not the target's combination nor its odds.
type Markov struct {
	MaxLen int // letters per walk, start included (16 keeps pairs far below context 64)
}

func init() { register(Markov{MaxLen: 16}) }

const markovAlphabet = "abcdefgh"

var markovPrompt = regexp.MustCompile(`^([a-h]) \+([1-7]):([1-9]) \+([1-7]):([1-9])$`)

func (Markov) Name() string { return "markov" }

// MetricName: Score is the validity of the greedy output.
func (Markov) MetricName() string { return "greedy_valid" }

// markovParams is one prompt's chain.
type markovParams struct {
	start    int
	moves    [2]int
	p        [2]float64 // move probabilities; stop = 1 - p[0] - p[1]
	stop     float64
	promptOK bool
}

func (Markov) parse(prompt string) markovParams {
	m := markovPrompt.FindStringSubmatch(prompt)
	if m == nil {
		return markovParams{}
	}
	a, _ := strconv.Atoi(m[2])
	da, _ := strconv.Atoi(m[3])
	b, _ := strconv.Atoi(m[4])
	db, _ := strconv.Atoi(m[5])
	if a == b || da+db > 9 {
		return markovParams{}
	}
	return markovParams{
		start: int(m[1][0] - 'a'), moves: [2]int{a, b},
		p: [2]float64{float64(da) / 10, float64(db) / 10}, stop: float64(10-da-db) / 10, promptOK: true,
	}
}

// Generate draws n target prompts (moves +1 and +2 in either order, stop 0.1 to 0.4) and
// for each a walk from p_data.
func (t Markov) Generate(seed uint64, n int) []dataset.Pair {
	return t.family(seed, 0x3a7c, n, [][2]int{{1, 2}, {2, 1}}, 6, 9)
}

// Pretrain draws n pairs of the source family: moves {1,3} or {2,3} (either order), stop
// 0.1 to 0.7. It never contains the target's moves +1 and +2 together.
func (t Markov) Pretrain(seed uint64, n int) []dataset.Pair {
	return t.family(seed, 0x9e7a, n, [][2]int{{1, 3}, {3, 1}, {2, 3}, {3, 2}}, 3, 9)
}

func (t Markov) family(seed, stream uint64, n int, moves [][2]int, minSum, maxSum int) []dataset.Pair {
	rng := rand.New(rand.NewPCG(seed, stream))
	out := make([]dataset.Pair, 0, n)
	for len(out) < n {
		mv := moves[rng.IntN(len(moves))]
		sum := minSum + rng.IntN(maxSum-minSum+1)
		da := 1 + rng.IntN(sum-1) // 1..sum-1
		prompt := fmt.Sprintf("%c +%d:%d +%d:%d", markovAlphabet[rng.IntN(8)], mv[0], da, mv[1], sum-da)
		out = append(out, dataset.Pair{Prompt: prompt, Response: t.Sample(prompt, rng)})
	}
	return out
}

// Sample draws a response from p_data(.|prompt); "" for a prompt outside the task.
func (t Markov) Sample(prompt string, rng *rand.Rand) string {
	c := t.parse(prompt)
	if !c.promptOK {
		return ""
	}
	cur := c.start
	buf := []byte{markovAlphabet[cur]}
	for len(buf) < t.MaxLen {
		u := rng.Float64()
		switch {
		case u < c.p[0]:
			cur = (cur + c.moves[0]) % 8
		case u < c.p[0]+c.p[1]:
			cur = (cur + c.moves[1]) % 8
		default:
			return string(buf)
		}
		buf = append(buf, markovAlphabet[cur])
	}
	return string(buf)
}

// LogProb is log p_data(response|prompt), the stop included (it is the model's EOS); -Inf
// for a response the prompt does not allow.
func (t Markov) LogProb(prompt, response string) float64 {
	c := t.parse(prompt)
	if !c.promptOK || len(response) == 0 || len(response) > t.MaxLen || int(response[0])-'a' != c.start {
		return math.Inf(-1)
	}
	lp := 0.0
	for i := 1; i < len(response); i++ {
		if response[i] < 'a' || response[i] > 'h' {
			return math.Inf(-1)
		}
		d := (int(response[i]-'a') - int(response[i-1]-'a') + 8) % 8
		switch d {
		case c.moves[0]:
			lp += math.Log(c.p[0])
		case c.moves[1]:
			lp += math.Log(c.p[1])
		default:
			return math.Inf(-1)
		}
	}
	if len(response) < t.MaxLen {
		lp += math.Log(c.stop)
	}
	return lp
}

// Valid says whether the prompt allows the response.
func (t Markov) Valid(prompt, response string) bool {
	return !math.IsInf(t.LogProb(prompt, response), -1)
}

// Score is 1 for a valid output.
func (t Markov) Score(prompt, output string) float64 {
	if t.Valid(prompt, output) {
		return 1
	}
	return 0
}
