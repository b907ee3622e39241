package strategies

import (
	"math"
	"testing"
)

func TestFlogMatchesMathLog(t *testing.T) {
	worst := 0.0
	for x := 1e-300; x < 1e6; x *= 1.000173 {
		got, want := flog(x), math.Log(x)
		if d := math.Abs(got-want) / math.Max(1, math.Abs(want)); d > worst {
			worst = d
		}
	}
	if worst > 1e-15 {
		t.Errorf("flog: worst error relative to max(1, |log x|) = %g", worst)
	}
	for _, x := range []float64{0, -1, math.Inf(1), math.NaN(), 5e-324, 1, 2, 0.5} {
		got, want := flog(x), math.Log(x)
		if !(got == want || (math.IsNaN(got) && math.IsNaN(want)) || math.Abs(got-want) < 3e-16) {
			t.Errorf("flog(%g) = %g, math.Log = %g", x, got, want)
		}
	}
}
