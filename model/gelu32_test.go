package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/space-sft/space/model/internal/vec"
)

// geluInputs: random values at several scales, the clamp region, exact zeros, signed zeros,
// tiny values and a length that leaves a tail for the Go loop after the 8-lane kernel.
func geluInputs() []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	var x []float32
	for _, scale := range []float64{1e-6, 0.01, 0.5, 1, 3, 10, 1e3} {
		for range 1000 {
			x = append(x, float32(r.NormFloat64()*scale))
		}
	}
	x = append(x, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 4.2, -4.2, 7.9, -7.9, 20, -20, 1e30, -1e30)
	return append(x, 0.25, -0.75, 1.5) // len % 8 != 0
}

func TestGelu32AssemblyMatchesGo(t *testing.T) {
	if !vec.HaveAVX2 {
		t.Skip("no AVX2 kernel on this CPU/architecture: only the Go loop runs (nothing to compare)")
	}
	x := geluInputs()
	n := len(x)
	yA, thA, yG, thG := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	geluFwd32(x, yA, thA)
	geluFwd32Go(x, yG, thG)
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(i%13) - 6.5
	}
	dA, dG := make([]float32, n), make([]float32, n)
	geluBwd32(x, g, dA, thA)
	geluBwd32Go(x, g, dG, thG)
	for i := range x {
		if math.Float32bits(yA[i]) != math.Float32bits(yG[i]) || math.Float32bits(thA[i]) != math.Float32bits(thG[i]) ||
			math.Float32bits(dA[i]) != math.Float32bits(dG[i]) {
			t.Fatalf("x[%d] = %g: assembly y %g th %g d %g, Go y %g th %g d %g", i, x[i], yA[i], thA[i], dA[i], yG[i], thG[i], dG[i])
		}
	}
	// In place (the sampler passes y = x).
	xc := append([]float32(nil), x...)
	geluFwd32(xc, xc, thA)
	for i := range x {
		if math.Float32bits(xc[i]) != math.Float32bits(yG[i]) {
			t.Fatalf("in place, x[%d] = %g: %g, want %g", i, x[i], xc[i], yG[i])
		}
	}
}

// The float32 GELU and its derivative stay close to the float64 ones (math.Exp-based tanh).
func TestGelu32Accuracy(t *testing.T) {
	x := geluInputs()
	n := len(x)
	y, th, d, one := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range one {
		one[i] = 1
	}
	geluFwd32(x, y, th)
	geluBwd32(x, one, d, th)
	for i, xv := range x {
		xf := float64(xv)
		t64 := geluTanh(xf)
		want := 0.5 * xf * (1 + t64)
		dwant := 0.5*(1+t64) + 0.5*xf*(1-t64*t64)*geluC*(1+3*0.044715*xf*xf)
		if e := math.Abs(float64(th[i]) - t64); e > 2e-6 {
			t.Errorf("tanh at x = %g: %g, want %g (error %.2g)", xv, th[i], t64, e)
		}
		if e := math.Abs(float64(y[i]) - want); e > 2e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("GELU(%g) = %g, want %g", xv, y[i], want)
		}
		if math.Abs(xf) < 1e15 { // the derivative's x^3 term overflows float32 beyond that
			if e := math.Abs(float64(d[i]) - dwant); e > 1e-5*math.Max(1, math.Abs(dwant)) {
				t.Errorf("GELU'(%g) = %g, want %g", xv, d[i], dwant)
			}
		}
	}
}

func BenchmarkGelu32(b *testing.B) {
	const n = 1 << 16
	x, y, th, d := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i%200)/50 - 2
	}
	b.Run("fwd", func(b *testing.B) {
		for range b.N {
			geluFwd32(x, y, th)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
	b.Run("fwd-go", func(b *testing.B) {
		for range b.N {
			geluFwd32Go(x, y, th)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
	b.Run("bwd", func(b *testing.B) {
		for range b.N {
			geluBwd32(x, y, d, th)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
}
