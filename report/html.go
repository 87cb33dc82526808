package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
)

// TrainStep is one optimizer step of a round's training log.
type TrainStep struct {
	Step        int
	Loss        float64
	RewardReal  float64 // mean r = log p_theta - log p_opponent of the batch's real responses
	RewardSynth float64 // the same of its synthetic responses
}

// Sample is one prompt as the report shows it: the real response, the model's greedy
// output and, for a train prompt of a self-play round, the synthetic responses the opponent
// wrote.
type Sample struct {
	Prompt, Real, Output string
	Synthetic            []string
	Score                float64
}

// HTML renders the run as one self-contained page (inline SVG plots, inline CSS, no script,
// nothing fetched): the best round, the per-round metric table and plots, the per-step
// training loss and rewards, and per round the samples. Round 0 is the base model.
func HTML(run, method, status string, best int, rounds []Round) ([]byte, error) {
	ms := make([]map[string]float64, len(rounds))
	for i, r := range rounds {
		ms[i] = r.Metrics
	}
	page := htmlPage{Run: run, Method: method, Status: status, Best: best, Names: MetricNames(ms...)}
	for _, r := range rounds {
		row := htmlRound{Round: r, IsBest: r.Round == best, Opponent: r.Round - 1}
		for _, n := range page.Names {
			cell := ""
			if v, ok := r.Metrics[n]; ok && finite(v) {
				cell = strconv.FormatFloat(v, 'g', 4, 64)
			}
			row.Cells = append(row.Cells, cell)
		}
		page.Rounds = append(page.Rounds, row)
		if row.IsBest {
			b := row
			page.BestRound = &b
		}
	}
	// The report's figures, then one plot for each other metric (e.g. kl, or a scorer's), so
	// that whatever was measured is drawn.
	plots := slices.Clone(figures)
	drawn := map[string]bool{}
	for _, f := range figures {
		for _, m := range f.metrics {
			drawn[m] = true
		}
	}
	for _, n := range page.Names {
		if !drawn[n] {
			plots = append(plots, figure{n, n + " per round", []string{n}})
		}
	}
	for _, f := range plots {
		c := chart{id: "plot-" + f.name, xLabel: "round", dots: true, intX: true}
		for _, name := range f.metrics {
			s := series{name: name}
			for _, r := range rounds {
				if v, ok := r.Metrics[name]; ok {
					s.xs, s.ys = append(s.xs, float64(r.Round)), append(s.ys, v)
				}
			}
			if len(s.xs) > 0 {
				c.series = append(c.series, s)
			}
		}
		c.marks = []mark{{x: float64(best), label: "best"}}
		page.add(&page.RoundPlots, f.title, c)
	}
	page.trainingPlots(method, rounds)
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, page); err != nil {
		return nil, fmt.Errorf("report: render html: %w", err)
	}
	return b.Bytes(), nil
}

// trainingPlots draws the per-step loss of the base's SFT, and the loss and rewards of the
// rounds one after the other (x is the step counted across rounds; a dashed line marks each
// round's first step).
func (p *htmlPage) trainingPlots(method string, rounds []Round) {
	base := chart{id: "plot-base-loss", xLabel: "step", intX: true}
	loss := chart{id: "plot-train-loss", xLabel: "step (rounds one after the other)", intX: true}
	rw := chart{id: "plot-train-rewards", xLabel: "step (rounds one after the other)", intX: true}
	ls := series{name: "loss"}
	real, synth := series{name: "reward_real"}, series{name: "reward_synth"}
	offset := 0
	for _, r := range rounds {
		if len(r.Train) == 0 {
			continue
		}
		if r.Round == 0 {
			s := series{name: "SFT loss"}
			for _, st := range r.Train {
				s.xs, s.ys = append(s.xs, float64(st.Step)), append(s.ys, st.Loss)
			}
			base.series = []series{s}
			continue
		}
		m := mark{x: float64(offset + 1), label: fmt.Sprintf("round %d", r.Round)}
		loss.marks, rw.marks = append(loss.marks, m), append(rw.marks, m)
		if offset > 0 { // a gap: each round's line starts anew
			for _, s := range []*series{&ls, &real, &synth} {
				s.xs, s.ys = append(s.xs, math.NaN()), append(s.ys, math.NaN())
			}
		}
		for _, st := range r.Train {
			x := float64(offset + st.Step)
			ls.xs, ls.ys = append(ls.xs, x), append(ls.ys, st.Loss)
			real.xs, real.ys = append(real.xs, x), append(real.ys, st.RewardReal)
			synth.xs, synth.ys = append(synth.xs, x), append(synth.ys, st.RewardSynth)
		}
		offset += r.Train[len(r.Train)-1].Step
	}
	p.add(&p.TrainPlots, "Base model: SFT training loss per step", base)
	if len(ls.xs) > 0 {
		loss.series = []series{ls}
		p.add(&p.TrainPlots, "Training loss per step ("+method+")", loss)
		if method != "sft" {
			rw.series = []series{real, synth}
			p.add(&p.TrainPlots, "Mean reward per step of the batch's real and synthetic responses, r = log p_theta - log p_opponent", rw)
		}
	}
}

