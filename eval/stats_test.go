package eval

import (
	"math"
	"testing"
)

// Two-sided 95% critical values of Student's t (standard tables).
func TestTQuantile(t *testing.T) {
	for _, c := range []struct {
		df   int
		want float64
	}{{1, 12.706205}, {2, 4.302653}, {4, 2.776445}, {9, 2.262157}, {29, 2.045230}, {1000, 1.962339}} {
		if got := TQuantile(0.975, c.df); math.Abs(got-c.want) > 1e-5 {
			t.Errorf("TQuantile(0.975, %d) = %.6f, want %.6f", c.df, got, c.want)
		}
	}
	if got := TQuantile(0.025, 4); math.Abs(got+2.776445) > 1e-5 {
		t.Errorf("lower tail: %v", got)
	}
}

func TestPairedCI95(t *testing.T) {
	// mean 2, sample sd 1.5811 (values 0..4), se 0.7071, t(0.975,4) 2.7764.
	p := PairedCI95([]float64{0, 1, 2, 3, 4})
	if math.Abs(p.Mean-2) > 1e-12 || math.Abs(p.Lo-(2-2.776445*math.Sqrt(0.5))) > 1e-5 || math.Abs(p.Hi-(2+2.776445*math.Sqrt(0.5))) > 1e-5 {
		t.Fatalf("PairedCI95 = %+v", p)
	}
	if v := p.Verdict(true); v != "loss" {
		t.Errorf("interval above 0, lower better: %q", v)
	}
	if v := PairedCI95([]float64{-1, 0, 1, 2, 3}).Verdict(true); v != "within noise" {
		t.Errorf("interval with 0 inside: %q", v)
	}
	if v := PairedCI95([]float64{-1, -1.1, -0.9}).Verdict(true); v != "win" {
		t.Errorf("all negative, lower better: %q", v)
	}
	if v := PairedCI95([]float64{-1, -1.1, -0.9}).Verdict(false); v != "loss" {
		t.Errorf("all negative, higher better: %q", v)
	}
	if v := PairedCI95([]float64{1}).Verdict(true); v != "too few seeds" {
		t.Errorf("one seed: %q", v)
	}
	// every difference exactly 0 (the same models): identical, not "within noise"
	if v := PairedCI95([]float64{0, 0, 0, 0, 0}).Verdict(true); v != "identical" {
		t.Errorf("all zero: %q", v)
	}
	// a mean of 0 with spread is noise
	if v := PairedCI95([]float64{-1, 1, 0}).Verdict(true); v != "within noise" {
		t.Errorf("zero mean with spread: %q", v)
	}
	// the same constant nonzero difference on every seed: a zero-width interval off 0
	if v := PairedCI95([]float64{0.5, 0.5, 0.5}).Verdict(true); v != "loss" {
		t.Errorf("constant difference: %q", v)
	}
}
