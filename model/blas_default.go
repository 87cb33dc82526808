//go:build !openblas

package model

// The default backend: gorgonia's own choice, gonum's pure-Go BLAS. Build with
// `-tags openblas` (see blas_openblas.go) for OpenBLAS.

// Backend names the BLAS behind the model's matrix products: "gonum" or "openblas".
func Backend() string { return "gonum" }

// BackendDetail describes the backend for logs and benchmark reports.
func BackendDetail() string { return "gonum (pure Go)" }
