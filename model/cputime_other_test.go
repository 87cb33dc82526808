//go:build !unix

package model

// cpuSeconds is not measured here (tok/cpu-s is then not reported).
func cpuSeconds() float64 { return 0 }

// peakRSSBytes is not measured here.
func peakRSSBytes() int64 { return 0 }

// resetPeakRSS does nothing here.
func resetPeakRSS() {}
