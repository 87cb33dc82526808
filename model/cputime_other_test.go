//go:build !unix

package model

// cpuSeconds is not measured here (tok/cpu-s is then not reported).
func cpuSeconds() float64 { return 0 }
