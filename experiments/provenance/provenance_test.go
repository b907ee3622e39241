package provenance

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestSessionRecordsCPUFlagsAndReproduceNamesThem(t *testing.T) {
	s := New("v", "c", "l", 1)
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && !strings.Contains(s.CPUFlags, "sse4_2") {
		t.Errorf("cpu flags %q lack sse4_2 on linux/amd64", s.CPUFlags)
	}
	a, b := s, s
	b.CPUFlags = strings.ReplaceAll(b.CPUFlags, "avx2", "") + " avx512f"
	b.Microcode = "0xdead"
	d := Diffs(a, b)
	if !slices.ContainsFunc(d, func(x string) bool { return strings.HasPrefix(x, "cpu vector flags") }) ||
		!slices.ContainsFunc(d, func(x string) bool { return strings.HasPrefix(x, "cpu microcode") }) {
		t.Fatalf("diffs %v do not name the CPU flags and microcode", d)
	}
	if d := Diffs(a, a); len(d) != 0 {
		t.Fatalf("identical sessions differ: %v", d)
	}
	// Runs recorded before the flags existed are not reported as different.
	old := a
	old.CPUFlags, old.Microcode = "", ""
	if d := Diffs(old, a); len(d) != 0 {
		t.Fatalf("an old run's missing flags were reported: %v", d)
	}
}
