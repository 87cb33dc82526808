// Package vec holds the model's hand-vectorized kernels in Go assembly (a package of its
// own because Go does not allow Go assembly in a package that uses cgo, as model does with
// the openblas build tag). Each kernel has a pure-Go twin in package model that performs the
// same float32 operations in the same order; model's tests check that both give the same
// bits. Callers must check HaveAVX2 before calling an AVX2 kernel.
package vec
