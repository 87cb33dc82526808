package compare

import (
	"strings"
	"testing"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/workflows"
)

// The paired-difference table gives, per arm, space's mean difference, its 95% t interval
// and a verdict that is a win or a loss only when the interval excludes 0, with the steps
// each side made; the per-round tables give each arm's steps per round.
func TestReportPairedIntervals(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	// KL at round 2 per seed: space beats sft-n on every seed by 0.2 +- 0.01, ties
	// sft-4n (differences of both signs), loses to spin by 0.1 +- 0.01.
	kl := map[string][]float64{
		"space":  {1.00, 1.10, 0.90, 1.05, 0.95},
		"sft-n":  {1.20, 1.31, 1.09, 1.25, 1.15},
		"sft-4n": {0.90, 1.20, 0.80, 1.15, 0.96},
		"spin":   {0.90, 1.00, 0.79, 0.95, 0.86},
	}
	in := ReportInput{Name: "r", Task: "markov", N: 128, Rounds: 2, NEval: 8, Seeds: seeds, SearchSeeds: []uint64{100, 101}, Primary: eval.KL,
		Search: []ReportRun{{Arm: "space", Seed: 100, Status: "completed"}, {Arm: "space", Seed: 101, Status: "completed"}}}
	for _, a := range []string{"sft-n", "sft-4n", "spin", "space"} {
		per := 16
		if a == "sft-4n" {
			per = 64
		}
		in.Arms = append(in.Arms, ReportArm{Name: a, Description: a, StepsPerRound: per})
		in.Choices = append(in.Choices, ReportChoice{Arm: a, Round: 2, Found: true})
		for i, s := range seeds {
			var rr []workflows.RoundResult
			for r := 0; r <= 2; r++ {
				v := 2.0 // the base
				if r > 0 {
					v = kl[a][i] + float64(2-r)
				}
				rr = append(rr, workflows.RoundResult{Round: r, Metrics: map[string]float64{eval.KL: v}})
			}
			in.Final = append(in.Final, ReportRun{Arm: a, Seed: s, Status: "completed", Rounds: rr})
		}
	}
	md, _ := RenderMarkdown(in)
	row := func(vs, at string) string {
		for _, l := range strings.Split(md, "\n") {
			if strings.HasPrefix(l, "| "+vs+" | kl | "+at+" |") {
				return l
			}
		}
		t.Fatalf("no %s/%s row in\n%s", vs, at, md)
		return ""
	}
	for _, c := range []struct{ vs, want string }{
		{"sft-n", "| r2 vs r2 | 32 / 32 | -0.2 | [-0.2"},
		{"sft-n", "| win |"},
		{"sft-4n", "| r2 vs r2 | 32 / 128 |"},
		{"sft-4n", "| within noise |"},
		{"spin", "| +0.1 | [+0.0"},
		{"spin", "| loss |"},
		{"base", "| r2 vs r0 | 32 / 0 | -1 |"},
	} {
		if l := row(c.vs, "last"); !strings.Contains(l, c.want) {
			t.Errorf("%s: %q lacks %q", c.vs, l, c.want)
		}
	}
	for _, want := range []string{"| sft-4n | 64 |", "search seeds [100 101]", "95% confidence interval from the t distribution"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "±") && strings.Contains(md, "standard error") {
		t.Error("the report still gives standard errors")
	}
}
