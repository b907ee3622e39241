//go:build !unix

package bench

import "math"

func resetPeakRSS() bool     { return false }
func peakRSSMiB() float64    { return math.NaN() }
func currentRSSMiB() float64 { return math.NaN() }
