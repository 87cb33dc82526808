// Package report renders what people read about a run: the markdown summary (report.md),
// the PNG plots of the metrics per round, and one self-contained HTML page (report.html:
// inline SVG plots of the metrics per round and of the training per step, and per round the
// prompts with their real, synthetic and greedy responses). It turns numbers into text and pictures; it
// computes no metric (eval does) and knows nothing of Temporal or S3 (the Report activity
// stores what it renders).
package report

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/space-sft/space/eval"
)

// Round is one committed round as the report shows it (round 0 is the base model).
type Round struct {
	Round       int
	ModelKey    string
	ModelSHA256 string
	Metrics     map[string]float64

	// What the HTML shows besides the metrics (each may be empty).
	Train        []TrainStep // the round's training log, one entry per optimizer step
	TaskMetric   string      // what the task score of Samples measures, e.g. "accuracy"
	Samples      []Sample    // greedy outputs on held-out prompts
	TrainSamples []Sample    // train prompts with the opponent's synthetic responses
}

// Figure is one PNG of the report: a file name (without .png), a title and its image.
type Figure struct {
	Name, Title string
	PNG         []byte
}

// figure is a plot of some metrics against the round.
type figure struct {
	name, title string
	metrics     []string
}

// figures lists the metrics drawn as PNGs, grouped by figure; a figure is drawn only when
// at least one of its metrics was measured. The HTML draws them too, and every other metric.
var figures = []figure{
	{"task_score", "Task metric on held-out prompts (greedy)", []string{eval.TaskScore}},
	{"test_nll", "Held-out NLL per token", []string{eval.NLL}},
	{"rewards", "Mean reward r = log p_theta - log p_opponent", []string{eval.RewardReal, eval.RewardSynth, eval.Margin}},
	{"disc_accuracy", "NCE classifier accuracy", []string{eval.DiscAccuracy}},
	{"train_loss", "Final training loss of the round", []string{eval.TrainLoss}},
}

// Run renders the report of a run: the markdown (a per-round table of every metric, the
// models' keys and sha256s, and an image link per figure) and the figures whose metrics
// were measured.
func Run(run, method, status string, best int, rounds []Round) (string, []Figure, error) {
	var md strings.Builder
	fmt.Fprintf(&md, "# Run %s\n\nMethod: %s. Status: %s. Best round: %d (round 0 is the base model).\n\n", run, method, status, best)
	md.WriteString("[report.html](report.html), beside this file, adds the training loss and rewards per step and each round's samples.\n\n")
	ms := make([]map[string]float64, len(rounds))
	for i, r := range rounds {
		ms[i] = r.Metrics
	}
	names := MetricNames(ms...)
	md.WriteString("| round | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, r := range rounds {
		mark := ""
		if r.Round == best {
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
	for _, r := range rounds {
		fmt.Fprintf(&md, "| %d | `%s` | `%s` |\n", r.Round, r.ModelKey, r.ModelSHA256)
	}
	md.WriteString("\n")
	var figs []Figure
	for _, p := range figures {
		png, ok, err := drawPlot(p.title, p.metrics, rounds)
		if err != nil {
			return "", nil, fmt.Errorf("plot %s: %w", p.name, err)
		}
		if !ok {
			continue
		}
		figs = append(figs, Figure{Name: p.name, Title: p.title, PNG: png})
		fmt.Fprintf(&md, "![%s](%s.png)\n\n", p.title, p.name)
	}
	return md.String(), figs, nil
}

// MetricNames lists, sorted, every metric that any of the maps has.
func MetricNames(metrics ...map[string]float64) []string {
	set := map[string]bool{}
	for _, m := range metrics {
		for k := range m {
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
func drawPlot(title string, metrics []string, rounds []Round) (png []byte, ok bool, err error) {
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
