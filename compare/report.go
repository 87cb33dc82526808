package compare

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// ReportArm describes one arm for the report.
type ReportArm struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Grid        string `json:"grid"`
	Rounds      int    `json:"rounds,omitempty"` // the arm's last round (0 = the comparison's)
	// StepsPerRound is the optimizer steps the arm makes per round (0 in reports made
	// before it was recorded).
	StepsPerRound int `json:"steps_per_round,omitempty"`
}

// ReportChoice is an arm's setting chosen on the validation split.
type ReportChoice struct {
	Arm     string  `json:"arm"`
	Setting string  `json:"setting"`
	Round   int     `json:"round"`
	Value   float64 `json:"value"`
	Found   bool    `json:"found"`
	Tried   int     `json:"tried"`
}

// ReportRun is one child run of a comparison.
type ReportRun struct {
	Arm     string                  `json:"arm"`
	Seed    uint64                  `json:"seed"`
	Setting string                  `json:"setting"`
	Run     string                  `json:"run"`
	Status  string                  `json:"status"`
	Error   string                  `json:"error,omitempty"`
	Rounds  []workflows.RoundResult `json:"rounds,omitempty"`
}

// ReportInput is everything the comparison's report shows.
type ReportInput struct {
	Name        string   `json:"name"`
	Task        string   `json:"task"`
	N           int      `json:"n"`
	Rounds      int      `json:"rounds"`
	NEval       int      `json:"n_eval"`
	Seeds       []uint64 `json:"seeds"`
	SearchSeeds []uint64 `json:"search_seeds,omitempty"`
	// SFTNormPairs are pairs of sft arms that differ only in sft_norm ("token" first), whose
	// paired differences the report gives beside the reference arm's (`--arms sft-norm`).
	SFTNormPairs [][2]string `json:"sft_norm_pairs,omitempty"`
	Primary      string      `json:"primary"`
	HigherBetter bool        `json:"higher_better"`
	Seconds      float64     `json:"seconds"`
	// Backend is the matrix backend of the worker that wrote the report (model.BackendDetail,
	// e.g. "openblas (core Haswell, threads 1)"): the bits depend on OpenBLAS's kernel, so a
	// rerun reproduces the report with the same one (README, Durability and determinism).
	Backend      string         `json:"backend,omitempty"`
	Base         storage.Ref    `json:"base"`
	Model        string         `json:"model"`
	Pretrain     string         `json:"pretrain"`
	Training     string         `json:"training"`
	TargetSFT    string         `json:"target_sft,omitempty"`    // the paper regime's SFT stage, described
	SelectRound0 bool           `json:"select_round0,omitempty"` // the selection may keep round 0
	Arms         []ReportArm    `json:"arms"`
	Choices      []ReportChoice `json:"choices"`
	Search       []ReportRun    `json:"search"`
	Final        []ReportRun    `json:"final"`
}

// ReportOutput lists the report's objects.
type ReportOutput struct {
	Report  storage.Ref   `json:"report"`
	Results storage.Ref   `json:"results"`
	Plots   []storage.Ref `json:"plots"`
}

// ReportedMetrics are the metrics the comparison reports, in this order, when measured.
var ReportedMetrics = []string{
	eval.KL, eval.TaskScore, eval.NLL, eval.SampleValid, eval.GreedyValid, eval.SampleChars, eval.DataChars,
	eval.RewardReal, eval.RewardSynth, eval.Margin, eval.DiscAccuracy,
	eval.SynthLength, eval.Distinct2, eval.SynthDist2, eval.TrainLoss, SourceNLL,
}

// cell is a metric's values over seeds for one arm and round.
func values(runs []ReportRun, arm string, round int, metric string) []float64 {
	var vs []float64
	for _, r := range runs {
		if r.Arm != arm || r.Status == "failed" {
			continue
		}
		for _, rr := range r.Rounds {
			if v, ok := rr.Metrics[metric]; ok && rr.Round == round {
				vs = append(vs, v)
			}
		}
	}
	return vs
}

