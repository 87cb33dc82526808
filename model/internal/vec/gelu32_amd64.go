//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// HaveAVX2: the AVX2 kernels (gelu32_amd64.s, exp32_amd64.s) run on this CPU (and OS).
var HaveAVX2 = cpu.X86.HasAVX2

//go:noescape
func GeluFwdAVX2(x, y, th *float32, n int)

//go:noescape
func GeluBwdAVX2(x, gr, d, th *float32, n int)

//go:noescape
func ExpScaleAVX2(x, y *float32, n int, s, c float32)
