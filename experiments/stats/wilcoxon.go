package stats

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// ExactMaxN is the largest number of non-zero differences for which Wilcoxon
// computes the exact p-value; larger samples use the normal approximation.
const ExactMaxN = 50

// tieTol is how close two absolute differences (or a difference and zero)
// must be to count as equal: accuracies computed as fractions differ in their
// last bits (0.82-0.80 != 0.80-0.78 in float64), which must not break ties.
const tieTol = 1e-12

// WilcoxonResult is the outcome of a Wilcoxon signed-rank test of a - b.
type WilcoxonResult struct {
	N         int     // pairs with a non-zero difference (zero differences are dropped, Wilcoxon's original rule)
	WPlus     float64 // sum of the ranks of positive differences
	WMinus    float64 // sum of the ranks of negative differences
	W         float64 // min(WPlus, WMinus), the usual two-sided statistic
	P         float64 // two-sided p-value
	Exact     bool    // P is exact (the null distribution enumerated) rather than the normal approximation
	TiedRanks bool    // some absolute differences tied and share their average rank
}

// Wilcoxon runs the two-sided Wilcoxon signed-rank test of a against b.
// Zero differences are dropped; tied absolute differences get their average
// rank. For up to ExactMaxN non-zero differences the p-value is exact: the
// distribution of WPlus when every sign is + or - with probability 1/2,
// enumerated over the observed ranks (so it stays exact with ties), and
// p = min(1, 2 min(P(W+ <= w), P(W+ >= w))). Beyond that it uses the normal
// approximation with tie and continuity corrections. With no non-zero
// difference, W = 0 and P = 1.
func Wilcoxon(a, b []float64) (WilcoxonResult, error) {
	d, err := diffs(a, b)
	if err != nil {
		return WilcoxonResult{}, err
	}
	var abs []float64
	var pos []bool
	for _, x := range d {
		if math.Abs(x) <= tieTol {
			continue
		}
		abs = append(abs, math.Abs(x))
		pos = append(pos, x > 0)
	}
	r := WilcoxonResult{N: len(abs), P: 1, Exact: true}
	if r.N == 0 {
		return r, nil
	}
	ranks, tied := averageRanks(abs)
	r.TiedRanks = tied
	for i, rk := range ranks {
		if pos[i] {
			r.WPlus += rk
		} else {
			r.WMinus += rk
		}
	}
	r.W = math.Min(r.WPlus, r.WMinus)
	r.Exact = r.N <= ExactMaxN
	if r.N <= ExactMaxN {
		r.P = exactSignedRankP(ranks, r.WPlus)
		return r, nil
	}
	n := float64(r.N)
	mean := n * (n + 1) / 4
	variance := n * (n + 1) * (2*n + 1) / 24
	// Tie correction: subtract sum(t^3 - t)/48 over groups of t tied values.
	for _, t := range tieGroups(abs) {
		variance -= (t*t*t - t) / 48
	}
	z := (math.Abs(r.WPlus-mean) - 0.5) / math.Sqrt(variance)
	if z < 0 {
		z = 0
	}
	r.P = math.Min(1, 2*distuv.UnitNormal.Survival(z))
	return r, nil
}

// averageRanks ranks xs ascending from 1, giving tied values (within tieTol)
// their average rank.
func averageRanks(xs []float64) ([]float64, bool) {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return xs[idx[i]] < xs[idx[j]] })
	ranks := make([]float64, len(xs))
	tied := false
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && xs[idx[j]]-xs[idx[i]] <= tieTol {
			j++
		}
		if j-i > 1 {
			tied = true
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			ranks[idx[k]] = avg
		}
		i = j
	}
	return ranks, tied
}

func tieGroups(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var out []float64
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j]-s[i] <= tieTol {
			j++
		}
		if j-i > 1 {
			out = append(out, float64(j-i))
		}
		i = j
	}
	return out
}

// exactSignedRankP enumerates the null distribution of the positive rank sum.
// Ranks are multiples of 1/2, so doubled ranks are integers and a table over
// doubled sums holds the distribution exactly.
func exactSignedRankP(ranks []float64, wPlus float64) float64 {
	total := 0
	dr := make([]int, len(ranks))
	for i, r := range ranks {
		dr[i] = int(math.Round(2 * r))
		total += dr[i]
	}
	prob := make([]float64, total+1)
	prob[0] = 1
	hi := 0
	for _, r := range dr {
		for s := hi; s >= 0; s-- {
			if prob[s] != 0 {
				prob[s+r] += prob[s] * 0.5
				prob[s] *= 0.5
			}
		}
		hi += r
	}
	w := int(math.Round(2 * wPlus))
	lower, upper := 0.0, 0.0
	for s, p := range prob {
		if s <= w {
			lower += p
		}
		if s >= w {
			upper += p
		}
	}
	return math.Min(1, 2*math.Min(lower, upper))
}
