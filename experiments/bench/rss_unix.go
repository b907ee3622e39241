//go:build unix

package bench

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// resetPeakRSS resets the kernel's peak-RSS mark of this process (Linux:
// writing 5 to /proc/self/clear_refs), so that the next peakRSSMiB measures
// from now; it reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB returns the peak resident set size from getrusage(2), in MiB.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	kb := float64(ru.Maxrss)
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		kb /= 1024 // bytes there
	}
	return kb / 1024
}

// currentRSSMiB returns the resident set size now (Linux), or NaN.
func currentRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				kb, err := strconv.ParseFloat(string(f[0]), 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return math.NaN()
}
