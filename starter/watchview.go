package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/workflows"
)

// view is how `space watch` shows a run: on a terminal, one status block redrawn in place
// every poll (elapsed time ticking); otherwise, and with --json, one line (or object) per
// change of the run's state, the times added to each.
type view struct {
	w        io.Writer
	terminal bool
	json     bool
	last     string // the last state shown (times left out)
	drawn    int    // lines of the block on screen (terminal)
}

func newView(w io.Writer, asJSON bool) *view {
	return &view{w: w, json: asJSON, terminal: !asJSON && isTerminal(w)}
}

// isTerminal reports whether w is a character device (a terminal, not a file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func (v *view) show(s snapshot, now time.Time) {
	s.ElapsedS, s.LeftS = 0, 0
	if !s.Started.IsZero() {
		elapsed := now.Sub(s.Started)
		s.ElapsedS = elapsed.Seconds()
		if left, ok := timeLeft(s, elapsed); ok {
			s.LeftS = left.Seconds()
		}
	}
	state := s.line()
	switch {
	case v.terminal:
		v.redraw(s.block())
	case state == v.last:
	case v.json:
		_ = printJSON(s)
	default:
		fmt.Fprintln(v.w, state+s.times())
	}
	v.last = state
}

// redraw replaces the block on screen: cursor up over the old one, each line cleared.
func (v *view) redraw(lines []string) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	for i := len(lines); i < v.drawn; i++ { // a shorter block: clear what is left
		b.WriteString("\r\x1b[2K\n")
	}
	if extra := v.drawn - len(lines); extra > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	io.WriteString(v.w, b.String())
	v.drawn = len(lines)
}

// close leaves the last block on screen, the result printed below it.
func (v *view) close() { v.drawn = 0 }

// block is the terminal's status block: the run and its times, the step in progress, the
// best round so far.
func (s snapshot) block() []string {
	head := fmt.Sprintf("run %s  %s%s", s.Run, s.Status, s.times())
	if s.Progress == nil {
		return []string{head}
	}
	p := s.Progress
	step := fmt.Sprintf("round %d/%d  %-8s", p.Round, p.Rounds, p.Phase)
	step += outer(p) + s.live(30, "  ")
	lines := []string{head, step}
	if s.Attempt > 1 {
		lines = append(lines, fmt.Sprintf("%s attempt %d: %s", s.Activity, s.Attempt, s.Failure))
	}
	switch {
	case p.Fault != "":
		lines = append(lines, "paused: "+p.Fault)
	case p.Paused:
		lines = append(lines, "paused (space resume "+s.Run+")")
	}
	if p.Stopping {
		lines = append(lines, "stopping after this round")
	}
	for _, r := range p.Results {
		if r.Round == p.BestRound {
			lines = append(lines, fmt.Sprintf("best %s  (%d of %d rounds done)", describeBest(r.Round, r.Metrics), len(p.Results)-1, p.Rounds))
		}
	}
	return lines
}

// describeBest is "round 2: task_score 0.42, test_nll 1.23": the ranking metric, and the
// held-out NLL that breaks its ties.
func describeBest(round int, m map[string]float64) string {
	name, v := workflows.RankMetric(m)
	out := fmt.Sprintf("round %d: %s %.4g", round, name, v)
	if nll, ok := m[eval.NLL]; ok && name != eval.NLL {
		out += fmt.Sprintf(", %s %.4g", eval.NLL, nll)
	}
	return out
}

// times is ", elapsed 1m23s, about 2m10s left" (what is known of it).
func (s snapshot) times() string {
	if s.ElapsedS <= 0 {
		return ""
	}
	out := "  elapsed " + round(time.Duration(s.ElapsedS*float64(time.Second)))
	if s.LeftS >= 0.5 { // "about 0s left" says nothing
		out += ", about " + round(time.Duration(s.LeftS*float64(time.Second))) + " left"
	}
	return out
}

func round(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

// phaseSpan is where each phase of a round lies in the round's time: a rough split
// (training dominates a self-play round; an SFT round, without generation, is estimated
// the same way, so its estimate runs a little long early in a round).
var phaseSpan = map[string][2]float64{
	"prepare":  {0, 0.05},
	"base":     {0.05, 0.8},
	"generate": {0, 0.3},
	"train":    {0.3, 0.8},
	"evaluate": {0.8, 1},
}

// done is the fraction of the run done: rounds committed (the base counts as one) plus the
// part of the round in progress, from its phase and the live step.
func done(s snapshot) float64 {
	p := s.Progress
	if p == nil || p.Rounds < 0 {
		return 0
	}
	units := float64(p.Rounds + 1)
	committed := float64(len(p.Results))
	if p.Phase == "report" || p.Phase == "done" || p.Phase == "stopped" {
		return 1
	}
	span, ok := phaseSpan[p.Phase]
	within := span[0]
	if ok && s.Live != nil && s.Live.Total > 0 && s.Live.Phase == p.Phase {
		within += (span[1] - span[0]) * float64(s.Live.Step) / float64(s.Live.Total)
	}
	return min((committed+within)/units, 1)
}

// timeLeft estimates the time left as elapsed x (1 - done) / done, once at least 2% of the
// run is done; ok is false before.
func timeLeft(s snapshot, elapsed time.Duration) (time.Duration, bool) {
	f := done(s)
	if f < 0.02 || f >= 1 || elapsed <= 0 {
		return 0, false
	}
	return time.Duration(float64(elapsed) * (1 - f) / f), true
}
