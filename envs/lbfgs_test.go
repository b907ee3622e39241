package envs

import (
	"math"
	"testing"
)

func TestLBFGSKnownMinima(t *testing.T) {
	tests := []struct {
		name  string
		x0    []float64
		fg    func(x, g []float64) float64
		want  []float64
		iters int
	}{
		{"scaled quadratic", []float64{5, -3, 10}, func(x, g []float64) float64 {
			a, b := []float64{1, 10, 100}, []float64{1, 2, -3}
			f := 0.0
			for i := range x {
				f += a[i] * (x[i] - b[i]) * (x[i] - b[i])
				g[i] = 2 * a[i] * (x[i] - b[i])
			}
			return f
		}, []float64{1, 2, -3}, 200},
		{"rosenbrock", []float64{-1.2, 1}, func(x, g []float64) float64 {
			a, b := 1-x[0], x[1]-x[0]*x[0]
			g[0] = -2*a - 400*x[0]*b
			g[1] = 200 * b
			return a*a + 100*b*b
		}, []float64{1, 1}, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, f, _ := lbfgs(tc.x0, tc.fg, tc.iters, 1e-10)
			for i := range x {
				if math.Abs(x[i]-tc.want[i]) > 1e-4 {
					t.Errorf("x = %v (f %g), want %v", x, f, tc.want)
					break
				}
			}
		})
	}
}