func meanStd(vs []float64) (mean, std float64) {
	if len(vs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range vs {
		mean += v
	}
	mean /= float64(len(vs))
	if len(vs) > 1 {
		for _, v := range vs {
			std += (v - mean) * (v - mean)
		}
		std = math.Sqrt(std / float64(len(vs)-1))
	}
	return mean, std
}

// lowerBetter says which way a metric improves, for the verdicts of paired differences.
var lowerBetter = map[string]bool{eval.KL: true, eval.NLL: true, eval.TaskScore: false, eval.SampleValid: false, eval.GreedyValid: false}

// paired returns, for the seeds where both arms have the metric at their rounds, the
// differences x - y.
func paired(runs []ReportRun, armX string, roundX int, armY string, roundY int, metric string) []float64 {
	at := func(arm string, round int) map[uint64]float64 {
		m := map[uint64]float64{}
		for _, r := range runs {
			if r.Arm != arm || r.Status == "failed" {
				continue
			}
			for _, rr := range r.Rounds {
				if v, ok := rr.Metrics[metric]; ok && rr.Round == round {
					m[r.Seed] = v
				}
			}
		}
		return m
	}
	x, y := at(armX, roundX), at(armY, roundY)
	var d []float64
	for s, vx := range x {
		if vy, ok := y[s]; ok {
			d = append(d, vx-vy)
		}
	}
	return d
}

func measured(in ReportInput) []string {
	has := map[string]bool{}
	for _, r := range in.Final {
		for _, rr := range r.Rounds {
			for k := range rr.Metrics {
				has[k] = true
			}
		}
	}
	var out []string
	for _, m := range ReportedMetrics {
		if has[m] {
			out = append(out, m)
		}
	}
	return out
}

var metricHelp = map[string]string{
	eval.KL:           "KL(p_data || p_theta) per response, nats (lower is better)",
	eval.TaskScore:    "task metric of greedy outputs (higher is better)",
	eval.NLL:          "held-out NLL per token of real responses (lower is better)",
	eval.SampleValid:  "fraction of temperature-1 samples that p_data allows",
	eval.GreedyValid:  "fraction of greedy outputs that p_data allows",
	eval.SampleChars:  "mean length (characters) of temperature-1 samples on held-out prompts",
	eval.DataChars:    "mean length (characters) of p_data's samples on the same prompts",
	eval.RewardReal:   "mean reward r = log p_theta - log p_opponent of the real responses",
	eval.RewardSynth:  "mean reward of the round's synthetic responses",
	eval.Margin:       "reward_real - reward_synth",
	eval.DiscAccuracy: "accuracy of the NCE classifier h = sigmoid(r - ln mu)",
	eval.SynthLength:  "mean synthetic response length (tokens)",
	eval.Distinct2:    "distinct bigrams of greedy held-out outputs",
	eval.SynthDist2:   "distinct bigrams of the round's synthetic responses",
	eval.TrainLoss:    "last training step's loss (each method's own loss)",
	SourceNLL:         "forgetting: NLL per token of held-out pairs of the pre-training corpus's family (lower is better)",
}

func fmtMS(vs []float64, total int) string {
	if len(vs) == 0 {
		return "—"
	}
	m, s := meanStd(vs)
	cell := fmt.Sprintf("%.4g ± %.2g", m, s)
	if len(vs) == 1 {
		cell = fmt.Sprintf("%.4g", m)
	}
	if len(vs) < total {
		cell += fmt.Sprintf(" (%d/%d)", len(vs), total)
	}
	return cell
}

// RenderMarkdown renders the markdown report and lists the figures (metric names) to draw.
func RenderMarkdown(in ReportInput) (string, []string) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Comparison %s: task %s\n\n", in.Name, in.Task)
	dir := "lower"
	if in.HigherBetter {
		dir = "higher"
	}
	w("- Real train pairs n = %d; held-out prompts per evaluation: %d; seeds %v; rounds 1..%d after the base (round r is the paper's iter%s).\n",
		in.N, in.NEval, in.Seeds, in.Rounds, "(r-1)")
	w("- Base model (the same for every arm and seed, never trained on the target's real pairs): %s, pre-trained on %s. `%s`\n", in.Model, in.Pretrain, in.Base.Key)
	if in.TargetSFT != "" {
		w("- Starting point (the paper's regime): the pre-trained base, %s.\n", in.TargetSFT)
	}
	w("- Rounds: %s.\n", in.Training)
	w("- Selection metric: `%s` (%s is better); settings and rounds are chosen on a validation split, never on the test split", in.Primary, dir)
	if len(in.SearchSeeds) > 0 && len(in.Search) > 0 {
		w(", by its mean over the search seeds %v", in.SearchSeeds)
	}
	w(".\n")
	if in.SelectRound0 {
		w("- Round 0 may be chosen: an arm whose best validation round is 0 is better left at its starting point.\n")
	}
	w("- Differences between arms are paired by seed (a seed fixes the real pairs, the held-out prompts and the p_data samples of every arm) and given with their 95%% confidence interval from the t distribution on n-1 degrees of freedom; a difference is a win or a loss only when its interval excludes 0, else it is within noise (identical: every difference is exactly 0, the same models or a constant metric).\n")
	w("- Wall time of the comparison: %.0f s (%.1f min).\n", in.Seconds, in.Seconds/60)
	if in.Backend != "" {
		w("- Matrix backend of the worker that wrote this report: %s; the numbers are reproduced to the bit with the same backend and OpenBLAS kernel (`OPENBLAS_CORETYPE`).\n", in.Backend)
	}
	w("\n")

	w("## Arms and the search (same budget per arm)\n\n| arm | what | steps/round | grid | tried | chosen | best val round | val %s |\n|---|---|---|---|---|---|---|---|\n", in.Primary)
	for _, arm := range in.Arms {
		c := ReportChoice{}
		for _, x := range in.Choices {
			if x.Arm == arm.Name {
				c = x
			}
		}
		val := "—"
		if c.Found {
			val = fmt.Sprintf("%.4g", c.Value)
		}
		w("| %s | %s | %s | %s | %d | %s | %d | %s |\n", arm.Name, arm.Description, fmtSteps(arm.StepsPerRound), arm.Grid, c.Tried, c.Setting, c.Round, val)
	}
	if len(in.Search) > 0 {
		w("\nEvery search run (validation split), %s by round (r0 = base):\n\n| arm | setting | seed | status |", in.Primary)
		for r := 0; r <= in.Rounds; r++ {
			w(" r%d |", r)
		}
		w("\n|---|---|---|---|%s\n", strings.Repeat("---|", in.Rounds+1))
		for _, r := range in.Search {
			w("| %s | %s | %d | %s |", r.Arm, r.Setting, r.Seed, r.Status)
			for k := 0; k <= in.Rounds; k++ {
				vs := values([]ReportRun{r}, r.Arm, k, in.Primary)
				if len(vs) == 0 {
					w(" — |")
				} else {
					w(" %.4g |", vs[0])
				}
			}
			w("\n")
		}
	}
	var failed []string
	for _, r := range append(append([]ReportRun(nil), in.Search...), in.Final...) {
		if r.Status == "failed" {
			failed = append(failed, fmt.Sprintf("- %s (%s, seed %d): %s", r.Run, r.Setting, r.Seed, firstLine(r.Error)))
		}
	}
	if len(failed) > 0 {
		w("\nFailed runs (excluded from the tables):\n\n%s\n", strings.Join(failed, "\n"))
	}

	metrics := measured(in)
	w("\n## Test results: mean ± std over %d seeds, per round\n\n", len(in.Seeds))
	w("Column r0 is the base model (identical for all arms); SFT arms' round r is 2r epochs of SFT from the base. Round r of an arm is r x its steps/round optimizer steps from the base. Whether two arms differ is read in the paired differences below, not from these spreads.\n")
	for _, m := range metrics {
		w("\n### %s\n\n%s.\n\n| arm | steps/round |", m, metricHelp[m])
		for r := 0; r <= in.Rounds; r++ {
			w(" r%d |", r)
		}
		w("\n|---|---|%s\n", strings.Repeat("---|", in.Rounds+1))
		for _, arm := range in.Arms {
			w("| %s | %s |", arm.Name, fmtSteps(arm.StepsPerRound))
			for r := 0; r <= in.Rounds; r++ {
				w(" %s |", fmtMS(values(in.Final, arm.Name, r, m), len(in.Seeds)))
			}
			w("\n")
		}
	}

	// Paired differences of the reference arm against every other arm, and of the pairs
	// of arms that differ only in their SFT loss.
	round, last, steps := map[string]int{}, map[string]int{}, map[string]int{}
	for _, c := range in.Choices {
		round[c.Arm] = c.Round
	}
	for _, a := range in.Arms {
		last[a.Name] = in.Rounds
		if a.Rounds > 0 {
			last[a.Name] = a.Rounds
		}
		steps[a.Name] = a.StepsPerRound
	}
	diffMetrics := []string{in.Primary}
	for _, m := range []string{eval.KL, eval.TaskScore, eval.NLL, eval.SampleValid, SourceNLL} {
		if m != in.Primary && has(metrics, m) {
			diffMetrics = append(diffMetrics, m)
		}
	}
	// rows writes the paired differences x minus y (y "base": x's own round 0) for every
	// metric, at the last rounds and at the rounds chosen on validation.
	rows := func(x, y string, ms []string) {
		for _, m := range ms {
			for _, at := range []string{"last", "chosen"} {
				rx, ry := last[x], last[y]
				if at == "chosen" {
					rx, ry = round[x], round[y]
				}
				yArm, sy := y, steps[y]
				if y == "base" {
					yArm, ry, sy = x, 0, 0
				}
				p := eval.PairedCI95(paired(in.Final, x, rx, yArm, ry, m))
				verdict := "—" // a length is not better longer or shorter: compare it with data_chars
				if lb, ok := lowerBetter[m]; ok {
					verdict = p.Verdict(lb)
				}
				w("| %s | %s | %s | r%d vs r%d | %s / %s | %s | %s | %s |\n", y, m, at, rx, ry, stepsAt(steps[x], rx), stepsAt(sy, ry), fmtMean(p), fmtCI(p), verdict)
			}
		}
	}
	intro := func(x string) {
		w("Per seed, %s's value minus the other arm's, at each arm's last round and at each arm's round chosen on validation; the mean over seeds, its 95%% t interval and the verdict for %s: win or loss only when the interval excludes 0. For `%s`, a %s difference favours %s. Steps: the optimizer steps from the base each side made (%s / the other arm).\n\n",
			x, x, in.Primary, map[bool]string{true: "positive", false: "negative"}[in.HigherBetter], x, x)
	}
	header := func(x string) {
		w("| vs | metric | at | rounds | steps | %s minus it | 95%% CI | verdict for %s |\n|---|---|---|---|---|---|---|---|\n", x, x)
	}
	const ref = "space"
	if _, ok := steps[ref]; ok {
		w("\n## Paired differences: %s minus each arm, 95%% confidence intervals\n\n", ref)
		intro(ref)
		header(ref)
		for _, arm := range in.Arms {
			if arm.Name != ref {
				rows(ref, arm.Name, diffMetrics)
			}
		}
		rows(ref, "base", diffMetrics)
	}
	for _, pr := range in.SFTNormPairs {
		w("\n## Paired differences: %s (sft_norm token, maximum likelihood) minus %s (sequence mean), 95%% confidence intervals\n\n", pr[0], pr[1])
		intro(pr[0])
		header(pr[0])
		ms := diffMetrics
		if has(metrics, eval.SampleChars) {
			ms = append(append([]string(nil), ms...), eval.SampleChars)
		}
		rows(pr[0], pr[1], ms)
	}
	// Round over round: the paper's claim that SPACE improves every round (iter0..iter4)
	// while gap-based methods peak and degrade, read per arm against itself, paired by seed.
	w("\n## Round over round: each arm against itself, 95%% confidence intervals\n\n")
	w("Per seed, an arm's `%s` at its later round minus the same arm's at the earlier one (r0 = the arms' common start); the mean over seeds, its 95%% t interval, and whether the arm got better or worse: only when the interval excludes 0, else within noise.\n\n", in.Primary)
	w("| arm | rounds | steps | later minus earlier | 95%% CI | reading |\n|---|---|---|---|---|---|\n")
	reading := map[string]string{"win": "better", "loss": "worse"}
	for _, arm := range in.Arms {
		l := last[arm.Name]
		for _, rs := range roundPairs(l) {
			p := eval.PairedCI95(paired(in.Final, arm.Name, rs[1], arm.Name, rs[0], in.Primary))
			v := p.Verdict(!in.HigherBetter)
			if r, ok := reading[v]; ok {
				v = r
			}
			w("| %s | r%d - r%d | %s / %s | %s | %s | %s |\n", arm.Name, rs[1], rs[0], stepsAt(steps[arm.Name], rs[1]), stepsAt(steps[arm.Name], rs[0]), fmtMean(p), fmtCI(p), v)
		}
	}
	w("\n## Plots\n\n")
	for _, m := range metrics {
		w("![%s](compare_%s.png)\n\n", m, m)
	}
	return b.String(), metrics
}

