package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/space-sft/space/model/internal/vec"
)

// TestExp32AssemblyMatchesGo: the AVX2 kernel and the Go loop give the same bits (over
// the whole range, the flush below -87.34, 0, -0, and the argument shift and scale).
func TestExp32AssemblyMatchesGo(t *testing.T) {
	if !vec.HaveAVX2 {
		t.Skip("no AVX2 on this CPU: only the Go loop runs (nothing to compare)")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 1<<16+5)
	for i := range x {
		switch i % 7 {
		case 0:
			x[i] = float32(-rng.Float64() * 100)
		case 1:
			x[i] = float32(-rng.Float64() * 1e-3)
		default:
			x[i] = float32(rng.NormFloat64() * 4)
		}
	}
	x[0], x[1], x[2], x[3] = 0, float32(math.Copysign(0, -1)), -87.33654, -200
	for _, sc := range [][2]float32{{0, 1}, {12.5, 1}, {12.5, -0.375}} {
		s, c := sc[0], sc[1]
		if s == 0 {
			for i := range x {
				x[i] = -float32(math.Abs(float64(x[i])))
			}
		}
		y := make([]float32, len(x))
		expScale32(x, y, s, c)
		for i := range x {
			if x[i]-s > 0 {
				continue // outside the domain (t <= 0)
			}
			if w := exp32(x[i], s, c); math.Float32bits(w) != math.Float32bits(y[i]) {
				t.Fatalf("s %v c %v: x[%d] = %v: assembly %v, Go %v", s, c, i, x[i], y[i], w)
			}
		}
	}
}

// TestExp32Accuracy: exp32 against math.Exp over [-87, 0]: relative error within 3 float32
// ulps (2^-23 each), and exactly 1 at 0.
func TestExp32Accuracy(t *testing.T) {
	if exp32(0, 0, 1) != 1 || exp32(5, 5, 1) != 1 {
		t.Fatalf("exp32(0) = %v", exp32(0, 0, 1))
	}
	worst := 0.0
	for i := 0; i <= 1_000_000; i++ {
		x := float32(-87 * float64(i) / 1e6)
		got, want := float64(exp32(x, 0, 1)), math.Exp(float64(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	t.Logf("worst relative error %.3g (%.2f ulp)", worst, worst*(1<<23))
	if worst > 3.0/(1<<23) {
		t.Fatalf("worst relative error %.3g, want <= 3 ulp (%.3g)", worst, 3.0/(1<<23))
	}
}

// TestLogSumExp32Accuracy: the float32 log-softmax's normalizer over a GPT-2-wide row
// (50257 logits, normal with sd 3 plus a few large ones) against float64 throughout, and
// what summing the float32 exps in float32 instead would cost (logged: the reason the sum
// stays float64).
func TestLogSumExp32Accuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	worst, worst32 := 0.0, 0.0
	for trial := 0; trial < 20; trial++ {
		row := make([]float32, 50257)
		for i := range row {
			row[i] = float32(rng.NormFloat64() * 3)
		}
		row[rng.IntN(len(row))] += 15
		want := logSumExp(row)
		got := logSumExp32(row, make([]float32, len(row)))
		worst = max(worst, math.Abs(got-want))
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var z32 float32
		for _, v := range row {
			z32 += exp32(v, mx, 1)
		}
		worst32 = max(worst32, math.Abs(float64(mx)+math.Log(float64(z32))-want))
	}
	t.Logf("log-sum-exp over 50257 logits, absolute error: float32 exps summed in float64 %.2e, summed in float32 %.2e", worst, worst32)
	if worst > 2e-7 {
		t.Fatalf("log-sum-exp error %.2e, want <= 2e-7", worst)
	}
}
