package tasks

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// enumerate calls f with every walk the prompt allows (all of them: 2^(MaxLen-1) at most).
func enumerate(t Markov, prompt string, f func(y string)) {
	c := t.parse(prompt)
	var rec func(buf []byte, cur int)
	rec = func(buf []byte, cur int) {
		f(string(buf))
		if len(buf) == t.MaxLen {
			return
		}
		for _, mv := range c.moves {
			n := (cur + mv) % 8
			rec(append(buf, markovAlphabet[n]), n)
		}
	}
	rec([]byte{markovAlphabet[c.start]}, c.start)
}

func TestMarkovDistribution(t *testing.T) {
	task, err := Get("markov")
	if err != nil {
		t.Fatal(err)
	}
	mk := task.(Markov)
	var _ Distribution = mk
	var _ Pretrainer = mk
	a, b := mk.Generate(1, 100), mk.Generate(1, 100)
	for i, p := range a {
		if p != b[i] {
			t.Fatal("not deterministic")
		}
		if !mk.Valid(p.Prompt, p.Response) || mk.Score(p.Prompt, p.Response) != 1 {
			t.Fatalf("own sample invalid: %+v", p)
		}
		if n := len(p.Prompt) + len(p.Response) + 3; n > 64 {
			t.Fatalf("pair too long for context 64: %d", n)
		}
		if !strings.Contains(p.Prompt, "+1:") || !strings.Contains(p.Prompt, "+2:") {
			t.Fatalf("target prompt without moves 1 and 2: %q", p.Prompt)
		}
	}
	for _, p := range mk.Pretrain(1, 200) {
		if strings.Contains(p.Prompt, "+1:") && strings.Contains(p.Prompt, "+2:") {
			t.Fatalf("pretrain prompt with the target's moves: %q", p.Prompt)
		}
		if !mk.Valid(p.Prompt, p.Response) {
			t.Fatalf("pretrain sample invalid: %+v", p)
		}
	}

	// The probabilities of all walks sum to 1, and LogProb matches sampling frequencies.
	for _, prompt := range []string{"d +1:6 +2:3", "a +2:1 +1:3", "h +1:8 +2:1"} {
		total := 0.0
		enumerate(mk, prompt, func(y string) { total += math.Exp(mk.LogProb(prompt, y)) })
		if math.Abs(total-1) > 1e-9 {
			t.Fatalf("%q: probabilities sum to %v", prompt, total)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		counts := map[string]int{}
		const N = 20000
		for range N {
			counts[mk.Sample(prompt, rng)]++
		}
		for y, c := range counts {
			p := math.Exp(mk.LogProb(prompt, y))
			if c >= 200 && math.Abs(float64(c)/N-p) > 5*math.Sqrt(p*(1-p)/N) {
				t.Fatalf("%q %q: frequency %v, LogProb says %v", prompt, y, float64(c)/N, p)
			}
		}
	}
	p := "d +1:6 +2:3"
	for _, bad := range []string{"", "e", "dg", "dex", strings.Repeat("de", 9)[:17]} {
		if mk.Valid(p, bad) || !math.IsInf(mk.LogProb(p, bad), -1) || mk.Score(p, bad) != 0 {
			t.Errorf("%q should be invalid", bad)
		}
	}
	if mk.Valid("nonsense", "d") || mk.Sample("nonsense", rand.New(rand.NewPCG(1, 1))) != "" {
		t.Error("a prompt outside the task allows nothing")
	}
	// The forced stop at MaxLen: a full-length walk has no stop term.
	full := "d" + strings.Repeat("e", 0)
	for len(full) < mk.MaxLen {
		full += string(markovAlphabet[(int(full[len(full)-1]-'a')+1)%8])
	}
	if got, want := mk.LogProb(p, full), 15*math.Log(0.6); math.Abs(got-want) > 1e-12 {
		t.Errorf("full-length walk: %v, want %v", got, want)
	}
}

func TestArithPretrain(t *testing.T) {
	a := Arith{Digits: 2}
	for _, p := range a.Pretrain(3, 300) {
		if a.Score(p.Prompt, p.Response) != 1 {
			t.Fatalf("pretrain pair wrong: %+v", p)
		}
		x, y := arithOperands(t, p.Prompt)
		if x >= 10 && y >= 10 {
			t.Fatalf("pretrain pair with two 2-digit operands: %q", p.Prompt)
		}
	}
}

func arithOperands(t *testing.T, prompt string) (int, int) {
	m := arithPrompt.FindStringSubmatch(prompt)
	if m == nil {
		t.Fatalf("bad prompt %q", prompt)
	}
	var x, y int
	for _, c := range m[1] {
		x = 10*x + int(c-'0')
	}
	for _, c := range m[3] {
		y = 10*y + int(c-'0')
	}
	return x, y
}
