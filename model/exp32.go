package model

import (
	"math"

	"github.com/space-sft/space/model/internal/vec"
)

// exp for the float32 log-softmax over the vocabulary (tokLogpFwd/Bwd of float32 models):
// Cephes' expf (Cody-Waite reduction by ln 2 in two parts, a degree-5 polynomial, the power
// of two built in the exponent bits), evaluated in float32 for arguments t <= 0 (x - max,
// x - lse), flushed to 2^-126 below -87.34 (its share of a softmax sum is below 1e-37). On
// amd64 with AVX2 the bulk runs in assembly (internal/vec, 8 lanes); exp32 does the same
// operations in the same order, each rounded to float32 (no fused multiply-add), so both
// give the same bits (TestExp32AssemblyMatchesGo). Relative error against math.Exp: a few
// float32 ulps (TestExp32Accuracy).

const (
	exp32Lo    = float32(-87.33654)
	exp32Log2e = float32(1.44269504088896341)
	exp32C1    = float32(0.693359375)
	exp32C2    = float32(-2.12194440e-4)
	exp32P0    = float32(1.9875691500e-4)
	exp32P1    = float32(1.3981999507e-3)
	exp32P2    = float32(8.3334519073e-3)
	exp32P3    = float32(4.1665795894e-2)
	exp32P4    = float32(1.6666665459e-1)
	exp32P5    = float32(5.0000001201e-1)
)

// exp32 is c * exp(x - s) for x - s <= 0, as ExpScaleAVX2 computes it.
func exp32(x, s, c float32) float32 {
	t := x - s
	if t < exp32Lo {
		t = exp32Lo
	}
	if t > 0 {
		t = 0
	}
	n := float32(math.Floor(float64(float32(t*exp32Log2e) + 0.5)))
	r := t - float32(n*exp32C1)
	r -= float32(n * exp32C2)
	z := float32(r * r)
	p := float32(exp32P0*r) + exp32P1
	p = float32(p*r) + exp32P2
	p = float32(p*r) + exp32P3
	p = float32(p*r) + exp32P4
	p = float32(p*r) + exp32P5
	p = float32(p*z) + r
	p++
	p = float32(p * math.Float32frombits(uint32(int32(n)+127)<<23))
	return c * p
}

// expScale32 writes y[i] = c * exp(x[i] - s) (x[i] - s <= 0); y may be x.
func expScale32(x, y []float32, s, c float32) {
	n := len(x)
	y = y[:n]
	i := 0
	if vec.HaveAVX2 && n >= 8 {
		i = n &^ 7
		vec.ExpScaleAVX2(&x[0], &y[0], i, s, c)
	}
	for ; i < n; i++ {
		y[i] = exp32(x[i], s, c)
	}
}
