//go:build !amd64 || purego

package vec

const HaveAVX2 = false

func GeluFwdAVX2(x, y, th *float32, n int)     { panic("unreachable") }
func GeluBwdAVX2(x, gr, d, th *float32, n int) { panic("unreachable") }

func ExpScaleAVX2(x, y *float32, n int, s, c float32) { panic("unreachable") }
