package testlearner

import (
	"context"
	"math"

	"github.com/alrl/alrl/learner"
)

// FitWeighted computes weighted class means: sample i counts with weight
// W[i] * ClassWeights[Y[i]]. It records every (index, label) it trains on in
// SeenLabels and the weighted set in LastWeighted.
func (l *Learner) FitWeighted(ctx context.Context, train learner.Weighted, val learner.Labeled, _ uint64, opt learner.FitOptions) (learner.FitStats, error) {
	if err := train.Check(l.C); err != nil {
		return learner.FitStats{}, err
	}
	if err := opt.Check(l.C); err != nil {
		return learner.FitStats{}, err
	}
	d := l.In.Dim()
	x, err := l.In.Gather(train.Idx, nil)
	if err != nil {
		return learner.FitStats{}, err
	}
	l.Centroids = make([][]float64, l.C)
	mass := make([]float64, l.C)
	for c := range l.Centroids {
		l.Centroids[c] = make([]float64, d)
	}
	for i, y := range train.Y {
		l.SeenLabels[train.Idx[i]] = y
		w := train.WeightOf(i)
		if opt.ClassWeights != nil {
			w *= opt.ClassWeights[y]
		}
		mass[y] += w
		for j := 0; j < d; j++ {
			l.Centroids[y][j] += w * float64(x[i*d+j])
		}
	}
	for c := range l.Centroids {
		for j := range l.Centroids[c] {
			if mass[c] > 0 {
				l.Centroids[c][j] /= mass[c]
			} else {
				l.Centroids[c][j] = math.Inf(1)
			}
		}
	}
	l.Fits++
	l.LastWeighted = train
	st := learner.FitStats{Epochs: 1, BestEpoch: 1, ValAcc: math.NaN()}
	if val.Len() > 0 {
		p, err := l.Probs(ctx, val.Idx)
		if err != nil {
			return st, err
		}
		ok := 0
		for i, y := range val.Y {
			if argmax(p.RawRowView(i)) == y {
				ok++
			}
		}
		st.ValAcc = float64(ok) / float64(val.Len())
	}
	return st, nil
}
