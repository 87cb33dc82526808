package report

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/space-sft/space/eval"
)

// sampleRounds is a small run as the Report activity hands it over: a base and three SPACE
// rounds with metrics, per-step training logs and samples (some text needs escaping).
func sampleRounds() []Round {
	var rounds []Round
	for r := 0; r <= 3; r++ {
		rd := Round{
			Round: r, ModelKey: "runs/t/rounds/00" + string(rune('0'+r)) + "/model.safetensors",
			ModelSHA256: strings.Repeat(string(rune('a'+r)), 64),
			Metrics: map[string]float64{
				eval.NLL: 1.1 - 0.05*float64(r), eval.TaskScore: 0.2 + 0.1*float64(r), eval.TrainLoss: 0.9 - 0.1*float64(r),
				"exact_match": 0.1 * float64(r),
			},
			TaskMetric: "accuracy",
		}
		steps := 12
		for s := 1; s <= steps; s++ {
			st := TrainStep{Step: s, Loss: 2/float64(s) + 0.1*float64(r)}
			if r > 0 {
				st.RewardReal, st.RewardSynth = 0.02*float64(s), -0.03*float64(s)
			}
			rd.Train = append(rd.Train, st)
		}
		if r > 0 {
			rd.Metrics[eval.RewardReal], rd.Metrics[eval.RewardSynth] = 0.1*float64(r), -0.2*float64(r)
			rd.Metrics[eval.Margin] = 0.3 * float64(r)
			rd.Metrics[eval.DiscAccuracy] = 0.6 + 0.02*float64(r)
			rd.TrainSamples = []Sample{
				{Prompt: "What is 2+3?", Real: "5", Output: "5", Synthetic: []string{"4", `<script>console.error("not escaped")</script>`}},
				{Prompt: "Capital of Peru?\nOne word.", Real: "Lima", Output: "Lima & co", Synthetic: []string{"Quito", "Lim"}},
			}
		}
		rd.Samples = []Sample{{Prompt: "7+1?", Real: "8", Output: "8", Score: 1}, {Prompt: "9+9?", Real: "18", Output: "17", Score: 0}}
		rounds = append(rounds, rd)
	}
	return rounds
}

func TestHTMLContents(t *testing.T) {
	page, err := HTML("t", "space", "completed", 2, sampleRounds())
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, want := range []string{
		"<h2>Best round: 2</h2>", `class="best"`, "runs/t/rounds/002/model.safetensors",
		`id="plot-task_score"`, `id="plot-test_nll"`, `id="plot-rewards"`, `id="plot-disc_accuracy"`, `id="plot-train_loss"`,
		`id="plot-base-loss"`, `id="plot-train-loss"`, `id="plot-train-rewards"`, `id="plot-exact_match"`,
		`<details id="round-2" open>`, "synthetic responses (opponent)", "Quito", "Lima &amp; co",
		"&lt;script&gt;console.error(&#34;not escaped&#34;)&lt;/script&gt;",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained and readable without JavaScript: no script, nothing fetched.
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "<link"} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Every plot has at least one drawn line.
	if n := len(regexp.MustCompile(`<path class="series" d="M[0-9.]+ [0-9.]+L`).FindAllString(s, -1)); n < 9 {
		t.Errorf("%d drawn series, want at least 9", n)
	}
}

func TestHTMLWithoutDetails(t *testing.T) {
	// A run committed before logs and samples were kept still renders its metrics.
	rounds := []Round{{Round: 0, Metrics: map[string]float64{eval.NLL: 1}}, {Round: 1, Metrics: map[string]float64{eval.NLL: math.Inf(1)}}}
	page, err := HTML("old", "sft", "stopped", 0, rounds)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, want := range []string{"No training log was kept", "No samples were kept", `id="plot-test_nll"`} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Error("a non-finite value reached the page")
	}
}

func TestSinglePointIsADot(t *testing.T) {
	svg, ok := chart{id: "one", series: []series{{name: "loss", xs: []float64{1}, ys: []float64{2}}}}.svg()
	if !ok || !strings.Contains(svg, "<circle") {
		t.Errorf("a one-step log draws no dot:\n%s", svg)
	}
	if _, ok := (chart{id: "none", series: []series{{name: "x", xs: []float64{1}, ys: []float64{math.NaN()}}}}).svg(); ok {
		t.Error("a chart with no finite value was drawn")
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		intX   bool
		want   []float64
	}{
		{0, 1, false, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 3, true, []float64{0, 1, 2, 3}},
		{-0.55, 0.3, false, []float64{-0.4, -0.2, 0, 0.2}},
	} {
		got := ticks(c.lo, c.hi, 5, c.intX)
		if len(got) != len(c.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("ticks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
				break
			}
		}
	}
}
