package learner

import (
	"math"
	"math/rand/v2"
)

// StratifiedSplit holds out round(frac x n) of the labeled samples (at
// least one, and at most n - 1), taking one sample of each class in turn in
// the order the classes first appear in a random permutation from rng, so
// that the held-out part covers the classes as evenly as the counts allow.
// Both parts keep the input's order. n < 2 returns everything as fit.
func StratifiedSplit(train Labeled, frac float64, rng *rand.Rand) (fit, held Labeled) {
	n := train.Len()
	if n < 2 || frac <= 0 {
		return train, Labeled{}
	}
	m := int(math.Round(frac * float64(n)))
	m = max(1, min(m, n-1))
	byClass := map[int][]int{}
	var classes []int
	for _, p := range rng.Perm(n) {
		y := train.Y[p]
		if _, ok := byClass[y]; !ok {
			classes = append(classes, y)
		}
		byClass[y] = append(byClass[y], p)
	}
	isHeld := make([]bool, n)
	for taken := 0; taken < m; {
		for _, y := range classes {
			if taken == m {
				break
			}
			if ps := byClass[y]; len(ps) > 0 {
				isHeld[ps[0]] = true
				byClass[y] = ps[1:]
				taken++
			}
		}
	}
	for p := 0; p < n; p++ {
		dst := &fit
		if isHeld[p] {
			dst = &held
		}
		dst.Idx = append(dst.Idx, train.Idx[p])
		dst.Y = append(dst.Y, train.Y[p])
	}
	return fit, held
}
