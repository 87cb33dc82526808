//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// HaveAVX2: the AVX2 kernels (gelu32_amd64.s, exp32_amd64.s, optim32_amd64.s) run on this CPU (and OS).
var HaveAVX2 = cpu.X86.HasAVX2

//go:noescape
func GeluFwdAVX2(x, y, th *float32, n int)

//go:noescape
func GeluBwdAVX2(x, gr, d, th *float32, n int)

//go:noescape
func ExpScaleAVX2(x, y *float32, n int, s, c float32)

//go:noescape
func RMSPropF32AVX2(p, v, grad *float32, n int, a, c, lr, bc2, eps float64)

//go:noescape
func AdamF32AVX2(p, m, v, grad *float32, n int, b1, c1, b2, c2, lr, bc1, bc2, eps float64)
