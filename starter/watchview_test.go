package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/workflows"
)

func watchSnapshot(step int) snapshot {
	return snapshot{
		Run: "r1", Status: "Running", Started: time.Unix(1000, 0),
		Progress: &workflows.Progress{Run: "r1", Round: 2, Rounds: 3, Phase: "train", BestRound: 1,
			Results: []workflows.RoundResult{{Round: 0, Metrics: map[string]float64{"test_nll": 2}}, {Round: 1, Metrics: map[string]float64{"test_nll": 1.5}}}},
		Activity: "Train", Attempt: 1,
		Live: &activities.Heartbeat{Phase: "train", Round: 2, Step: step, Total: 10, Loss: 0.5},
	}
}

func TestTimeLeft(t *testing.T) {
	s := watchSnapshot(5)
	// base and round 1 committed, round 2 half-way through training: (2 + 0.3 + 0.5*0.5) / 4
	if f := done(s); math.Abs(f-2.55/4) > 1e-9 {
		t.Errorf("done %v", f)
	}
	left, ok := timeLeft(s, 100*time.Second)
	if want := 100 * (1 - 2.55/4) / (2.55 / 4); !ok || math.Abs(left.Seconds()-want) > 1e-6 {
		t.Errorf("left %v %v, want %.2fs", left, ok, want)
	}
	early := snapshot{Progress: &workflows.Progress{Rounds: 3, Phase: "prepare"}}
	if _, ok := timeLeft(early, time.Second); ok {
		t.Error("an estimate before anything is done")
	}
}

// Not a terminal: a line per change of state, with the times; the clock alone is no change.
func TestWatchPlainLines(t *testing.T) {
	var buf bytes.Buffer
	v := newView(&buf, false)
	t0 := time.Unix(1000, 0)
	v.show(watchSnapshot(5), t0.Add(100*time.Second))
	v.show(watchSnapshot(5), t0.Add(101*time.Second))
	v.show(watchSnapshot(6), t0.Add(102*time.Second))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || strings.Contains(buf.String(), "\x1b[") {
		t.Fatalf("want 2 plain lines, got %q", buf.String())
	}
	if !strings.Contains(lines[0], "round 2/3 train") || !strings.Contains(lines[0], "5/10") ||
		!strings.Contains(lines[0], "elapsed 1m40s, about 57s left") {
		t.Errorf("line %q", lines[0])
	}
}

// A terminal: the block is redrawn in place (cursor up over the previous one, lines cleared).
func TestWatchRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	v := newView(&buf, false)
	v.terminal = true
	t0 := time.Unix(1000, 0)
	v.show(watchSnapshot(5), t0.Add(100*time.Second))
	first := buf.String()
	if strings.Contains(first, "\x1b[3A") || strings.Count(first, "\n") != 3 {
		t.Fatalf("first block %q", first)
	}
	for _, want := range []string{"run r1  Running  elapsed 1m40s, about 57s left", "round 2/3  train", "loss 0.5000", "best round 1: test_nll 1.5  (1 of 3 rounds done)"} {
		if !strings.Contains(first, want) {
			t.Errorf("block lacks %q:\n%s", want, first)
		}
	}
	buf.Reset()
	v.show(watchSnapshot(5), t0.Add(101*time.Second))
	if second := buf.String(); !strings.HasPrefix(second, "\x1b[3A\r\x1b[2K") || !strings.Contains(second, "elapsed 1m41s") {
		t.Errorf("second draw %q", second)
	}
}

// A run paused on a fault (S3 storage full) shows the fault and what to do, in the line
// (`space status`, plain `space watch`) and in the block (a terminal).
func TestWatchShowsFault(t *testing.T) {
	s := watchSnapshot(5)
	s.Progress.Paused, s.Progress.Phase = true, "paused"
	s.Progress.Fault = `round 2 train: S3 storage full at endpoint http://127.0.0.1:7070, bucket "space"; the run is paused: once that is fixed, ` + "`space resume r1`"
	if l := s.line(); !strings.Contains(l, "[paused: round 2 train: S3 storage full at endpoint") || !strings.Contains(l, "space resume r1") {
		t.Errorf("line %q", l)
	}
	if b := strings.Join(s.block(), "\n"); !strings.Contains(b, "paused: round 2 train: S3 storage full") || strings.Count(b, "space resume") != 1 {
		t.Errorf("block:\n%s", b)
	}
}

// A round trained over several workers shows its outer steps, in the line and the block.
func TestWatchShowsOuterSteps(t *testing.T) {
	s := watchSnapshot(3)
	if strings.Contains(s.line(), "outer") {
		t.Errorf("one-worker round shows outer steps: %q", s.line())
	}
	s.Progress.OuterStep, s.Progress.OuterSteps = 2, 5
	if !strings.Contains(s.line(), "train    outer 2/5") {
		t.Errorf("line %q lacks the outer steps", s.line())
	}
	if b := s.block(); len(b) < 2 || !strings.Contains(b[1], "outer 2/5") {
		t.Errorf("block %q lacks the outer steps", b)
	}
}
