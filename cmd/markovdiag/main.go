// Command markovdiag samples markov models (checkpoint files given as arguments) at
// temperature 1 on 200 target prompts x 5 and says why invalid samples are invalid (wrong
// start letter, a move the prompt does not allow, too long, ...) and how long the samples
// are (p_data's mean is 4.68 letters). It is the diagnostic behind docs/compare.md:
//
//	go run ./cmd/markovdiag .data/compare/s3/space/runs/cmp-markov-space-s1/rounds/005/model.safetensors
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/space-sft/space/model"
	"github.com/space-sft/space/tasks"
)

// classify says why a markov response is invalid.
func classify(mk tasks.Markov, prompt, y string) string {
	if mk.Valid(prompt, y) {
		return "valid"
	}
	if y == "" {
		return "empty"
	}
	if len(y) > mk.MaxLen {
		// valid prefix of MaxLen?
		if mk.Valid(prompt, y[:mk.MaxLen]) {
			return "too long (valid prefix)"
		}
	}
	if y[0] != prompt[0] {
		return "wrong start"
	}
	for i := 1; i < len(y); i++ {
		if y[i] < 'a' || y[i] > 'h' {
			return "non-letter"
		}
		if !mk.Valid(prompt, y[:i+1]) && i+1 <= mk.MaxLen {
			d := (int(y[i]-'a') - int(y[i-1]-'a') + 8) % 8
			return fmt.Sprintf("bad move +%d", d)
		}
	}
	return "other"
}

func main() {
	mk := tasks.Markov{MaxLen: 16}
	test := mk.Generate(12345, 200)
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			panic(err)
		}
		m, err := model.Load(f)
		f.Close()
		if err != nil {
			panic(err)
		}
		counts := map[string]int{}
		var prompts [][]int
		var seeds []uint64
		var ps []string
		for rep := 0; rep < 5; rep++ {
			for i, p := range test {
				s, _ := m.Encode(p.Prompt, "a")
				prompts = append(prompts, s.Prompt)
				seeds = append(seeds, uint64(rep*1000+i+1))
				ps = append(ps, p.Prompt)
			}
		}
		g, err := m.Generate(prompts, seeds, model.SampleConfig{Temperature: 1, MaxNewTokens: 20})
		if err != nil {
			panic(err)
		}
		lens := 0
		for i, o := range g {
			y := m.Tok.Decode(o)
			lens += len(y)
			counts[classify(mk, ps[i], y)]++
		}
		var parts []string
		for k, v := range counts {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, float64(v)/float64(len(g))))
		}
		fmt.Printf("%s: mean len %.2f | %s\n", path, float64(lens)/float64(len(g)), strings.Join(parts, ", "))
	}
}
