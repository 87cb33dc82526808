package model

import "github.com/space-sft/space/model/internal/vec"

// GELU for float32 models: GPT-2's tanh form 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3),
// with tanh by Eigen's rational approximation (odd degree 13 over even degree 6, within a
// few float32 ulps) evaluated in float32, and tanh = +-1 exactly from |u| = 7.9 on (so
// GELU(x) = x or 0 there, with no relative error growing with |x|). On amd64 with AVX2 the bulk
// runs in assembly (internal/vec, 8 lanes); the Go loops below do the same operations in
// the same order, each rounded to float32 (no fused multiply-add), so both give the same
// bits (TestGelu32AssemblyMatchesGo) and a checkpoint does not depend on which one ran.
// float64 models (the gradient checks) use geluTanh with math.Exp instead.

const (
	geluK     = float32(0.044715)
	geluC32   = float32(geluC)
	geluK3    = float32(3 * 0.044715)
	geluClamp = float32(7.90531110763549805)
)

// geluFwd32 writes GELU(x) to y and tanh u to th (for the backward). y may be x.
func geluFwd32(x, y, th []float32) {
	n := len(x)
	y, th = y[:n], th[:n]
	i := 0
	if vec.HaveAVX2 && n >= 8 {
		i = n &^ 7
		vec.GeluFwdAVX2(&x[0], &y[0], &th[0], i)
	}
	geluFwd32Go(x[i:], y[i:], th[i:])
}

// geluBwd32 writes d = g * GELU'(x), from the forward's th.
func geluBwd32(x, g, d, th []float32) {
	n := len(x)
	g, d, th = g[:n], d[:n], th[:n]
	i := 0
	if vec.HaveAVX2 && n >= 8 {
		i = n &^ 7
		vec.GeluBwdAVX2(&x[0], &g[0], &d[0], &th[0], i)
	}
	geluBwd32Go(x[i:], g[i:], d[i:], th[i:])
}

// geluTanh32 is tanh u for x, as geluFwd32 computes it. Every product is converted to
// float32 explicitly: the Go spec then forbids fusing it with the following add.
func geluTanh32(x float32) float32 {
	x3 := float32(float32(x*x) * x)
	u := float32(geluC32 * (x + float32(geluK*x3)))
	if u >= geluClamp { // NaN goes on to the rational and stays NaN
		return 1
	} else if u <= -geluClamp {
		return -1
	}
	v := float32(u * u)
	v2 := float32(v * v)
	v4 := float32(v2 * v2)
	p := (4.89352455891786e-03 + float32(6.37261928875436e-04*v)) +
		float32(v2*(1.48572235717979e-05+float32(5.12229709037114e-08*v)))
	p += float32(v4 * ((-8.60467152213735e-11 + float32(2.00018790482477e-13*v)) + float32(v2*-2.76076847742355e-16)))
	q := (4.89352518554385e-03 + float32(2.26843463243900e-03*v)) +
		float32(v2*(1.18534705686654e-04+float32(1.19825839466702e-06*v)))
	return float32(u*p) / q
}

func geluFwd32Go(x, y, th []float32) {
	y, th = y[:len(x)], th[:len(x)]
	for i, xv := range x {
		t := geluTanh32(xv)
		th[i] = t
		y[i] = float32(0.5*xv) * (1 + t)
	}
}

func geluBwd32Go(x, g, d, th []float32) {
	g, d, th = g[:len(x)], d[:len(x)], th[:len(x)]
	for i, xv := range x {
		t := th[i]
		a := float32(float32(float32(0.5*xv)*(1-float32(t*t))) * geluC32)
		b := 1 + float32(geluK3*float32(xv*xv))
		s := float32(0.5*(1+t)) + float32(a*b)
		d[i] = g[i] * s
	}
}
