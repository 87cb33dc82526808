package compare

import (
	"fmt"
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
	in := ReportInput{Name: "r", Task: "markov", N: 128, Rounds: 2, NEval: 8, Seeds: seeds, SearchSeeds: []uint64{100, 101}, Primary: eval.KL, Backend: "openblas (core Haswell, threads 1)",
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
	for _, want := range []string{"| sft-4n | 64 |", "search seeds [100 101]", "95% confidence interval from the t distribution", "backend of the worker that wrote this report: openblas (core Haswell, threads 1)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "±") && strings.Contains(md, "standard error") {
		t.Error("the report still gives standard errors")
	}
}

// The round-over-round table reads each arm against itself, paired by seed: an arm whose
// primary metric falls every round (lower is better) gets better, one that rises gets
// worse, one that wobbles is within noise; its rows are r1-r0, rL-r0, rL-r1 and rL-r(L-1).
func TestReportRoundOverRound(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	jitter := []float64{0.01, -0.01, 0.02, -0.02, 0}
	kl := func(arm string, r, i int) float64 {
		switch arm {
		case "space": // falls 0.1 a round
			return 2 - 0.1*float64(r) + jitter[i]
		case "sft-n": // rises 0.1 a round
			return 2 + 0.1*float64(r) + jitter[i]
		}
		return 2 + jitter[i]*float64(r%2*2-1)*5 // spin: wobbles around the start
	}
	in := ReportInput{Name: "r", Task: "markov", N: 128, Rounds: 3, NEval: 8, Seeds: seeds, Primary: eval.KL}
	for _, a := range []string{"space", "sft-n", "spin"} {
		in.Arms = append(in.Arms, ReportArm{Name: a, Description: a, StepsPerRound: 16})
		in.Choices = append(in.Choices, ReportChoice{Arm: a, Round: 3, Found: true})
		for i, s := range seeds {
			var rr []workflows.RoundResult
			for r := 0; r <= 3; r++ {
				v := kl(a, r, i)
				if r == 0 {
					v = 2 + jitter[i]
				}
				rr = append(rr, workflows.RoundResult{Round: r, Metrics: map[string]float64{eval.KL: v}})
			}
			in.Final = append(in.Final, ReportRun{Arm: a, Seed: s, Status: "completed", Rounds: rr})
		}
	}
	md, _ := RenderMarkdown(in)
	_, section, ok := strings.Cut(md, "## Round over round")
	if !ok {
		t.Fatalf("no round-over-round section in\n%s", md)
	}
	for _, want := range []string{
		"| space | r1 - r0 | 16 / 0 | -0.1 | [-0.1", "| space | r3 - r0 | 48 / 0 | -0.3 |",
		"| space | r3 - r1 | 48 / 16 | -0.2 |", "| space | r3 - r2 | 48 / 32 | -0.1 |",
		"| sft-n | r3 - r0 | 48 / 0 | +0.3 |",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
	reading := func(arm, rounds string) string {
		for _, l := range strings.Split(section, "\n") {
			if strings.HasPrefix(l, "| "+arm+" | "+rounds+" |") {
				f := strings.Split(l, "|")
				return strings.TrimSpace(f[len(f)-2])
			}
		}
		t.Fatalf("no %s %s row in\n%s", arm, rounds, section)
		return ""
	}
	for _, c := range []struct{ arm, rounds, want string }{
		{"space", "r3 - r2", "better"}, {"space", "r3 - r0", "better"},
		{"sft-n", "r3 - r2", "worse"}, {"spin", "r3 - r2", "within noise"},
	} {
		if got := reading(c.arm, c.rounds); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.arm, c.rounds, got, c.want)
		}
	}
}

func TestRoundPairs(t *testing.T) {
	for last, want := range map[int]string{1: "[[0 1]]", 2: "[[0 1] [0 2] [1 2]]", 5: "[[0 1] [0 5] [1 5] [4 5]]"} {
		if got := fmt.Sprint(roundPairs(last)); got != want {
			t.Errorf("roundPairs(%d) = %s, want %s", last, got, want)
		}
	}
}