// roundPairs are the (earlier, later) rounds the round-over-round table compares for an
// arm whose last round is last: the first round against the start, then the last round
// against the start, the first round and the round before it; without repeats.
func roundPairs(last int) [][2]int {
	var out [][2]int
	for _, p := range [][2]int{{0, 1}, {0, last}, {1, last}, {last - 1, last}} {
		dup := p[0] < 0 || p[0] >= p[1]
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

func has(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// fmtMean is a paired difference's mean, with its seed count when that is not enough for
// an interval.
func fmtMean(p eval.Paired) string {
	switch {
	case p.N == 0:
		return "—"
	case p.N == 1:
		return fmt.Sprintf("%+.4g (1 seed)", p.Mean)
	}
	return fmt.Sprintf("%+.4g", p.Mean)
}

// fmtCI is a paired difference's 95% interval ("—" under 2 seeds).
func fmtCI(p eval.Paired) string {
	if p.N < 2 {
		return "—"
	}
	return fmt.Sprintf("[%+.3g, %+.3g]", p.Lo, p.Hi)
}

// fmtSteps is an arm's optimizer steps per round, "—" when a report did not record it.
func fmtSteps(n int) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

// stepsAt is the optimizer steps from the base at round r of an arm of perRound steps.
func stepsAt(perRound, r int) string {
	if r == 0 {
		return "0"
	}
	return fmtSteps(perRound * r)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// DrawMetric plots one metric against the round: one line per arm (mean over seeds) with
// error bars of ± one standard deviation.
func DrawMetric(in ReportInput, metric string) ([]byte, error) {
	p := plot.New()
	lo, hi := math.Inf(1), math.Inf(-1)
	p.Title.Text = fmt.Sprintf("%s: %s (mean ± std over %d seeds)", in.Task, metric, len(in.Seeds))
	p.X.Label.Text = "round (0 = base)"
	p.Y.Label.Text = metric
	p.Legend.Top = true
	for i, arm := range in.Arms {
		var xys plotter.XYs
		var errs plotter.YErrors
		for r := 0; r <= in.Rounds; r++ {
			vs := values(in.Final, arm.Name, r, metric)
			if len(vs) == 0 {
				continue
			}
			m, s := meanStd(vs)
			lo, hi = math.Min(lo, m-s), math.Max(hi, m+s)
			xys = append(xys, plotter.XY{X: float64(r) + 0.04*float64(i-len(in.Arms)/2), Y: m})
			errs = append(errs, struct{ Low, High float64 }{s, s})
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		c := plotutil.Color(i)
		l.Color, pts.Color = c, c
		pts.Shape = plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{xys, errs})
		if err != nil {
			return nil, err
		}
		eb.Color = c
		p.Add(l, pts, eb)
		p.Legend.Add(arm.Name, l, pts)
	}
	p.Add(plotter.NewGrid())
	if hi > lo { // head room for the legend above the data
		p.Y.Min, p.Y.Max = lo-0.05*(hi-lo), hi+0.45*(hi-lo)
	}
	var ticks []plot.Tick
	for r := 0; r <= in.Rounds; r++ {
		ticks = append(ticks, plot.Tick{Value: float64(r), Label: fmt.Sprint(r)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
