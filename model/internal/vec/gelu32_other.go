//go:build !amd64 || purego

package vec

const HaveAVX2 = false

func GeluFwdAVX2(x, y, th *float32, n int)     { panic("unreachable") }
func GeluBwdAVX2(x, gr, d, th *float32, n int) { panic("unreachable") }

func ExpScaleAVX2(x, y *float32, n int, s, c float32) { panic("unreachable") }

func RMSPropF32AVX2(p, v, grad *float32, n int, a, c, lr, bc2, eps float64) { panic("unreachable") }
func AdamF32AVX2(p, m, v, grad *float32, n int, b1, c1, b2, c2, lr, bc1, bc2, eps float64) {
	panic("unreachable")
}
