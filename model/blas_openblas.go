//go:build openblas

package model

// OpenBLAS backend, selected with `go build -tags openblas` (needs cgo and libopenblas-dev).
// Every matrix product of the training and log-prob graphs (gorgonia) and of the sampler
// (which calls G.WhichBLAS()) then runs in OpenBLAS; the element-wise work stays in Go.
//
// Threads: OpenBLAS is pinned to one thread. On small matrices a second OpenBLAS thread
// mostly spins and starves the Go runtime (measured: one thread beats two on 2 cores), and
// one thread also keeps results bit-identical run to run. Parallelism comes from Go (the
// worker runs activities side by side), not from inside a matrix product.
//
// Core type: OpenBLAS picks its kernels when the library loads, from OPENBLAS_CORETYPE if
// set, else from CPUID. That happens before any Go code runs, so it cannot be set here:
// the environment must carry it. make/bench.mk sets OPENBLAS_CORETYPE=SkylakeX when the CPU
// has avx512f (Debian's OpenBLAS 0.3.21 misdetects some AVX-512 server CPUs as "Prescott",
// about half speed) and leaves it alone otherwise (SkylakeX kernels would crash on a CPU
// without AVX-512). BackendDetail reports the core OpenBLAS actually chose.

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
*/
import "C"

import (
	"fmt"

	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() {
	C.openblas_set_num_threads(1)
	G.Use(netlib.Implementation{})
}

// Backend names the BLAS behind the model's matrix products: "gonum" or "openblas".
func Backend() string { return "openblas" }

// BackendDetail describes the backend for logs and benchmark reports, e.g.
// "openblas (core Haswell, threads 1)".
func BackendDetail() string {
	return fmt.Sprintf("openblas (core %s, threads %d)", C.GoString(C.openblas_get_corename()), int(C.openblas_get_num_threads()))
}
