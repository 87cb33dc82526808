package activities

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/storage"
)

// plotted lists the metrics drawn as PNGs, grouped by figure; a figure is drawn only when
// at least one of its metrics was measured.
var plotted = []struct {
	name, title string
	metrics     []string
}{
	{"task_score", "Task metric on held-out prompts (greedy)", []string{eval.TaskScore}},
	{"test_nll", "Held-out NLL per token", []string{eval.NLL}},
	{"rewards", "Mean reward r = log p_theta - log p_opponent", []string{eval.RewardReal, eval.RewardSynth, eval.Margin}},
	{"disc_accuracy", "NCE classifier accuracy", []string{eval.DiscAccuracy}},
	{"train_loss", "Final training loss of the round", []string{eval.TrainLoss}},
}

// Report writes runs/{run}/report/report.md, a per-round table of every metric, and one
// PNG per figure next to it.
func (a *Activities) Report(ctx context.Context, in ReportInput) (out storage.Ref, err error) {
	defer a.Track(ctx, "report", in.Run, 0)(&err)
	out, err = a.report(ctx, in)
	return out, Classify(err)
}

func (a *Activities) report(ctx context.Context, in ReportInput) (storage.Ref, error) {
	var md strings.Builder
	fmt.Fprintf(&md, "# Run %s\n\nMethod: %s. Status: %s. Best round: %d (round 0 is the base model).\n\n", in.Run, in.Method, in.Status, in.BestRound)
	names := MetricNames(in.Rounds)
	md.WriteString("| round | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, r := range in.Rounds {
		mark := ""
		if r.Round == in.BestRound {
			mark = " (best)"
		}
		fmt.Fprintf(&md, "| %d%s |", r.Round, mark)
		for _, n := range names {
			if v, ok := r.Metrics[n]; ok {
				fmt.Fprintf(&md, " %.4g |", v)
			} else {
				md.WriteString(" |")
			}
		}
		md.WriteString("\n")
	}
	md.WriteString("\n| round | model | sha256 |\n|---|---|---|\n")
	for _, r := range in.Rounds {
		fmt.Fprintf(&md, "| %d | `%s` | `%s` |\n", r.Round, r.ModelKey, r.ModelSHA256)
	}
	md.WriteString("\n")
	for _, p := range plotted {
		png, ok, err := drawPlot(p.title, p.metrics, in.Rounds)
		if err != nil {
			return storage.Ref{}, fmt.Errorf("plot %s: %w", p.name, err)
		}
		if !ok {
			continue
		}
		if _, err := a.Put(ctx, storage.ReportKey(in.Run, p.name+".png"), png); err != nil {
			return storage.Ref{}, err
		}
		fmt.Fprintf(&md, "![%s](%s.png)\n\n", p.title, p.name)
	}
	return a.Put(ctx, storage.ReportKey(in.Run, "report.md"), []byte(md.String()))
}

// MetricNames lists, sorted, every metric that any of the rounds has.
func MetricNames(rounds []RoundResult) []string {
	set := map[string]bool{}
	for _, r := range rounds {
		for k := range r.Metrics {
			set[k] = true
		}
	}
	var names []string
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// drawPlot draws the metrics against the round; ok is false when none was measured.
func drawPlot(title string, metrics []string, rounds []RoundResult) (png []byte, ok bool, err error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "round"
	var lines []any
	for _, name := range metrics {
		var xy plotter.XYs
		for _, r := range rounds {
			if v, has := r.Metrics[name]; has {
				xy = append(xy, plotter.XY{X: float64(r.Round), Y: v})
			}
		}
		if len(xy) > 0 {
			lines = append(lines, name, xy)
		}
	}
	if len(lines) == 0 {
		return nil, false, nil
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return nil, false, err
	}
	w, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return nil, false, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}
