package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The HTML report draws its plots as inline SVG written here: a page that needs no script,
// no font and no network, whose plots are plain paths a test can measure. A chart is lines
// (or points joined by lines) of y against x, with axes, ticks, a legend and optional
// vertical marks (round boundaries, the best round).

// series is one line of a chart.
type series struct {
	name   string
	xs, ys []float64
}

// mark is a labelled vertical line at x.
type mark struct {
	x     float64
	label string
}

// chart is one plot; dots draws a point at every value (a per-round plot has few).
type chart struct {
	id, xLabel string
	series     []series
	marks      []mark
	dots       bool
	intX       bool // x ticks at integers only (rounds)
}

// Chart geometry, in SVG user units (the svg element is drawn at this size).
const (
	chartW, chartH                = 640, 300
	padL, padR, padTop, padBottom = 64, 16, 28, 44
	maxPoints                     = 2000 // longer series are thinned to this many points
)

// palette: saturated colours (the browser test tells the lines from the grey axes by them).
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// svg renders the chart; ok is false when it has no finite point to draw.
func (c chart) svg() (string, bool) {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	n := 0
	for _, s := range c.series {
		for i, x := range s.xs {
			if y := s.ys[i]; finite(x) && finite(y) {
				xlo, xhi, ylo, yhi = min(xlo, x), max(xhi, x), min(ylo, y), max(yhi, y)
				n++
			}
		}
	}
	if n == 0 {
		return "", false
	}
	xlo, xhi = widen(xlo, xhi)
	ylo, yhi = widen(ylo, yhi)
	yt := ticks(ylo, yhi, 5, false)
	if len(yt) > 1 { // the y axis runs from a tick to a tick
		step := yt[1] - yt[0]
		if yt[0] > ylo+step*1e-9 {
			yt = append([]float64{yt[0] - step}, yt...)
		}
		if last := yt[len(yt)-1]; last < yhi-step*1e-9 {
			yt = append(yt, last+step)
		}
	}
	ylo, yhi = min(ylo, yt[0]), max(yhi, yt[len(yt)-1])
	xt := ticks(xlo, xhi, 8, c.intX)
	pw, ph := float64(chartW-padL-padR), float64(chartH-padTop-padBottom)
	px := func(x float64) float64 { return padL + (x-xlo)/(xhi-xlo)*pw }
	py := func(y float64) float64 { return padTop + (yhi-y)/(yhi-ylo)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`,
		html.EscapeString(c.id), chartW, chartH, chartW, chartH)
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>`)
	// grid and ticks
	for _, v := range yt {
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#444">%s</text>`, padL-6, y+4, num(v))
	}
	for _, v := range xt {
		x := px(v)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>`, x, x, chartH-padBottom, chartH-padBottom+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#444">%s</text>`, x, chartH-padBottom+16, num(v))
	}
	fmt.Fprintf(&b, `<path d="M%d %dV%dH%d" fill="none" stroke="#666"/>`, padL, padTop, chartH-padBottom, chartW-padR)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="12" fill="#222">%s</text>`, padL+pw/2, chartH-8, html.EscapeString(c.xLabel))
	for _, m := range c.marks {
		if m.x < xlo || m.x > xhi {
			continue
		}
		x := px(m.x)
		fmt.Fprintf(&b, `<line class="mark" x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888" stroke-dasharray="4 3"/>`, x, x, padTop, chartH-padBottom)
		if m.label != "" { // right of the line, or left of it near the right edge
			tx, anchor := x+3, "start"
			if x > padL+0.85*pw {
				tx, anchor = x-3, "end"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" font-size="10" fill="#555">%s</text>`, tx, padTop+10, anchor, html.EscapeString(m.label))
		}
	}
	// lines, then the legend above the plot area
	lx := float64(padL)
	for i, s := range c.series {
		col := palette[i%len(palette)]
		var d strings.Builder
		step := max(1, (len(s.xs)+maxPoints-1)/maxPoints)
		pen := "M"
		points := 0
		for k := range s.xs {
			if finite(s.xs[k]) && finite(s.ys[k]) {
				points++
			}
		}
		dots := c.dots || points == 1 // a single value is a dot, not a line of no length
		for k := 0; k < len(s.xs); k++ {
			x, y := s.xs[k], s.ys[k]
			if !finite(x) || !finite(y) {
				pen = "M" // a gap
				continue
			}
			if k%step != 0 && k != len(s.xs)-1 && pen == "L" { // thinned, but never a line's first point
				continue
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", pen, px(x), py(y))
			pen = "L"
			if dots {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, px(x), py(y), col)
			}
		}
		fmt.Fprintf(&b, `<path class="series" d="%s" fill="none" stroke="%s" stroke-width="2"><title>%s</title></path>`, d.String(), col, html.EscapeString(s.name))
		fmt.Fprintf(&b, `<rect x="%.1f" y="8" width="14" height="4" fill="%s"/><text x="%.1f" y="14" font-size="11" fill="#222">%s</text>`,
			lx, col, lx+18, html.EscapeString(s.name))
		lx += 18 + 7*float64(len(s.name)) + 18
	}
	b.WriteString(`</svg>`)
	return b.String(), true
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// widen turns an empty range into one around the value, so that a constant still draws.
func widen(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	d := math.Max(math.Abs(lo)*0.1, 0.5)
	return lo - d, hi + d
}

// ticks are about n round numbers (1, 2 or 5 times a power of ten) covering [lo, hi];
// integer ticks only when intOnly.
func ticks(lo, hi float64, n int, intOnly bool) []float64 {
	raw := (hi - lo) / float64(n)
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 5, 10} {
		if raw <= f*step {
			step *= f
			break
		}
	}
	if intOnly {
		step = math.Max(1, math.Round(step))
	}
	var ts []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*1e-9; v += step {
		if v >= lo-step*1e-9 {
			ts = append(ts, v)
		}
	}
	if len(ts) == 0 {
		ts = []float64{lo}
	}
	return ts
}

// num formats a tick or table value in at most 4 significant digits.
func num(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