type htmlPage struct {
	Run, Method, Status string
	Best                int
	BestRound           *htmlRound
	Names               []string
	Rounds              []htmlRound
	RoundPlots          []htmlPlot
	TrainPlots          []htmlPlot
}

type htmlRound struct {
	Round
	IsBest   bool
	Opponent int // the round whose model wrote the synthetic responses
	Cells    []string
}

type htmlPlot struct {
	ID, Title string
	SVG       template.HTML
}

// add appends the chart to a list of plots when it has something to draw.
func (p *htmlPage) add(to *[]htmlPlot, title string, c chart) {
	if svg, ok := c.svg(); ok {
		*to = append(*to, htmlPlot{ID: c.id, Title: title, SVG: template.HTML(svg)}) // svg escapes its own text
	}
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": func(v float64) string {
		if !finite(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 4, 64)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run {{.Run}}: space report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1340px; padding: 0 1em; color: #222; background: #fff; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best { background: #fff6d5; }
td.text { white-space: pre-wrap; font-family: ui-monospace, monospace; max-width: 30em; overflow-wrap: anywhere; }
ol.synth { margin: 0; padding-left: 1.4em; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure.plot { margin: 0; border: 1px solid #ddd; padding: 6px; }
figure.plot figcaption { font-size: 13px; font-weight: 600; max-width: 640px; margin-bottom: 4px; }
code { font-size: 12px; }
.muted { color: #666; }
.wide { overflow-x: auto; }
</style>
</head>
<body>
<h1>Run {{.Run}}</h1>
<p>Method <b>{{.Method}}</b>, status <b>{{.Status}}</b>, {{len .Rounds}} rounds committed (round 0 is the base model).</p>
{{with .BestRound}}<section id="best">
<h2>Best round: {{.Round.Round}}</h2>
<p>Model <code>{{.ModelKey}}</code> (sha256 <code>{{.ModelSHA256}}</code>).</p>
<table><tr><th>metric</th><th>value</th></tr>
{{range $n, $v := .Metrics}}<tr><td>{{$n}}</td><td class="num">{{num $v}}</td></tr>
{{end}}</table>
</section>{{end}}

<section id="metrics">
<h2>Metrics per round</h2>
<div class="wide"><table>
<tr><th>round</th>{{range .Names}}<th>{{.}}</th>{{end}}<th>model sha256</th></tr>
{{range .Rounds}}<tr{{if .IsBest}} class="best"{{end}}><td>{{.Round.Round}}{{if .IsBest}} (best){{end}}</td>{{range .Cells}}<td class="num">{{.}}</td>{{end}}<td><code title="{{.ModelKey}}">{{printf "%.12s" .ModelSHA256}}</code></td></tr>
{{end}}</table></div>
<div class="plots">
{{range .RoundPlots}}<figure class="plot" id="fig-{{.ID}}"><figcaption>{{.Title}}</figcaption>{{.SVG}}</figure>
{{end}}</div>
</section>

<section id="training">
<h2>Training, step by step</h2>
{{if .TrainPlots}}<div class="plots">
{{range .TrainPlots}}<figure class="plot" id="fig-{{.ID}}"><figcaption>{{.Title}}</figcaption>{{.SVG}}</figure>
{{end}}</div>{{else}}<p class="muted">No training log was kept for this run's rounds.</p>{{end}}
</section>

<section id="samples">
<h2>Samples per round</h2>
{{range .Rounds}}<details id="round-{{.Round.Round}}"{{if .IsBest}} open{{end}}>
<summary>Round {{.Round.Round}}{{if .IsBest}} (best){{end}}{{if eq .Round.Round 0}} (base model){{end}}</summary>
{{if .TrainSamples}}<h4>Train prompts: the real response, the synthetic responses the opponent (round {{.Opponent}}'s model) wrote, and this round's greedy output</h4>
<table class="samples">
<tr><th>prompt</th><th>real response</th><th>synthetic responses (opponent)</th><th>greedy output (this round)</th></tr>
{{range .TrainSamples}}<tr><td class="text">{{.Prompt}}</td><td class="text">{{.Real}}</td><td class="text"><ol class="synth">{{range .Synthetic}}<li>{{.}}</li>{{end}}</ol></td><td class="text">{{.Output}}</td></tr>
{{end}}</table>{{end}}
{{if .Samples}}<h4>Held-out prompts: the real response and this round's greedy output</h4>
<table class="samples">
<tr><th>prompt</th><th>real response</th><th>greedy output</th>{{if .TaskMetric}}<th>{{.TaskMetric}}</th>{{end}}</tr>
{{$tm := .TaskMetric}}{{range .Samples}}<tr><td class="text">{{.Prompt}}</td><td class="text">{{.Real}}</td><td class="text">{{.Output}}</td>{{if $tm}}<td class="num">{{num .Score}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if not (or .TrainSamples .Samples)}}<p class="muted">No samples were kept for this round.</p>{{end}}
</details>
{{end}}</section>
</body>
</html>
`))
