package model

import (
	"math"
	"testing"
)

func TestSchedule(t *testing.T) {
	// 10 steps, warm-up 0.2 -> W = 2: lr*(1/2, 2/2), then lr*(10-s)/8 for s = 2..9.
	want := []float64{0.5, 1, 1, 7.0 / 8, 6.0 / 8, 5.0 / 8, 4.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8}
	for s, w := range want {
		if got := Schedule(1, 0.2, s, 10); math.Abs(got-w) > 1e-15 {
			t.Errorf("step %d: lr %v, want %v", s, got, w)
		}
	}
	if got := Schedule(2, 0, 0, 4); got != 2 {
		t.Errorf("no warm-up, step 0: %v, want 2", got)
	}
}

func TestClipGlobalNorm(t *testing.T) {
	g := [][]float64{{3}, {4, 0}} // norm 5
	if n := clipGlobalNorm(g, 0); n != 5 || g[0][0] != 3 {
		t.Fatalf("clip off: norm %v, g %v", n, g)
	}
	if n := clipGlobalNorm(g, 1); n != 5 || math.Abs(g[0][0]-0.6) > 1e-15 || math.Abs(g[1][0]-0.8) > 1e-15 {
		t.Fatalf("clip 1: norm %v, g %v", n, g)
	}
}

// TestOptimizerStep checks one update of each optimizer against the formulas by hand.
func TestOptimizerStep(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 1, Context: 4}, DType: "float64"}, nil)
	g := make([][]float64, len(m.Params))
	for i, p := range m.Params {
		g[i] = make([]float64, p.Value.Shape().TotalSize())
	}
	g[0][0] = 0.5
	w0 := m.Params[0].Value.Data().([]float64)[0]

	// RMSProp: v = 0.01 * 0.25 = 0.0025; step = lr * 0.5 / (0.05 + 1e-8).
	o := newOptimizer("rmsprop", m)
	o.update(m, g, 0.1)
	want := w0 - 0.1*0.5/(0.05+1e-8)
	if got := m.Params[0].Value.Data().([]float64)[0]; math.Abs(got-want) > 1e-12 {
		t.Fatalf("rmsprop: %v, want %v", got, want)
	}
	// Adam, first step: m/(1-0.9) = g, v/(1-0.999) = g^2: step = lr * 0.5/(0.5+1e-8).
	w1 := want
	o = newOptimizer("adam", m)
	o.update(m, g, 0.1)
	want = w1 - 0.1*0.5/(0.5+1e-8)
	if got := m.Params[0].Value.Data().([]float64)[0]; math.Abs(got-want) > 1e-12 {
		t.Fatalf("adam: %v, want %v", got, want)
	}
}
