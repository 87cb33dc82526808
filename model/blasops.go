package model

// Matrix products of the fused ops, through the BLAS gorgonia uses (G.WhichBLAS(): gonum,
// or OpenBLAS with -tags openblas), and the buffers the ops reuse from run to run.

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gemm computes c = alpha op(a) op(b) + beta c, row-major with leading dimensions (strided
// views: one head's columns of qkv, one half of a matrix's rows). beta 0 ignores c's content.
func gemm[F fnum](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	if m == 0 || n == 0 {
		return
	}
	bl := G.WhichBLAS()
	switch a := any(a).(type) {
	case []float32:
		bl.Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		bl.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// splitParts is the fixed number of parts split2 cuts work into. It does not depend on the
// number of cores, so results are bit-identical on any machine and any GOMAXPROCS.
const splitParts = 2

// split2 cuts [0, n) into splitParts contiguous parts and runs f on each, concurrently when
// GOMAXPROCS allows (the matrix products of the fused ops: one BLAS call per part, each on
// its own thread, so both cores work while OpenBLAS itself stays single-threaded).
func split2(n int, f func(lo, hi int)) {
	if n < 2*splitParts || runtime.GOMAXPROCS(0) < 2 {
		for k := 0; k < splitParts; k++ {
			f(k*n/splitParts, (k+1)*n/splitParts)
		}
		return
	}
	var wg sync.WaitGroup
	for k := 1; k < splitParts; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(k*n/splitParts, (k+1)*n/splitParts)
		}()
	}
	f(0, n/splitParts)
	wg.Wait()
}

// outBuf is an op's output tensor, reused by every run of the graph (graphs have fixed
// shapes). An op overwrites all of it on each run; gorgonia reads it until the node's last
// use, and the trainer reads gradients before the next run.
type outBuf struct{ t *tensor.Dense }

func (b *outBuf) get(like *tensor.Dense, shape ...int) *tensor.Dense {
	if b.t == nil || b.t.Dtype() != like.Dtype() || !b.t.Shape().Eq(tensor.Shape(shape)) {
		b.t = tensor.New(tensor.Of(like.Dtype()), tensor.WithShape(shape...))
	}
	return b.t
}

// scratch is a typed buffer an op keeps between its forward and backward (attention
// probabilities, GELU's tanh), sized on first use.
type scratch struct{ v any }

func scratchOf[F fnum](s *scratch, n int) []F {
	if b, ok := s.v.([]F); ok && len(b) == n {
		return b
	}
	b := make([]F, n)
	s.v = b
	return b
}
