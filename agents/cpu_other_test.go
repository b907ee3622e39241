//go:build !unix

package agents_test

// cpuSeconds is unavailable here; the benchmark then reports 0 CPU ms per step.
func cpuSeconds() float64 { return 0 }
