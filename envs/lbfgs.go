package envs

import "math"

// lbfgs minimises a smooth function with limited-memory BFGS (Nocedal &
// Wright, Algorithm 7.4/7.5: two-loop recursion, m = 10 pairs) and a
// backtracking Armijo line search. fg returns f(x) and writes the gradient.
// It stops after maxIter iterations, when the gradient's infinity norm is
// below gtol, or when f stops decreasing; it returns the best x, f(x) and
// the iterations run.
func lbfgs(x []float64, fg func(x, g []float64) float64, maxIter int, gtol float64) ([]float64, float64, int) {
	const m = 10
	n := len(x)
	x = append([]float64(nil), x...)
	g := make([]float64, n)
	f := fg(x, g)
	var ss, ys [][]float64
	var rhos []float64
	d := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	alpha := make([]float64, m)
	it := 0
	for ; it < maxIter; it++ {
		if infNorm(g) < gtol || math.IsNaN(f) {
			break
		}
		// Two-loop recursion: d = -H g.
		copy(d, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alpha[i] = rhos[i] * dot(ss[i], d)
			axpy(-alpha[i], ys[i], d)
		}
		gamma := 1.0
		if k := len(ss) - 1; k >= 0 {
			gamma = dot(ss[k], ys[k]) / dot(ys[k], ys[k])
		} else if gn := infNorm(g); gn > 0 {
			gamma = 1 / gn
		}
		for i := range d {
			d[i] *= gamma
		}
		for i := range ss {
			b := rhos[i] * dot(ys[i], d)
			axpy(alpha[i]-b, ss[i], d)
		}
		for i := range d {
			d[i] = -d[i]
		}
		slope := dot(g, d)
		if slope >= 0 { // not a descent direction: restart with steepest descent
			ss, ys, rhos = nil, nil, nil
			for i := range d {
				d[i] = -g[i]
			}
			slope = dot(g, d)
		}
		step, fn := 1.0, 0.0
		ok := false
		for ls := 0; ls < 40; ls++ {
			for i := range xn {
				xn[i] = x[i] + step*d[i]
			}
			fn = fg(xn, gn)
			if fn <= f+1e-4*step*slope {
				ok = true
				break
			}
			step *= 0.5
		}
		if !ok {
			break
		}
		s := make([]float64, n)
		y := make([]float64, n)
		for i := range s {
			s[i] = xn[i] - x[i]
			y[i] = gn[i] - g[i]
		}
		if sy := dot(s, y); sy > 1e-12 {
			if len(ss) == m {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, y), append(rhos, 1/sy)
		}
		decrease := f - fn
		copy(x, xn)
		copy(g, gn)
		f = fn
		if decrease <= 1e-12*math.Max(1, math.Abs(f)) {
			it++
			break
		}
	}
	return x, f, it
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}

func infNorm(a []float64) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
