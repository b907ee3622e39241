package stats

import (
	"fmt"
	"math"
)

// PenaltyMatrix is the pairwise comparison of Ash et al. 2020 (BADGE,
// "Deep batch active learning by diverse, uncertain gradient lower bounds",
// section "Pairwise comparisons") for one setting (one data set, model, batch
// size...).
//
// acc[m][b] holds method m's accuracies at budget b, one per seed, with the
// seeds in the same order for every method (paired runs). At every budget b
// and for every ordered pair (i, j), a two-sided paired t-test of acc[i][b]
// against acc[j][b] is run; method i beats j there when p < alpha and the mean
// difference is positive (equivalently t > t_{1-alpha/2, n-1}, 2.776 for 5
// seeds at alpha 0.05). Entry (i, j) is the number of budgets at which i beats
// j divided by the number of budgets L, so one setting adds at most 1 to any
// entry and matrices of several settings can be summed, as the paper does.
// A budget where a pair has fewer than 2 seeds, or a NaN, counts as no win.
func PenaltyMatrix(acc [][][]float64, alpha float64) ([][]float64, error) {
	m := len(acc)
	if m == 0 {
		return nil, nil
	}
	if alpha <= 0 || alpha >= 1 {
		return nil, fmt.Errorf("penalty matrix: alpha %g is not in (0, 1)", alpha)
	}
	L := len(acc[0])
	for i := range acc {
		if len(acc[i]) != L {
			return nil, fmt.Errorf("penalty matrix: method %d has %d budgets, method 0 has %d", i, len(acc[i]), L)
		}
	}
	out := make([][]float64, m)
	for i := range out {
		out[i] = make([]float64, m)
	}
	if L == 0 {
		return out, nil
	}
	for b := 0; b < L; b++ {
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				if i == j {
					continue
				}
				t, err := PairedT(acc[i][b], acc[j][b], 1-alpha)
				if err != nil {
					continue
				}
				if t.P < alpha && t.MeanDiff > 0 {
					out[i][j] += 1 / float64(L)
				}
			}
		}
	}
	return out, nil
}

// ColumnMeans returns the mean of each column of a square matrix over all its
// rows (the zero diagonal included), the summary row Ash et al. print under
// the penalty matrix: how often a method is beaten on average (lower is better).
func ColumnMeans(p [][]float64) []float64 {
	out := make([]float64, len(p))
	if len(p) == 0 {
		return out
	}
	for j := range out {
		s := 0.0
		for i := range p {
			s += p[i][j]
		}
		out[j] = s / float64(len(p))
	}
	return out
}

// AddInto adds b into a entry by entry (summing settings' penalty matrices).
func AddInto(a, b [][]float64) {
	for i := range a {
		for j := range a[i] {
			a[i][j] += b[i][j]
		}
	}
}

// Kappa returns Cohen's kappa between two labelings of the same items:
// (po - pe) / (1 - pe), with po the observed agreement and pe the agreement
// expected from the two labelings' marginal class frequencies. When pe = 1
// (both give every item one and the same class) it returns 1.
func Kappa(a, b []int, classes int) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("kappa: %d labels against %d", len(a), len(b))
	}
	if len(a) == 0 {
		return math.NaN(), nil
	}
	ca, cb := make([]float64, classes), make([]float64, classes)
	agree := 0.0
	for i := range a {
		if a[i] < 0 || a[i] >= classes || b[i] < 0 || b[i] >= classes {
			return 0, fmt.Errorf("kappa: label out of range [0, %d) at item %d", classes, i)
		}
		ca[a[i]]++
		cb[b[i]]++
		if a[i] == b[i] {
			agree++
		}
	}
	n := float64(len(a))
	po := agree / n
	pe := 0.0
	for c := range ca {
		pe += (ca[c] / n) * (cb[c] / n)
	}
	if pe >= 1 {
		return 1, nil
	}
	return (po - pe) / (1 - pe), nil
}
