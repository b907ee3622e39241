// Package stats holds the statistics that alrl's reports rest on: means with
// t-based confidence intervals, the paired t-test, the Wilcoxon signed-rank
// test with exact p-values, and the pairwise penalty matrix of Ash et al.
// (2020). Every function takes plain slices and has no state.
package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary is the mean of a sample with its spread and a two-sided confidence
// interval for the mean from Student's t distribution.
type Summary struct {
	N      int     // values used (NaN values are dropped)
	Mean   float64 // sample mean
	SD     float64 // sample standard deviation (n-1 denominator); 0 for one value
	Lo, Hi float64 // confidence interval for the mean; equal to Mean for one value
}

// Describe summarises xs with a level (e.g. 0.95) confidence interval:
// mean +- t_{(1+level)/2, n-1} * sd / sqrt(n). NaN values are dropped; an
// empty sample gives N = 0 and NaN everywhere else.
func Describe(xs []float64, level float64) Summary {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	s := Summary{N: len(v), Mean: math.NaN(), SD: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if len(v) == 0 {
		return s
	}
	s.Mean, s.SD = meanSD(v)
	if len(v) == 1 {
		s.Lo, s.Hi = s.Mean, s.Mean
		return s
	}
	h := TCritical(level, len(v)-1) * s.SD / math.Sqrt(float64(len(v)))
	s.Lo, s.Hi = s.Mean-h, s.Mean+h
	return s
}

// TCritical returns the two-sided critical value of Student's t with df
// degrees of freedom: the (1+level)/2 quantile (2.776 for level 0.95, df 4).
func TCritical(level float64, df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile((1 + level) / 2)
}

func meanSD(v []float64) (float64, float64) {
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	if len(v) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// TTest is the result of a paired two-sided t-test of a - b.
type TTest struct {
	N        int     // pairs
	MeanDiff float64 // mean of a_i - b_i
	SD       float64 // sample standard deviation of the differences
	T        float64 // MeanDiff / (SD / sqrt(N)); +-Inf when all differences are equal and non-zero
	DF       int     // N - 1
	P        float64 // two-sided p-value
	Lo, Hi   float64 // confidence interval for the mean difference at the requested level
}

// PairedT runs Student's paired t-test of a against b (two-sided) and gives a
// level confidence interval for the mean difference. a and b must have the
// same length, at least 2, and no NaN. When every difference is the same, the
// statistic is +-Inf with p = 0 (or NaN with p = 1 when they are all zero).
func PairedT(a, b []float64, level float64) (TTest, error) {
	d, err := diffs(a, b)
	if err != nil {
		return TTest{}, err
	}
	if len(d) < 2 {
		return TTest{}, fmt.Errorf("paired t-test: need at least 2 pairs, got %d", len(d))
	}
	r := TTest{N: len(d), DF: len(d) - 1}
	r.MeanDiff, r.SD = meanSD(d)
	se := r.SD / math.Sqrt(float64(r.N))
	switch {
	case se == 0 && r.MeanDiff == 0:
		r.T, r.P = math.NaN(), 1
	case se == 0:
		r.T, r.P = math.Copysign(math.Inf(1), r.MeanDiff), 0
	default:
		r.T = r.MeanDiff / se
		dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(r.DF)}
		r.P = math.Min(1, 2*dist.Survival(math.Abs(r.T)))
	}
	h := TCritical(level, r.DF) * se
	r.Lo, r.Hi = r.MeanDiff-h, r.MeanDiff+h
	return r, nil
}

func diffs(a, b []float64) ([]float64, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("paired test: %d values against %d; pairs must match one to one", len(a), len(b))
	}
	d := make([]float64, len(a))
	for i := range a {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			return nil, fmt.Errorf("paired test: pair %d holds NaN", i)
		}
		d[i] = a[i] - b[i]
	}
	return d, nil
}
